"""Data contracts shared by every stage: column names, reason codes, the stage result.

The canonical event frame (what ingest produces and every later stage consumes):

| column       | dtype                      | notes                                     |
|--------------|----------------------------|-------------------------------------------|
| timestamp    | datetime64[ns, UTC]        | event time                                |
| service      | category (str categories)  | trimmed, case-sensitive                   |
| event_type   | category START/STOP/ERROR  |                                           |
| latency_ms   | float64                    | NaN = no (valid) latency                  |
| session_id   | str, nullable              | correlation id                            |
| source       | category                   | input file                                |
| record       | int64                      | 1-based record number within source       |
| arrival      | int64                      | global arrival order (inputs, then record)|

Any other input column travels along after these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

EVENT_TYPES = ("START", "STOP", "ERROR")
CANONICAL = ("timestamp", "service", "event_type", "latency_ms", "session_id")
REQUIRED = ("timestamp", "service", "event_type")
PROVENANCE = ("source", "record")

SESSION_STATUSES = ("complete", "missing_stop", "missing_start", "timed_out", "clock_skew")


class Reason(StrEnum):
    """Reason codes for quarantined records and row-level issues."""

    MALFORMED_ROW = "malformed_row"
    MISSING_FIELD = "missing_field"
    INVALID_TIMESTAMP = "invalid_timestamp"
    AMBIGUOUS_TIMESTAMP = "ambiguous_timestamp"
    TIMESTAMP_OUT_OF_RANGE = "timestamp_out_of_range"
    INVALID_EVENT_TYPE = "invalid_event_type"
    INVALID_LATENCY = "invalid_latency"
    LATE_EVENT = "late_event"
    LATENCY_SPIKE = "latency_spike"
    UNMATCHED_LINE = "unmatched_line"


class Severity(StrEnum):
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


ISSUE_COLUMNS = ("source", "record", "field", "reason", "action", "detail", "stage", "severity")
QUARANTINE_COLUMNS = ("source", "record", "reasons", "fields", "detail")
DUPLICATE_COLUMNS = ("source", "record", "duplicate_of_source", "duplicate_of_record")
GAP_COLUMNS = ("service", "gap_start", "gap_end", "gap_seconds")
CHECK_COLUMNS = ("service", "check", "value", "threshold", "status", "detail")
SESSION_COLUMNS = (
    "service", "session_id", "status", "start_time", "stop_time", "duration_ms",
    "start_source", "start_record", "stop_source", "stop_record", "start_inferred",
    "strategy", "confidence", "events", "errors",
)
METRIC_COLUMNS = (
    "service", "events", "start", "stop", "error", "error_rate",
    "latency_mean_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms",
    "sessions_complete", "sessions_missing_stop", "sessions_missing_start",
    "sessions_timed_out", "sessions_clock_skew",
    "duplicates", "quarantined", "late_events", "gaps", "consistency_score", "verdict",
)


def empty_frame(columns) -> pd.DataFrame:
    """A zero-row frame with the given columns (object dtype)."""
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def issues_frame(
    source, record, *, field: str, reason: str, action: str, detail, stage: str,
    severity: str = Severity.WARN,
) -> pd.DataFrame:
    """Issue rows for the given records (vectorized: `source`/`record`/`detail` may be arrays)."""
    frame = pd.DataFrame({"source": source, "record": record})
    frame["field"] = field
    frame["reason"] = str(reason)
    frame["action"] = action
    frame["detail"] = detail
    frame["stage"] = stage
    frame["severity"] = str(severity)
    return frame.loc[:, list(ISSUE_COLUMNS)]


@dataclass(frozen=True)
class StageResult:
    """What every stage returns: its main frame, issue rows, named side tables and stats."""

    frame: pd.DataFrame
    issues: pd.DataFrame = field(default_factory=lambda: empty_frame(ISSUE_COLUMNS))
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)


CATEGORICAL_COLUMNS = ("service", "event_type", "session_id", "source")


def as_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical dtypes on an event frame read back from storage (an empty categorical column
    comes back from Parquet as plain objects)."""
    fixes = {}
    for name in CATEGORICAL_COLUMNS:
        if name in frame.columns and not isinstance(frame[name].dtype, pd.CategoricalDtype):
            fixes[name] = pd.Categorical(frame[name], categories=EVENT_TYPES if name == "event_type" else None)
    if "timestamp" in frame.columns and not isinstance(frame["timestamp"].dtype, pd.DatetimeTZDtype):
        fixes["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame.assign(**fixes) if fixes else frame


def labels(column: pd.Series, positions=None) -> np.ndarray:
    """Text of a categorical column (at `positions`) without converting the whole column."""
    codes = column.cat.codes.to_numpy()
    if positions is not None:
        codes = codes[positions]
    names = np.append(column.cat.categories.to_numpy(dtype=object), None)
    return names[codes]  # code -1 (missing) picks the trailing None


def nanoseconds(column: pd.Series) -> np.ndarray:
    """Epoch nanoseconds of a datetime column, whatever its unit (pandas 3 defaults to µs)."""
    if not len(column):
        return np.zeros(0, dtype=np.int64)
    return column.astype("datetime64[ns, UTC]").array.asi8


def utc_datetimes(ns: np.ndarray) -> pd.Series:
    """Epoch nanoseconds → a UTC datetime Series (no per-element objects)."""
    return pd.Series(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).dt.tz_localize("UTC")


def codes(column: pd.Series) -> np.ndarray:
    """Integer codes, equal exactly where values are equal; -1 for missing (categorical or not)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.codes.to_numpy().astype(np.int64)
    return pd.factorize(column, use_na_sentinel=True)[0].astype(np.int64)


def first_seen_categorical(values: pd.Series) -> pd.Categorical:
    """A categorical with categories in first-seen order (sorting millions of ids costs more than
    it gives); nulls stay null."""
    found, uniques = pd.factorize(values.reset_index(drop=True), use_na_sentinel=True)
    return pd.Categorical.from_codes(found, categories=pd.Index(uniques, dtype="str"))


ALL = "ALL"                # the service of the run-wide rows (validation_report, reliability_metrics)
SCOPE_SERVICE, SCOPE_RUN = "service", "run"
RUN_LABEL = f"{ALL} (whole run)"  # how the report and the figures name the run rows to people


def run_rows(frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the run-wide rows of a checks or metrics frame: `scope == "run"`, never the
    name. A frame without `scope` (written before it existed, or built by hand) falls back to `ALL`."""
    if "scope" in frame:
        return (frame["scope"].astype("str") == SCOPE_RUN).to_numpy()
    return (frame["service"].astype("str") == ALL).to_numpy()
