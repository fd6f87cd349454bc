"""JSON Lines reader: one JSON object per non-blank line, plain or .gz.

Fast path: pyarrow parses the whole file when every line is a well-formed object whose
canonical fields have one consistent type. Otherwise each line is parsed on its own so a
broken or non-object line becomes a `malformed` record and mixed types (an epoch number
beside an ISO string) keep their raw values for ingest to judge.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from ..errors import InputError
from . import ReadResult, check_columns, empty_records, register, source_column
from .text import is_blank, is_gzip, read_bytes

TEXT_FIELDS = ("timestamp", "service", "event_type", "session_id")
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
NULL_LINE = re.compile(rb"(?:^|\n)[ \t]*null[ \t]*(?:\r?\n|$)")  # Arrow reads it as a row of nulls, not an error
JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean", type(None): "null"}


def _read_fast(path: Path) -> pd.DataFrame | None:
    schema = pa.schema([(name, pa.string()) for name in TEXT_FIELDS])
    try:
        table = pajson.read_json(
            str(path),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer",
                                              newlines_in_values=False),
        )
        table.validate(full=True)  # Arrow's JSON parser lets bytes that are not UTF-8 through
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError):
        return None
    if "latency_ms" in table.column_names and not pa.types.is_floating(table["latency_ms"].type) \
            and not pa.types.is_integer(table["latency_ms"].type) and not pa.types.is_null(table["latency_ms"].type):
        return None
    if "latency_ms" in table.column_names and pa.types.is_floating(table["latency_ms"].type) \
            and pc.any(pc.invert(pc.is_finite(table["latency_ms"]))).as_py():
        return None  # NaN / Infinity (JSON extensions): the exact reader keeps them as the text they are
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)


def _parse_line(text: str):
    """(object, problem): the line's JSON object, or why it is not one."""
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        return None, "bytes that are not UTF-8"
    try:
        value = json.loads(text, parse_constant=str)  # NaN, Infinity: text to judge, not a silent null
    except json.JSONDecodeError as exc:
        return None, f"broken JSON: {exc.msg} at column {exc.colno}"
    except RecursionError:
        return None, "broken JSON: nested too deeply"
    if not isinstance(value, dict):
        return None, f"a JSON {JSON_TYPES.get(type(value), type(value).__name__)}, not an object"
    if SURROGATE_ESCAPE.search(text):  # "\ud800" is valid JSON syntax but not text: unpaired halves can't be written
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except (UnicodeEncodeError, RecursionError):
            return None, "a string with an unpaired UTF-16 surrogate (not valid Unicode)"
    return value, None


def _read_exact(path: Path) -> pd.DataFrame:
    """Line-by-line parse (not the hot path: only files pyarrow cannot take whole)."""
    text = read_bytes(path).decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    # Only "\n" ends a line (JSON Lines); str.splitlines would also split at U+2028, \x0c, \x1c…
    lines = [line.removesuffix("\r") for line in text.split("\n") if line.strip()]
    parsed = [_parse_line(line) for line in lines]
    objects = [obj if obj is not None else {} for obj, _ in parsed]
    frame = pd.DataFrame.from_records(objects, index=pd.RangeIndex(len(objects)))  # all-{} rows still count
    check_columns(path, frame.columns)  # the keys of every object, before logrecon adds its own
    frame = frame.astype(object).where(frame.notna(), None) if len(frame.columns) else frame
    problems = [problem for _, problem in parsed]
    frame["malformed"] = pd.Series(problems, dtype="str", index=frame.index) if len(lines) else pd.Series([], dtype="str")
    frame["raw"] = pd.Series(
        [line.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if problem else None
         for line, problem in zip(lines, problems)], dtype="str", index=frame.index)
    frame.insert(0, "source", str(path))
    frame.insert(1, "record", np.arange(1, len(lines) + 1, dtype="int64"))
    return frame


@register("jsonl")
def read_jsonl(path: Path, profile=None) -> ReadResult:
    """Read JSON Lines; broken lines come back as `malformed`, never dropped."""
    if is_blank(path):
        return ReadResult(empty_records(path), file_issues=("empty_input",))
    data = read_bytes(path)
    has_blank_lines = b"\n\n" in data or b"\n\r\n" in data or data.startswith(b"\n") or b"\n \n" in data
    null_line = (b"null\n" in data or b"null\r" in data or data.rstrip().endswith(b"null")) \
        and NULL_LINE.search(data) is not None
    frame = None if has_blank_lines or null_line or is_gzip(path) else _read_fast(path)
    if frame is None:
        frame = _read_exact(path)
        if len(frame) and frame["malformed"].notna().all():  # e.g. a JSON array, pretty-printed JSON, Latin-1
            raise InputError(path, f"no line is a JSON object (first line: {frame['malformed'].iloc[0]}); "
                                   "JSON Lines needs one object per line")
    else:
        check_columns(path, frame.columns)
        frame.insert(0, "source", source_column(path, len(frame)))
        frame.insert(1, "record", np.arange(1, len(frame) + 1, dtype="int64"))
        frame["malformed"] = pd.Series(pd.NA, index=frame.index, dtype="str")
    return ReadResult(frame)
