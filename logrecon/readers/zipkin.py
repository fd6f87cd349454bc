"""Zipkin v2 reader: a JSON array of spans (or a list of traces, each an array of spans).

A span is one session. `record` is the span's 1-based position in the file, and each span
yields, in this order:

- START at `timestamp` (epoch µs, kept raw; a span without one still yields this row, which
  ingest quarantines: the span is surfaced, not dropped);
- STOP at `timestamp + duration`, with `latency_ms = duration / 1000`, when the span has both;
- ERROR at the span's end (its start when it has no duration) when it carries an `error` tag.

`service` is `localEndpoint.serviceName`. `session_id` is the span id, suffixed with the span
kind when it has one (`7a778764a0d0b594:SERVER`): the CLIENT and SERVER halves of one call
share a span id, and the suffix keeps them two sessions even when one service logs both
halves. Extra columns: `trace_id`, `span_id`, `parent_id`, `kind`, `name`, `remote_service`,
`error` (the tag's value). A span that is not a JSON object, or has no id, is a `malformed`
record; a file that is not a JSON array of spans cannot be read (InputError).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from . import ReadResult, empty_records, register
from .text import is_blank, read_bytes

PART_ORDER = {"START": 0, "STOP": 1, "ERROR": 2}
EXTRA = ("trace_id", "span_id", "parent_id", "kind", "name", "remote_service", "error")


def _spans(path: Path) -> list:
    data = read_bytes(path).removeprefix(b"\xef\xbb\xbf")
    try:
        value = json.loads(data)
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not a Zipkin span array: broken JSON: {exc.msg}", line=exc.lineno) from None
    except RecursionError:
        raise InputError(path, "not a Zipkin span array: JSON nested too deeply") from None
    if not isinstance(value, list):
        raise InputError(path, f"not a Zipkin span array: the file holds a JSON {type(value).__name__}")
    if value and all(isinstance(item, list) for item in value):  # /api/v2/traces: a list of traces
        value = [span for trace in value for span in trace]
    return value


def _field(objects: pd.Series, *keys: str) -> pd.Series:
    """Nested field of each object, None where absent (object dtype: epoch ints stay ints)."""
    values = objects.tolist()
    for key in keys:
        values = [v.get(key) if isinstance(v, dict) else None for v in values]
    return pd.Series(values, index=objects.index, dtype=object)


def _text(values: pd.Series) -> pd.Series:
    """Values as text; None, NaN and "" become null."""
    text = values.where(values.notna()).astype("str")
    return text.where(text != "")


def _number(values: pd.Series) -> pd.Series:
    """Whole numbers (epoch µs, durations) as Python ints in an object Series; None elsewhere."""
    numeric = pd.to_numeric(values.where(values.map(lambda v: not isinstance(v, bool))), errors="coerce")
    whole = (numeric.notna() & (numeric == np.floor(numeric.fillna(0)))).to_numpy()
    ints = np.full(len(values), None, dtype=object)
    ints[whole] = [v if isinstance(v, int) else int(x) for v, x in zip(values[whole], numeric[whole])]  # JSON ints stay exact
    return pd.Series(ints, index=values.index, dtype=object)


@register("zipkin")
def read_zipkin(path: Path, profile=None) -> ReadResult:
    """Read Zipkin v2 spans as START / STOP / ERROR records, one span per record number."""
    if is_blank(path):
        return ReadResult(empty_records(path), file_issues=("empty_input",))
    spans = pd.Series(_spans(path), dtype=object)
    if spans.empty:
        return ReadResult(empty_records(path), file_issues=("empty_input",))

    is_object = spans.map(lambda v: isinstance(v, dict)).to_numpy(dtype=bool)
    span_id = _text(_field(spans, "id"))
    kind = _text(_field(spans, "kind"))
    tags = _field(spans, "tags")
    error_tag = _field(tags, "error").where(lambda v: v.notna()).astype("str")
    has_error = tags.map(lambda t: isinstance(t, dict) and "error" in t).to_numpy(dtype=bool)
    raw_start = _field(spans, "timestamp")
    start = _number(raw_start)
    duration = _number(_field(spans, "duration"))

    malformed = pd.Series(pd.NA, index=spans.index, dtype="str")
    malformed = malformed.mask(span_id.isna().to_numpy(), "span without an id")
    malformed = malformed.mask(~is_object, spans.map(lambda v: f"a JSON {type(v).__name__}, not a span object"))
    raw = spans.map(lambda v: json.dumps(v)[:1000]).where(malformed.notna())

    session = span_id.where(kind.isna(), span_id + ":" + kind.fillna(""))
    base = pd.DataFrame({
        "source": pd.Series(str(path), index=spans.index, dtype="str"),
        "record": np.arange(1, len(spans) + 1, dtype="int64"),
        "service": _field(spans, "localEndpoint", "serviceName"),
        "session_id": session,
        "malformed": malformed,
        "trace_id": _field(spans, "traceId"),
        "span_id": span_id,
        "parent_id": _field(spans, "parentId"),
        "kind": kind,
        "name": _field(spans, "name"),
        "remote_service": _field(spans, "remoteEndpoint", "serviceName"),
        "error": error_tag,
        "raw": raw,
    })
    usable = malformed.isna().to_numpy()
    both = usable & start.notna().to_numpy() & duration.notna().to_numpy()
    end = pd.Series(None, index=spans.index, dtype=object)
    end[both] = (start[both] + duration[both]).to_numpy()

    # a timestamp that is not a whole number stays raw, for ingest to report as invalid
    starts = base.assign(timestamp=start.where(start.notna(), raw_start), event_type="START", latency_ms=None)
    stops = base[both].assign(
        timestamp=end[both], event_type="STOP",
        latency_ms=duration[both].map(lambda us: us / 1000.0))
    errors = base[usable & has_error].assign(
        timestamp=end.where(end.notna(), start)[usable & has_error], event_type="ERROR", latency_ms=None)
    frame = pd.concat([starts, stops, errors], ignore_index=True)
    frame["_part"] = frame["event_type"].map(PART_ORDER)
    frame = frame.sort_values(["record", "_part"], kind="stable").drop(columns="_part").reset_index(drop=True)
    frame["event_type"] = frame["event_type"].where(frame["malformed"].isna())
    for column in ("service", "trace_id", "parent_id", "name", "remote_service"):
        frame[column] = _text(frame[column])
    for column in ("session_id", "span_id", "kind", "error", "event_type", "raw"):
        frame[column] = frame[column].astype("str")
    frame["timestamp"] = frame["timestamp"].astype(object)
    frame["latency_ms"] = frame["latency_ms"].astype("float64")
    columns = ["source", "record", "timestamp", "service", "event_type", "latency_ms", "session_id",
               "malformed", *EXTRA]
    if frame["raw"].notna().any():
        columns.append("raw")
    return ReadResult(frame[columns])
