"""Readers turn one input file into raw records; a registry maps a format name to its reader.

A reader is `read(path, profile) -> ReadResult`. Its `records` frame has `source`, `record`
(1-based, blank lines and the header not counted), the raw canonical columns the source has
(`timestamp`, `service`, `event_type`, `latency_ms`, `session_id`: raw values, parsed later by
ingest), `malformed` (why a record is not a record, or null) and any extra columns.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputError
from ..schema import REQUIRED

if TYPE_CHECKING:
    from ..profiles import Profile


@dataclass(frozen=True)
class ReadResult:
    records: pd.DataFrame
    file_issues: tuple[str, ...] = ()
    skipped: int = 0
    skipped_by_reason: dict = field(default_factory=dict)


Reader = Callable[[Path, "Profile | None"], ReadResult]
READERS: dict[str, Reader] = {}

EXTENSION_FORMATS = {
    ".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
    ".parquet": "parquet", ".pq": "parquet", ".log": "regex", ".txt": "regex",
}


def register(name: str) -> Callable[[Reader], Reader]:
    def decorate(reader: Reader) -> Reader:
        READERS[name] = reader
        return reader
    return decorate


# Columns logrecon adds beside the input's: an input column of the same name would be overwritten,
# misread (a `malformed` value quarantines its record) or crash the run.
RESERVED_COLUMNS = ("source", "record", "malformed", "raw", "arrival", "late", "lateness_ms", "latency_spike")


def check_columns(path: Path, names) -> None:
    """InputError for input column names a run cannot carry: duplicates, and logrecon's own."""
    names = [str(n).strip() for n in names]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputError(path, f"duplicate column {', '.join(map(repr, duplicated))} in the header")
    reserved = [n for n in names if n in RESERVED_COLUMNS]
    if reserved:
        raise InputError(path, f"column {', '.join(map(repr, reserved))} has a name logrecon gives its own "
                               f"columns ({', '.join(RESERVED_COLUMNS)}); rename it in the input")


def require_columns(path: Path, read: ReadResult) -> None:
    """InputError when an input that holds records lacks a required column: one line naming the
    missing columns and the ones the input has (with a hint for a case or delimiter mismatch)."""
    found = [c for c in read.records.columns if c not in ("source", "record", "malformed", "raw")]
    missing = [c for c in REQUIRED if c not in found]
    if not missing or "empty_input" in read.file_issues:
        return
    shown = ", ".join(repr(c) for c in found[:12]) + (f" and {len(found) - 12} more" if len(found) > 12 else "")
    folded = {str(c).lower() for c in found}
    if any(c in folded for c in missing):
        hint = "; column names are case-sensitive"
    elif len(found) <= 1:
        hint = "; is the delimiter right?"
    else:
        hint = ""
    raise InputError(path, f"missing required column{'s' if len(missing) > 1 else ''} "
                           f"{', '.join(repr(m) for m in missing)} (found {shown or 'no columns'}{hint})")


def source_column(path: Path, rows: int) -> pd.Categorical:
    """`source` for every record of one file: one category, not the path's text once per row."""
    return pd.Categorical.from_codes(np.zeros(rows, dtype=np.int8), categories=pd.Index([str(path)], dtype="str"))


def empty_records(path: Path) -> pd.DataFrame:
    """The records frame of a file that holds no records."""
    return pd.DataFrame({
        "source": pd.Series([], dtype="str"),
        "record": pd.Series([], dtype="int64"),
        "malformed": pd.Series([], dtype="str"),
    })


# A rotated copy of `family`: logrotate's numbered generations (`app.log.3`, `app.log.3.gz`: a higher
# number is older) and date or time stamps (logrotate's dateext `app.log-20240601`, Python's
# TimedRotatingFileHandler `app.log.2024-06-01`, rotatelogs' epoch `access_log.1717200000`).
# Eight or more digits are a stamp, not a generation: `.20240601` must sort ascending.
ROTATED = re.compile(r"(?P<family>.+?)(?:\.(?P<generation>\d{1,7})|[-._](?P<stamp>\d(?:[\d._-]*\d)?))(?:\.gz)?",
                     re.IGNORECASE)


def _natural(text: str) -> list:
    """Sort key comparing digit runs as numbers: app-2.log before app-10.log."""
    parts = re.split(r"(\d+)", text)
    parts[1::2] = [int(part) for part in parts[1::2]]
    return parts


def _input_order(path: Path) -> tuple:
    """Sort key putting the files of a glob or directory oldest first (see expand_inputs)."""
    rotated = ROTATED.fullmatch(path.name)
    if rotated is None:  # a live file (or one not rotated): after its rotated copies
        family, age = path.name, (1,)
    elif rotated["generation"] is not None:
        family, age = rotated["family"], (0, 0, -int(rotated["generation"]))
    else:
        family, age = rotated["family"], (0, 1, _natural(rotated["stamp"]))
    return _natural(str(path.parent)), _natural(family), age, path.name


def format_of(path: Path, profile: "Profile | None") -> str:
    """The reader for `path`: the profile's format, else by extension (.gz and a rotation suffix
    looked through)."""
    if profile is not None and profile.format:
        return profile.format
    name = path.name.lower()
    rotated = ROTATED.fullmatch(name)
    name = rotated["family"] if rotated else name.removesuffix(".gz")  # app.csv.1.gz is CSV
    fmt = EXTENSION_FORMATS.get("." + name.rsplit(".", 1)[-1] if "." in name else "")  # pathlib: "..csv" has none
    if fmt is None or fmt == "regex":
        raise InputError(path, _why_no_format(name, fmt, profile))
    return fmt


UNREADABLE_COMPRESSION = (".bz2", ".xz", ".zst", ".zip", ".7z")


def _why_no_format(name: str, fmt: str | None, profile: "Profile | None") -> str:
    compressed = next((suffix for suffix in UNREADABLE_COMPRESSION if name.endswith(suffix)), None)
    if compressed:
        return f"compressed as {compressed}, which logrecon cannot read; decompress it (or gzip it)"
    if fmt == "regex" and profile is None:
        return "raw text needs a profile that says how to read its lines; pass --profile"
    if profile is not None:
        return (f"cannot tell the format from the file name, and profile {profile.name!r} names none "
                "(use a .csv, .jsonl or .parquet name, or a profile with `format:`)")
    return "cannot tell the format from the file name; pass --profile"


def expand_inputs(inputs) -> list[Path]:
    """Paths, globs and directories → files; explicit files keep the order given.

    The files of one glob or directory are read oldest first, as rotated logs were written:
    names compare with their numbers as numbers (app-2.log before app-10.log, dated names in date
    order); a logrotate generation `app.log.N` (also `.N.gz`) comes before `app.log.M` when N > M;
    stamped copies (`app.log-20240601`, `app.log.2024-06-01`) come in stamp order; the live
    `app.log` comes after all its rotated copies. Hidden files in a directory are skipped.
    """
    paths: list[Path] = []
    seen: dict[Path, str] = {}
    for spec in [inputs] if isinstance(inputs, (str, Path)) else inputs:
        spec = str(spec)
        if any(ch in spec for ch in "*?["):
            matches = sorted(glob.glob(spec), key=lambda m: _input_order(Path(m)))
            if not matches:
                raise InputError(spec, "no file matches this pattern")
            paths.extend(Path(m) for m in matches)
        elif Path(spec).is_dir():
            try:
                found = sorted((p for p in Path(spec).iterdir() if p.is_file() and not p.name.startswith(".")),
                               key=_input_order)
            except OSError as exc:
                raise InputError(spec, f"cannot list this directory: {exc.strerror or exc}") from None
            if not found:  # like a glob that matches nothing: never a silently empty run
                raise InputError(spec, "directory holds no input files")
            paths.extend(found)
        elif Path(spec).exists():
            paths.append(Path(spec))
        else:
            blocker = next((p for p in Path(spec).parents if p.exists() and not p.is_dir()), None)
            raise InputError(spec, f"no such file ({blocker} is a file, not a directory)" if blocker else "no such file")
    for path in paths:  # the same file twice would count every record twice
        key = path.resolve()
        if key in seen:
            raise InputError(path, f"given twice (also as {seen[key]}); each input may appear once")
        seen[key] = str(path)
    return paths


def read_input(path: Path, profile: "Profile | None" = None) -> ReadResult:
    """Read one file with its format's reader, then map it through the profile's rules."""
    path = Path(path)
    fmt = format_of(path, profile)
    if fmt not in READERS:
        raise InputError(path, f"unknown format {fmt!r}; known: {', '.join(sorted(READERS))}")
    result = READERS[fmt](path, profile)
    if profile is None or result.records.empty and not len(result.records.columns):
        return result
    mapped = profile.map_records(result.records)
    reasons = dict(result.skipped_by_reason)
    for reason, count in mapped.skipped_by_reason.items():
        reasons[reason] = reasons.get(reason, 0) + count
    return ReadResult(mapped.records, result.file_issues, result.skipped + mapped.skipped, reasons)


from . import csv, jsonl, parquet, regex, zipkin  # noqa: E402,F401  (register the built-in readers)
