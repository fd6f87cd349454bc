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


def find_duplicates(events: pd.DataFrame, key, tolerance_ms: float = 0.0, by_time: np.ndarray | None = None) -> np.ndarray:
    """Position of the row each row duplicates (-1 for a first arrival); events in arrival order.

    `by_time`: the events' stable order by timestamp, when the caller has it already.
    """
    n = len(events)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if tolerance_ms > 0 and "timestamp" in key:
        return _find_near_duplicates(events, [k for k in key if k != "timestamp"], tolerance_ms)
    if "timestamp" in key:
        if by_time is None:
            by_time = np.argsort(nanoseconds(events["timestamp"]), kind="stable")
        return _find_same_time_duplicates(events, key, by_time)
    codes, _ = pd.factorize(_key_hash(events, key))
    first_position = np.flatnonzero(~pd.Series(codes).duplicated().to_numpy())
    original = first_position[codes]
    candidate = original != np.arange(n)
    # A 64-bit hash collision is not a duplicate: confirm every candidate on the values themselves.
    confirmed = _same_key(events, key, np.flatnonzero(candidate), original[candidate])
    result = np.full(n, -1, dtype=np.int64)
    result[np.flatnonzero(candidate)[confirmed]] = original[candidate][confirmed]
    return result


def _find_same_time_duplicates(events: pd.DataFrame, key, by_time: np.ndarray) -> np.ndarray:
    """Exact copies when the key holds the timestamp: only events sharing their instant with
    another can be copies, so only those few are compared, on the key values themselves."""
    n = len(events)
    times = nanoseconds(events["timestamp"])[by_time]
    tie = times[1:] == times[:-1]
    shares_time = np.zeros(n, dtype=bool)
    shares_time[1:] = tie
    shares_time[:-1] |= tie
    tied = by_time[shares_time]              # arrival positions, in (timestamp, arrival) order
    result = np.full(n, -1, dtype=np.int64)
    if not len(tied):
        return result
    values = pd.DataFrame({name: _key_codes(events[name].take(tied), name) for name in key})
    group = values.groupby(list(key), sort=False).ngroup().to_numpy()
    _, first = np.unique(group, return_index=True)   # equal keys share the instant: first = first arrival
    original = tied[first[group]]
    copy = original != tied
    result[tied[copy]] = original[copy]
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
    if not len(ns):
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(service_codes, kind="stable")  # small integer codes: a radix sort
    group = (service_codes[order] - service_codes.min()).astype(np.int64)
    times = ns[order] - ns.min()
    span = int(times.max()) + 1
    if span * (int(group[-1]) + 1) >= 2 ** 63:  # times too spread to lift each service above the last
        return pd.Series(ns).groupby(service_codes).cummax().to_numpy() - ns
    # One running maximum over all services: each service's times lifted above every earlier one's.
    lifted = times + group * span
    latest = np.empty_like(ns)
    latest[order] = np.maximum.accumulate(lifted) - group * span
    return latest - (ns - ns.min())


def _latency_spikes(events: pd.DataFrame, factor: float) -> np.ndarray:
    """Latency above `factor` × the median latency of its service."""
    codes = events["service"].cat.codes.to_numpy()
    latency = events["latency_ms"].to_numpy(dtype="float64")
    median = pd.Series(latency).groupby(codes).median().reindex(
        range(len(events["service"].cat.categories))).to_numpy()[codes]
    with np.errstate(invalid="ignore"):
        return (latency > factor * median) & (median > 0)


def normalize(events: pd.DataFrame, cfg: NormalizeConfig) -> StageResult:
    """Dedup (first arrival kept), measure lateness, then stable-sort on (timestamp, arrival)."""
    ns = nanoseconds(events["timestamp"])
    by_time = np.argsort(ns, kind="stable")  # analysis order: ties keep arrival order
    duplicate_of = find_duplicates(events, cfg.dedup_key, cfg.dedup_tolerance_ms, by_time=by_time)
    is_copy = duplicate_of >= 0
    duplicates = pd.DataFrame({
        "source": labels(events["source"], is_copy),
        "record": events["record"].to_numpy()[is_copy],
        "duplicate_of_source": labels(events["source"], duplicate_of[is_copy]),
        "duplicate_of_record": events["record"].to_numpy()[duplicate_of[is_copy]],
    }, columns=list(DUPLICATE_COLUMNS))

    kept = np.flatnonzero(~is_copy)
    lateness = np.zeros(len(events), dtype=np.int64)
    lateness[kept] = _lateness_ns(events["service"].cat.codes.to_numpy()[kept], ns[kept])
    analysis = by_time[~is_copy[by_time]]
    ordered = events.take(analysis).reset_index(drop=True)
    lateness_ms = lateness[analysis] / NS_PER_MS
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
