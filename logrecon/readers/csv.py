"""CSV reader (RFC 4180, UTF-8, BOM ignored, header names trimmed).

Fast path: pyarrow reads every column as text in parallel. A file pyarrow cannot read cleanly
(a record whose field count differs from the header's, a quoted field with a newline, a quote
still open at the end of the file, bytes that are not UTF-8) is re-read by the standard
library's csv module, which numbers records exactly and turns each bad one into a `malformed`
record instead of failing the file.

A quote that never closes would make the rest of the file one field of one record (pyarrow and
a lenient csv reader both do that, silently). So a record that spans lines must be quoted by the
RFC: a quote left open at the end of the file, or closed in the middle of a field on a later
line, makes the record's first line a malformed record, and reading goes on at the next line.
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
    if _has_line_break(table) or _last_line_leaves_a_quote_open(path, delimiter, table.num_rows):
        return None
    return table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype("pyarrow")}.get)


def _has_line_break(table: pa.Table, block: int = 1 << 22) -> bool:
    """True when a value holds a line break, which only a quoted field can (legit or left open).

    Scans each column's character buffer in cache-sized blocks: ~0.1 s for 10M rows, where
    pyarrow.compute's per-value substring search takes seconds.
    """
    for column in table.columns:
        for chunk in column.chunks:
            _, offsets, data = chunk.buffers()
            bounds = np.frombuffer(offsets, np.int64)[[chunk.offset, chunk.offset + len(chunk)]]
            chars = np.frombuffer(data, np.uint8, int(bounds[1] - bounds[0]), int(bounds[0])) if data else ()
            for start in range(0, len(chars), block):
                part = chars[start:start + block]
                if np.count_nonzero(part == ord("\n")) or np.count_nonzero(part == ord("\r")):
                    return True
    return False


def _last_line_leaves_a_quote_open(path: Path, delimiter: str, rows: int) -> bool:
    """True when the file ends without a line break inside a quote (`...,"text<EOF>`).

    With no line break in any value, only the last line can do that, and pyarrow reads it as a
    closed field. A last line that is not strict RFC 4180 in any other way (`"a"b`) is also
    True: the exact reader then decides, and reads it as pyarrow would.
    """
    if rows == 0:
        return False
    with open(path, "rb") as handle:
        end = handle.seek(0, io.SEEK_END)
        size = 1 << 12
        while True:  # back from the end until the last line break
            handle.seek(max(0, end - size))
            tail = handle.read(size)
            cut = max(tail.rfind(b"\n"), tail.rfind(b"\r"))
            if cut >= 0 or size >= end:
                break
            size *= 8
    last = tail[cut + 1:].decode("utf-8", "replace")
    try:
        list(stdlib_csv.reader([last], delimiter=delimiter, strict=True))
    except stdlib_csv.Error:
        return True
    return False


def _rows(reader, path: Path):
    """The csv module's rows; a file it cannot tokenize at all is one clear input error."""
    try:
        yield from reader
    except stdlib_csv.Error as exc:
        raise InputError(path, f"not readable as CSV at line {reader.line_num}: {exc}") from None


class _Lines:
    """Physical lines from `start` on, fed to csv.reader; knows where it is and if it ran out."""

    def __init__(self, lines: list[str], start: int):
        self.lines, self.next, self.ran_out = lines, start, False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        if self.next == len(self.lines):
            self.ran_out = True
            raise StopIteration
        self.next += 1
        return self.lines[self.next - 1]


def _records(lines: list[str], delimiter: str):
    """(index of the first line, fields or None, problem or None) for each record in order.

    A record whose quoting breaks RFC 4180 across lines is its first line alone, malformed, and
    the next line starts a record again. A one-line record with a sloppy quote (`"a"b`) is read
    leniently, as pyarrow reads it, so both paths give the same records.
    """
    start = 0
    while start < len(lines):
        feed = _Lines(lines, start)
        reader = stdlib_csv.reader(feed, delimiter=delimiter, strict=True)
        while True:
            first = feed.next
            try:
                fields = next(reader)
            except StopIteration:
                return
            except stdlib_csv.Error as exc:
                error = exc
                break
            yield first, fields, None
        if feed.ran_out:
            yield first, None, (f"unterminated quote: the record on line {first + 1} is still inside "
                                f"quotes at the end of the file")
        elif feed.next - first == 1:
            yield first, next(stdlib_csv.reader([lines[first]], delimiter=delimiter, strict=False)), None
        else:
            yield first, None, (f"broken quote: the record on line {first + 1} is inside quotes up to "
                                f"line {feed.next}, where {error}")
        start = first + 1


def _read_exact(data: bytes, path: Path, delimiter: str) -> pd.DataFrame:
    """Record-by-record read of an irregular file (not the hot path: only files pyarrow rejects)."""
    stdlib_csv.field_size_limit(sys.maxsize)  # a huge field is a record to judge, not a crash
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    lines = io.StringIO(text, newline="").readlines()  # split as csv.reader splits: \n, \r, \r\n
    header = None
    values, numbers, malformed, raw = [], [], [], []
    number = 0
    for first, fields, problem in _records(lines, delimiter):
        if fields is not None and (not fields or fields == [""]):
            continue  # blank line: not a record
        if header is None:
            if problem:
                raise InputError(path, f"the header is not readable as CSV: {problem}", line=first + 1)
            header = [f.encode("utf-8", "surrogateescape").decode("utf-8", "replace").strip() for f in fields]
            continue
        number += 1
        line = delimiter.join(fields) if fields is not None else lines[first].rstrip("\r\n")
        if problem is None and len(fields) != len(header):
            problem = f"{len(fields)} fields, header has {len(header)}"
        elif problem is None and any("\udc80" <= ch <= "\udcff" for ch in line):
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
    header_bytes = head.split(b"\n", 1)[0].rstrip(b"\r")
    if b"\n" in head:  # the whole header line is here (a cut one may end inside a character)
        try:
            header_bytes.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(path, f"the header line is not UTF-8 text (byte 0x{header_bytes[exc.start]:02x} at "
                                   f"position {exc.start + 1}); save the file as UTF-8") from None
    header_line = header_bytes.decode("utf-8", "replace")
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
