"""CSV reader (RFC 4180, UTF-8, BOM ignored, header names trimmed).

Fast path: pyarrow reads every column as text in parallel. A file pyarrow cannot read cleanly
(a record whose field count differs from the header's, a quoted field with a newline, bytes
that are not UTF-8) is re-read by the standard library's csv module, which numbers records
exactly and turns each bad one into a `malformed` record instead of failing the file.
"""

from __future__ import annotations

import csv as stdlib_csv
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import InputError
from . import ReadResult, check_columns, empty_records, register, source_column
from .text import is_blank, is_gzip, read_bytes


def _delimiter(path: Path, profile) -> str:
    option = getattr(profile, "delimiter", None) if profile is not None else None
    if option:
        return option
    return "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","


def _with_provenance(frame: pd.DataFrame, path: Path, records) -> pd.DataFrame:
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.insert(0, "source", source_column(path, len(frame)))
    frame.insert(1, "record", records)
    if "malformed" not in frame.columns:
        frame["malformed"] = pd.Series(pd.NA, index=frame.index, dtype="str")
    return frame




def _read_text_columns(path: Path, delimiter: str, header: list[str]) -> pd.DataFrame | None:
    """All columns as text via pyarrow; None when any record is irregular."""
    try:
        table = pacsv.read_csv(
            str(path),
            read_options=pacsv.ReadOptions(use_threads=True, block_size=64 << 20),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),  # an irregular row raises: re-read exactly
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.large_string() for name in header},  # what pandas' Arrow strings hold
                strings_can_be_null=False, quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError):
        return None
    return table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype("pyarrow")}.get)


def _rows(reader, path: Path):
    """The csv module's rows; a file it cannot tokenize at all is one clear input error."""
    try:
        yield from reader
    except stdlib_csv.Error as exc:
        raise InputError(path, f"not readable as CSV at line {reader.line_num}: {exc}") from None


def _read_exact(data: bytes, path: Path, delimiter: str) -> pd.DataFrame:
    """Record-by-record read of an irregular file (not the hot path: only files pyarrow rejects)."""
    stdlib_csv.field_size_limit(sys.maxsize)  # a huge field is a record to judge, not a crash
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    rows = stdlib_csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    header = None
    values, numbers, malformed, raw = [], [], [], []
    number = 0
    for fields in _rows(rows, path):
        if not fields or all(f == "" for f in fields) and len(fields) == 1:
            continue  # blank line: not a record
        if header is None:
            header = [f.encode("utf-8", "surrogateescape").decode("utf-8", "replace").strip() for f in fields]
            continue
        number += 1
        line = delimiter.join(fields)
        problem = None
        if len(fields) != len(header):
            problem = f"{len(fields)} fields, header has {len(header)}"
        elif any("\udc80" <= ch <= "\udcff" for ch in line):
            problem = "bytes that are not UTF-8"
        numbers.append(number)
        malformed.append(problem)
        raw.append(line.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace") if problem else None)
        values.append(fields if problem is None else [None] * len(header))
    if header is None:
        return pd.DataFrame()
    frame = pd.DataFrame(values, columns=header, dtype="str") if values else pd.DataFrame(
        {h: pd.Series([], dtype="str") for h in header})
    frame["malformed"] = pd.Series(malformed, dtype="str")
    frame["raw"] = pd.Series(raw, dtype="str")
    frame.insert(0, "source", str(path))
    frame.insert(1, "record", pd.Series(numbers, dtype="int64"))
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


@register("csv")
def read_csv(path: Path, profile=None) -> ReadResult:
    """Read a delimited text file; irregular records come back as `malformed`, never dropped."""
    if is_blank(path):
        return ReadResult(empty_records(path), file_issues=("empty_input",))
    delimiter = _delimiter(path, profile)
    head = read_bytes(path, 1 << 16).removeprefix(b"\xef\xbb\xbf")
    header_line = head.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
    header = next(_rows(stdlib_csv.reader([header_line.replace("\r", "")], delimiter=delimiter), path), [])
    check_columns(path, header)
    fast = None
    if b"\n" in head and len(set(header)) == len(header) and not is_gzip(path):
        fast = _read_text_columns(path, delimiter, header)
    if fast is not None:
        frame = _with_provenance(fast, path, np.arange(1, len(fast) + 1, dtype="int64"))
    else:
        frame = _read_exact(read_bytes(path), path, delimiter)
    return ReadResult(frame)
