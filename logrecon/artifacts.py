"""Writing and reading run artifacts: deterministic CSVs, ISO-8601 UTC times, atomic files.

Times are written `YYYY-MM-DDTHH:MM:SS[.f]Z` with the input's precision (0, 3, 6 or 9
fractional digits); booleans `true`/`false`; nulls empty. Every file is written to a
temporary name beside its destination and renamed into place, so a reader never sees half.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .schema import nanoseconds
from .timestamps import needed_digits

NS_PER_DAY = 86_400 * 1_000_000_000
TIME_COLUMNS = ("timestamp", "start_time", "stop_time", "gap_start", "gap_end")


def civil_from_days(days: np.ndarray):
    """(year, month, day) from days since 1970-01-01 (H. Hinnant's algorithm)."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def inferred_start_digits(frame: pd.DataFrame) -> int:
    """Fraction digits the inferred start times of a sessions frame need (stop − latency can be
    finer than the input's own times: 13:55:36 − 0.25 s); 0 for any other frame."""
    if "start_inferred" not in frame.columns or not frame["start_inferred"].any():
        return 0
    return needed_digits(nanoseconds(frame["start_time"][frame["start_inferred"].to_numpy(dtype=bool)]))


def precision_digits(digits: int) -> int:
    """Round a seen fraction length up to 0, 3, 6 or 9 digits."""
    return next(d for d in (0, 3, 6, 9) if digits <= d)


THREE_DIGITS = np.array([list(f"{i:03d}".encode()) for i in range(1000)], dtype=np.uint8)


def _second_prefixes(seconds: np.ndarray) -> np.ndarray:
    """`YYYY-MM-DDTHH:MM:SS` as an (n, 19) byte matrix."""
    days = np.floor_divide(seconds, 86_400)
    year, month, day = civil_from_days(days)
    hour, rest = np.divmod(seconds - days * 86_400, 3600)
    minute, second = np.divmod(rest, 60)
    out = np.empty((len(seconds), 19), dtype=np.uint8)
    out[:, 0:3] = THREE_DIGITS[year // 10]
    out[:, 3] = year % 10 + 48
    for column, value in ((5, month), (8, day), (11, hour), (14, minute), (17, second)):
        out[:, column:column + 2] = THREE_DIGITS[value][:, 1:]
    for column, char in ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":")):
        out[:, column] = ord(char)
    return out


def format_utc(values: pd.Series, digits: int) -> pa.Array:
    """UTC datetimes → ISO-8601 text with `digits` (0/3/6/9) fractional digits and `Z`."""
    valid = values.notna().to_numpy()
    text = byte_strings(utc_bytes(np.where(valid, nanoseconds(values), 0), digits))
    return text if valid.all() else pc.if_else(pa.array(valid), text, pa.scalar(None, pa.large_string()))


def byte_strings(matrix: np.ndarray) -> pa.LargeStringArray:
    """A fixed-width (n, width) byte matrix as an Arrow string array, without a copy."""
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix)))


def utc_bytes(ns: np.ndarray, digits: int) -> np.ndarray:
    """Epoch ns → `YYYY-MM-DDTHH:MM:SS[.f]Z` as an (n, width) byte matrix.

    The date-time prefix is computed once per run of equal seconds (sorted logs repeat them a
    lot), the fraction from a 3-digit look-up table.
    """
    ns = np.asarray(ns, dtype=np.int64)
    n = len(ns)
    seconds = np.floor_divide(ns, 1_000_000_000)
    nanos = ns - seconds * 1_000_000_000
    new_second = np.ones(n, dtype=bool)
    new_second[1:] = seconds[1:] != seconds[:-1]
    run = np.cumsum(new_second) - 1
    width = 20 + (digits + 1 if digits else 0)
    out = np.empty((n, width), dtype=np.uint8)
    out[:, :19] = _second_prefixes(seconds[new_second])[run]
    if digits:
        out[:, 19] = ord(".")
        for group in range(digits // 3):
            out[:, 20 + 3 * group: 23 + 3 * group] = THREE_DIGITS[nanos // 10 ** (6 - 3 * group) % 1000]
    out[:, -1] = ord("Z")
    return out


def dictionaries(frame: pd.DataFrame) -> dict[str, pa.Array]:
    """Each categorical column's categories as Arrow text (built once per file, not per chunk)."""
    return {name: pa.array(column.cat.categories.astype("str"), type=pa.large_string())
            for name, column in frame.items() if isinstance(column.dtype, pd.CategoricalDtype)}


def to_arrow(frame: pd.DataFrame, digits: int, names: dict[str, pa.Array] | None = None) -> pa.Table:
    """The frame as text-friendly Arrow columns: times formatted, booleans true/false,
    categoricals as dictionaries over `names` (from `dictionaries`; built here if not given)."""
    names = dictionaries(frame) if names is None else names
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype) or name in TIME_COLUMNS and column.dtype.kind == "M":
            columns[name] = format_utc(column, digits)
        elif column.dtype == bool or str(column.dtype) == "boolean":
            columns[name] = pa.array(column, type=pa.bool_(), from_pandas=True)  # written true/false, null empty
        elif isinstance(column.dtype, pd.CategoricalDtype):  # the CSV writer takes dictionaries as they are
            codes = column.cat.codes.to_numpy()
            columns[name] = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), names[name])
        elif column.dtype == object:
            columns[name] = pa.array(column.map(lambda v: v if v is None or isinstance(v, str) else
                                                json.dumps(v, default=str) if isinstance(v, (dict, list)) else str(v)),
                                     type=pa.large_string(), from_pandas=True)
        else:
            columns[name] = pa.array(column, from_pandas=True)
    return pa.table(columns)


def atomic_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial-{os.getpid()}")


CSV_CHUNK_ROWS = 1 << 18
CSV_THREADS = 2
CSV_BATCH_ROWS = 1 << 16  # Arrow's writer formats this many rows at a time (its default, 1024, is ~15% slower)


def _csv_chunk(frame: pd.DataFrame, digits: int, names: dict[str, pa.Array], header: bool) -> pa.Buffer:
    """One chunk of rows as CSV text. Values are quoted only in a chunk holding one that needs it
    (a delimiter, quote or line break: Arrow's unquoted style refuses those), because Arrow's
    `needed` style quotes every text value by its type, which doubles the writer's time."""
    table = to_arrow(frame, digits, names)
    try:
        return _csv_text(table, header, "none")
    except pa.ArrowInvalid:
        return _csv_text(table, header, "needed")


def _csv_text(table: pa.Table, header: bool, quoting: str) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(
        quoting_style=quoting, include_header=header, batch_size=CSV_BATCH_ROWS))
    return sink.getvalue()


def write_csv(frame: pd.DataFrame, path: Path, digits: int = 3) -> Path:
    """Write a deterministic CSV atomically, into a directory that exists (never recreated: a
    late write must not resurrect a run directory that was removed).

    Chunks of rows are formatted and encoded on two threads (Arrow's writer and most of the
    formatting run without the GIL) and written in order; only a few chunks' text exists at a
    time, never the whole file's.
    """
    partial = atomic_path(path)
    names = dictionaries(frame)
    starts = range(0, max(len(frame), 1), CSV_CHUNK_ROWS)
    with open(partial, "wb") as out, ThreadPoolExecutor(CSV_THREADS) as pool:
        pending = []
        for start in starts:
            chunk = frame.iloc[start:start + CSV_CHUNK_ROWS]
            pending.append(pool.submit(_csv_chunk, chunk, digits, names, start == 0))
            if len(pending) > CSV_THREADS:
                out.write(pending.pop(0).result())
        for future in pending:
            out.write(future.result())
    os.replace(partial, path)
    return path


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes (how a manifest and a generated truth name an input)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_json(data, path: Path, sort_keys: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = atomic_path(path)
    partial.write_text(json.dumps(data, indent=2, sort_keys=sort_keys, default=str) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


RAW_ARTIFACTS = ("quarantine.csv",)  # holds raw input values: nothing is parsed


def read_csv(path: Path) -> pd.DataFrame:
    """An artifact CSV back as a frame (times as UTC datetimes, except in raw-value artifacts)."""
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype_backend="pyarrow", engine="pyarrow") \
        if Path(path).stat().st_size else pd.DataFrame()
    for name in TIME_COLUMNS:
        if name in frame.columns and Path(path).name not in RAW_ARTIFACTS:
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame
