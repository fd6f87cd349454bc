"""Parquet reader: one record per row, numbered from 1 in file order.

Columns keep their Parquet types (a timestamp column stays a datetime, an epoch an integer):
ingest judges raw values whatever their type. String columns become pandas `str`. A 0-byte or
0-row file is `empty_input`; a file that is not Parquet cannot be read (InputError).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError
from . import ReadResult, empty_records, register
from .text import is_blank


@register("parquet")
def read_parquet(path: Path, profile=None) -> ReadResult:
    """Read a Parquet file as records; the profile's column mapping is applied afterwards."""
    if not path.exists():
        raise InputError(path, "no such file")
    if is_blank(path):
        return ReadResult(empty_records(path), file_issues=("empty_input",))
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, f"not a readable Parquet file: {exc}") from None
    if table.num_rows == 0:
        return ReadResult(empty_records(path), file_issues=("empty_input",))
    frame = table.to_pandas(
        types_mapper={pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}.get)
    frame.columns = [str(c).strip() for c in frame.columns]
    for reserved in ("source", "record", "malformed"):
        if reserved in frame.columns:
            frame = frame.rename(columns={reserved: f"{reserved}_in_file"})
    frame.insert(0, "source", pd.Series(str(path), index=frame.index, dtype="str"))
    frame.insert(1, "record", np.arange(1, len(frame) + 1, dtype="int64"))
    frame["malformed"] = pd.Series(pd.NA, index=frame.index, dtype="str")
    return ReadResult(frame)
