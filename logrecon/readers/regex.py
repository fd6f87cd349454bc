"""Raw-text reader: one record per non-blank line, split into fields by the profile's pattern.

Lines are split on `\\n` only (a trailing `\\r` is dropped, so CRLF files read like LF ones; a
missing final newline changes nothing); `.gz` is decompressed. `record` is the 1-based line
number counting non-blank lines. The pattern's named groups become columns (the raw values,
parsed later by ingest). A line the pattern does not match is skipped and counted
(`no_pattern_match`) or, with `unmatched: quarantine`, kept as a `malformed` record with its
`raw` text. Bytes that are not UTF-8 make their line malformed, never the whole file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..profiles import PATTERN_UNMATCHED, extract
from . import ReadResult, empty_records, register
from .text import is_blank, read_bytes

NOT_UTF8 = "bytes that are not UTF-8"


def _lines(data: bytes) -> tuple[pd.Series, pd.Series]:
    """(non-blank lines as text, why each is malformed or null)."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text, bad_bytes = data.decode("utf-8"), False
    except UnicodeDecodeError:
        text, bad_bytes = data.decode("utf-8", errors="surrogateescape"), True
    raw = pd.Series(text.split("\n"), dtype=object if bad_bytes else "str")
    raw = raw[raw.str.strip().str.len() > 0].reset_index(drop=True)
    problem = pd.Series(pd.NA, index=raw.index, dtype="str")
    if bad_bytes:  # only files that are not clean UTF-8 pay for this
        broken = raw.str.contains("[\udc80-\udcff]", regex=True)
        problem = problem.mask(broken, NOT_UTF8)
        raw = raw.where(~broken, raw.str.encode("utf-8", "surrogateescape").str.decode("utf-8", "replace"))
    lines = raw.astype("str").str.removesuffix("\r")
    return lines, problem


@register("regex")
def read_regex(path: Path, profile=None) -> ReadResult:
    """Read a raw-text log with the profile's pattern; unmatched lines are counted, never lost."""
    if profile is None or getattr(profile, "pattern", None) is None:
        raise ConfigError(
            getattr(profile, "where", "profile"), "pattern",
            f"reading {path} as raw text needs a profile with a pattern (--profile NAME|FILE)")
    if is_blank(path):
        return ReadResult(empty_records(path), file_issues=("empty_input",))
    lines, problem = _lines(read_bytes(path))
    pattern = profile.pattern
    found, groups = extract(lines, pattern)
    matched = found & problem.isna().to_numpy()

    frame = pd.DataFrame({
        "source": pd.Series(str(path), index=lines.index, dtype="str"),
        "record": np.arange(1, len(lines) + 1, dtype="int64"),
    })
    for name in sorted(pattern.groupindex, key=pattern.groupindex.get):
        frame[name] = groups[name].where(matched)

    unmatched = ~matched & problem.isna().to_numpy()
    skipped_by_reason: dict[str, int] = {}
    if unmatched.any() and profile.unmatched == "skip":
        skipped_by_reason[PATTERN_UNMATCHED] = int(unmatched.sum())
    elif unmatched.any():
        problem = problem.mask(unmatched, f"line does not match the pattern of profile {profile.name!r}")
    frame["malformed"] = problem
    bad = frame["malformed"].notna().to_numpy()
    if bad.any():
        frame["raw"] = lines.where(bad)
    keep = ~unmatched if skipped_by_reason else np.ones(len(frame), dtype=bool)
    frame = frame[keep].reset_index(drop=True)
    return ReadResult(frame, skipped=sum(skipped_by_reason.values()), skipped_by_reason=skipped_by_reason)
