"""Put events in analysis order: remove duplicates with evidence, measure lateness, flag spikes.

Input: events from ingest, in arrival order. Output: events in analysis order (timestamp, then
arrival), with flags `late`, `lateness_ms`, `latency_spike`; `tables["duplicates"]` names each
removed copy and the record it duplicates (the first arrival is kept).
Lateness: how far an event's time lies behind the latest time already seen for its service in
arrival order (0 when in order); `late` when above the allowed lateness.
Reads config: NormalizeConfig. Emits issues: late_event, latency_spike.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import NormalizeConfig
from .schema import DUPLICATE_COLUMNS, Reason, Severity, StageResult, codes, issues_frame, labels, nanoseconds

NS_PER_MS = 1_000_000


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads integer codes over 64 bits."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _key_codes(column: pd.Series, name: str) -> np.ndarray:
    """Integers equal exactly when the normalized values are equal (nulls alike)."""
    if name == "timestamp":
        return nanoseconds(column)
    if column.dtype.kind == "f":
        return column.fillna(-1.0).to_numpy().view(np.int64)  # latencies are ≥ 0: -1 stands for none
    return codes(column)


def _key_hash(events: pd.DataFrame, columns) -> np.ndarray:
    """One 64-bit hash per row of the key columns; candidates are confirmed on the values."""
    combined = np.zeros(len(events), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for name in columns:
            combined = _mix(combined ^ _key_codes(events[name], name).astype(np.uint64))
    return combined


def _same_key(events: pd.DataFrame, columns, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise equality of the key columns between row positions `left` and `right`."""
    equal = np.ones(len(left), dtype=bool)
    for name in columns:
        a = events[name].iloc[left].reset_index(drop=True)
        b = events[name].iloc[right].reset_index(drop=True)
        equal &= ((a == b) | (a.isna() & b.isna())).fillna(False).to_numpy(dtype=bool)
    return equal


def find_duplicates(events: pd.DataFrame, key, tolerance_ms: float = 0.0) -> np.ndarray:
    """Position of the row each row duplicates (-1 for a first arrival); events in arrival order."""
    n = len(events)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if tolerance_ms > 0 and "timestamp" in key:
        return _find_near_duplicates(events, [k for k in key if k != "timestamp"], tolerance_ms)
    codes, _ = pd.factorize(_key_hash(events, key))
    first_position = np.flatnonzero(~pd.Series(codes).duplicated().to_numpy())
    original = first_position[codes]
    candidate = original != np.arange(n)
    # A 64-bit hash collision is not a duplicate: confirm every candidate on the values themselves.
    confirmed = _same_key(events, key, np.flatnonzero(candidate), original[candidate])
    result = np.full(n, -1, dtype=np.int64)
    result[np.flatnonzero(candidate)[confirmed]] = original[candidate][confirmed]
    return result


def _find_near_duplicates(events: pd.DataFrame, other_key, tolerance_ms: float) -> np.ndarray:
    """Copies whose other key fields match and whose times lie within the tolerance of a chain."""
    n = len(events)
    group = pd.factorize(_key_hash(events, other_key))[0] if other_key else np.zeros(n, dtype=np.int64)
    ns = nanoseconds(events["timestamp"])
    order = np.lexsort((np.arange(n), ns, group))
    g, t = group[order], ns[order]
    starts_cluster = np.ones(n, dtype=bool)
    starts_cluster[1:] = (g[1:] != g[:-1]) | (t[1:] - t[:-1] > tolerance_ms * NS_PER_MS)
    cluster = np.cumsum(starts_cluster)
    first_arrival = pd.Series(order).groupby(cluster).transform("min").to_numpy()
    result = np.full(n, -1, dtype=np.int64)
    result[order] = np.where(first_arrival == order, -1, first_arrival)
    return result


def _lateness_ns(service_codes: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """Per service, in arrival order: latest time seen so far minus this event's time (≥ 0)."""
    latest = pd.Series(ns).groupby(service_codes).cummax().to_numpy()
    return latest - ns


def _latency_spikes(events: pd.DataFrame, factor: float) -> np.ndarray:
    """Latency above `factor` × the median latency of its service."""
    latency = events["latency_ms"]
    median = latency.groupby(events["service"], observed=True).transform("median")
    return (latency > factor * median).fillna(False).to_numpy(dtype=bool) & (median > 0).to_numpy(dtype=bool)


def normalize(events: pd.DataFrame, cfg: NormalizeConfig) -> StageResult:
    """Dedup (first arrival kept), measure lateness, then stable-sort on (timestamp, arrival)."""
    duplicate_of = find_duplicates(events, cfg.dedup_key, cfg.dedup_tolerance_ms)
    is_copy = duplicate_of >= 0
    duplicates = pd.DataFrame({
        "source": labels(events["source"], is_copy),
        "record": events["record"].to_numpy()[is_copy],
        "duplicate_of_source": labels(events["source"], duplicate_of[is_copy]),
        "duplicate_of_record": events["record"].to_numpy()[duplicate_of[is_copy]],
    }, columns=list(DUPLICATE_COLUMNS))

    kept = events[~is_copy] if is_copy.any() else events
    ns = nanoseconds(kept["timestamp"])
    lateness = _lateness_ns(kept["service"].cat.codes.to_numpy(), ns)
    order = np.argsort(ns, kind="stable")  # kept rows are in arrival order: ties keep it
    ordered = kept.iloc[order].reset_index(drop=True)
    lateness_ms = lateness[order] / NS_PER_MS
    ordered.insert(8, "late", lateness_ms > cfg.allowed_lateness_ms)
    ordered.insert(9, "lateness_ms", lateness_ms)
    ordered.insert(10, "latency_spike", _latency_spikes(ordered, cfg.latency_spike_factor))

    late = ordered["late"].to_numpy()
    spike = ordered["latency_spike"].to_numpy()
    issues = pd.concat([
        issues_frame(labels(ordered["source"], late), ordered["record"].to_numpy()[late],
                     field="timestamp", reason=Reason.LATE_EVENT, action="reordered",
                     detail=(pd.Series(lateness_ms[late]).round(3).astype("str") + " ms behind its service").to_numpy(),
                     stage="normalize", severity=Severity.INFO),
        issues_frame(labels(ordered["source"], spike), ordered["record"].to_numpy()[spike],
                     field="latency_ms", reason=Reason.LATENCY_SPIKE, action="flagged",
                     detail=f"above {cfg.latency_spike_factor:g}× its service's median latency",
                     stage="normalize", severity=Severity.INFO),
    ], ignore_index=True)
    stats = {
        "events_in": len(events), "duplicates": int(is_copy.sum()), "events": len(ordered),
        "late_events": int(late.sum()), "max_lateness_ms": float(lateness_ms.max()) if len(ordered) else 0.0,
        "latency_spikes": int(spike.sum()),
    }
    return StageResult(frame=ordered, issues=issues, tables={"duplicates": duplicates}, stats=stats)
