"""Per-service data-quality checks and gap detection on ordered events.

Input: ordered events (normalize's frame), its duplicates and ingest's quarantine.
Output: one row per (service, check) with value, threshold, status ok/warn/fail and detail
(schema.CHECK_COLUMNS), then `scope`: `service` for a service's rows, `run` for the whole input's
rows, whose service is `ALL` (a service may itself be named `ALL`: scope tells them apart), and
`tables["gaps"]`: consecutive events of one service further apart than the threshold (fixed
seconds, or `auto` from that service's own inter-arrival distribution).
Reads config: ValidateConfig.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import ValidateConfig
from .schema import (ALL, CHECK_COLUMNS, GAP_COLUMNS, SCOPE_RUN, SCOPE_SERVICE, StageResult, codes, labels,
                     nanoseconds, utc_datetimes)

NS_PER_S = 1_000_000_000


def gap_thresholds(service_codes: np.ndarray, ns: np.ndarray, n_services: int, cfg: ValidateConfig) -> np.ndarray:
    """Threshold in seconds per service code: fixed, or factor × p99 inter-arrival (with a floor)."""
    if cfg.gap_threshold != "auto":
        return np.full(n_services, float(cfg.gap_threshold))
    thresholds = np.full(n_services, cfg.gap_auto_min_seconds)
    deltas = _deltas(service_codes, ns)
    frame = pd.DataFrame({"service": service_codes[1:][deltas.same], "delta": deltas.seconds[deltas.same]})
    if len(frame):
        p99 = frame.groupby("service")["delta"].quantile(0.99)
        thresholds[p99.index.to_numpy()] = np.maximum(cfg.gap_auto_factor * p99.to_numpy(), cfg.gap_auto_min_seconds)
    return thresholds


class _Deltas:
    def __init__(self, order, same, seconds):
        self.order, self.same, self.seconds = order, same, seconds


def _deltas(service_codes: np.ndarray, ns: np.ndarray) -> _Deltas:
    """Events regrouped by service (time order kept) and the seconds between neighbours."""
    order = np.argsort(service_codes, kind="stable")
    codes, times = service_codes[order], ns[order]
    same = codes[1:] == codes[:-1]
    return _Deltas(order, same, (times[1:] - times[:-1]) / NS_PER_S)


def find_gaps(events: pd.DataFrame, cfg: ValidateConfig) -> pd.DataFrame:
    """Per service, consecutive events strictly further apart than the threshold."""
    codes = events["service"].cat.codes.to_numpy()
    ns = nanoseconds(events["timestamp"])
    names = events["service"].cat.categories
    thresholds = gap_thresholds(codes, ns, len(names), cfg)
    deltas = _deltas(codes, ns)
    left = deltas.order[:-1]
    is_gap = deltas.same & (deltas.seconds > thresholds[codes[left]])
    before, after = left[is_gap], deltas.order[1:][is_gap]
    gaps = pd.DataFrame({
        "service": names[codes[before]].astype(str),
        "gap_start": utc_datetimes(ns[before]),
        "gap_end": utc_datetimes(ns[after]),
        "gap_seconds": deltas.seconds[is_gap],
        "threshold_seconds": thresholds[codes[before]],
        "from_source": labels(events["source"], before),
        "from_record": events["record"].to_numpy()[before],
        "to_source": labels(events["source"], after),
        "to_record": events["record"].to_numpy()[after],
    })
    return gaps.sort_values(["service", "gap_start"], kind="stable").reset_index(drop=True) \
        .loc[:, [*GAP_COLUMNS, "threshold_seconds", "from_source", "from_record", "to_source", "to_record"]]


def _status(value: pd.Series, warn: float, fail: float) -> pd.Series:
    return pd.Series(np.select([value > fail, value > warn], ["fail", "warn"], "ok"), index=value.index)


def _per_service_counts(events: pd.DataFrame, duplicates: pd.DataFrame, quarantine: pd.DataFrame,
                        duplicated: pd.Series) -> pd.DataFrame:
    names = events["service"].cat.categories.astype(str)
    service = events["service"].cat.codes.to_numpy()
    types = events["event_type"].cat.codes.to_numpy()   # START, STOP, ERROR
    per_service = lambda mask: np.bincount(service[mask], minlength=len(names))  # noqa: E731
    everything = np.ones(len(service), dtype=bool)
    counts = pd.DataFrame({
        "events": per_service(everything), "start": per_service(types == 0), "stop": per_service(types == 1),
        "late": per_service(events["late"].to_numpy(dtype=bool)),
        "spikes": per_service(events["latency_spike"].to_numpy(dtype=bool)),
    }, index=names)
    counts = counts[counts["events"] > 0]
    raw_service = quarantined_services(quarantine).dropna()
    # A service whose every record was quarantined still gets its checks.
    counts = counts.reindex(counts.index.union(raw_service.unique()), fill_value=0)
    counts["duplicates"] = duplicated.value_counts().reindex(counts.index, fill_value=0)
    counts["quarantined"] = raw_service.value_counts().reindex(counts.index, fill_value=0)
    session = codes(events["session_id"])
    keyed = np.flatnonzero((session >= 0) & (types <= 1))
    sequence = _sequence_checks(service[keyed], session[keyed], types[keyed] == 0, names)
    return counts.join(sequence).fillna(0)


def _sequence_checks(service: np.ndarray, session: np.ndarray, is_start: np.ndarray, names: pd.Index) -> pd.DataFrame:
    """Per service: keys whose STARTs and STOPs do not balance; events out of START/STOP turn.
    Arrays of the keyed START/STOP events, in time order."""
    key = session * len(names) + service
    order = np.argsort(key, kind="stable")
    k, s, service = key[order], is_start[order], service[order]
    first = np.ones(len(k), dtype=bool)
    np.not_equal(k[1:], k[:-1], out=first[1:])
    key_start = np.flatnonzero(first)
    balance = np.add.reduceat(np.where(s, 1, -1), key_start) if len(k) else np.zeros(0, dtype=np.int64)
    key_service = service[key_start]
    previous_start = np.r_[False, s[:-1]]
    out_of_turn = np.where(first, ~s, s == previous_start)  # a key must open with START, then alternate
    per_service = lambda values: np.bincount(values, minlength=len(names))  # noqa: E731
    return pd.DataFrame({
        "keys": per_service(key_service),
        "unbalanced_keys": per_service(key_service[balance != 0]),
        "keyed_events": per_service(service),
        "out_of_turn": per_service(service[out_of_turn]),
    }, index=names)


def validate(events: pd.DataFrame, duplicates: pd.DataFrame, quarantine: pd.DataFrame,
             cfg: ValidateConfig) -> StageResult:
    """Checks per service and for the whole run (service `ALL`, scope `run`) plus gaps; never
    raises on bad data."""
    gaps = find_gaps(events, cfg)
    duplicated = duplicated_services(events, duplicates)
    per_service = _per_service_counts(events, duplicates, quarantine, duplicated)
    per_service["gaps"] = gaps["service"].value_counts().reindex(per_service.index, fill_value=0)
    run_totals = per_service.sum()
    run_totals["quarantined"] = len(quarantine)  # also the records that name no service
    # Positional rows, not indexed by name: a service named ALL keeps a row of its own.
    counts = pd.concat([per_service, run_totals.to_frame().T], ignore_index=True)
    service = np.append(per_service.index.to_numpy(dtype=object), ALL)
    is_run = np.arange(len(counts)) == len(per_service)
    scope = np.where(is_run, SCOPE_RUN, SCOPE_SERVICE)
    records = counts["events"] + counts["duplicates"] + counts["quarantined"]
    safe = lambda s: s.where(s > 0, 1)  # noqa: E731  (rates of nothing are 0, not NaN)
    rates = {
        "start_stop_mismatch": ((counts["start"] - counts["stop"]).abs() / safe(counts["start"] + counts["stop"]),
                                "|START − STOP| / (START + STOP)"),
        "unbalanced_keys": (counts["unbalanced_keys"] / safe(counts["keys"]),
                            "keyed sessions whose STARTs and STOPs do not balance"),
        "inconsistent_sequence": (counts["out_of_turn"] / safe(counts["keyed_events"]),
                                  "keyed START/STOP events out of turn (START after START, STOP first…)"),
        "duplicate_rate": (counts["duplicates"] / safe(records), "removed copies / records"),
        "quarantine_rate": (counts["quarantined"] / safe(records), "quarantined / records"),
        "late_rate": (counts["late"] / safe(counts["events"]), "events later than the allowed lateness"),
        "latency_spike_rate": (counts["spikes"] / safe(counts["events"]), "latency spikes / events"),
    }
    rows = []
    informational = {"late_rate"}  # reordering repaired it: worth a warning, never a failure
    for check, (value, detail) in rates.items():
        status = _status(value, cfg.warn_rate, cfg.fail_rate)
        if check in informational:
            status = status.replace("fail", "warn")
        rows.append(pd.DataFrame({
            "service": service, "check": check, "value": value.to_numpy(dtype=float),
            "threshold": cfg.warn_rate, "status": status.to_numpy(), "detail": detail, "scope": scope}))
    rows.append(pd.DataFrame({
        "service": service, "check": "gaps", "value": counts["gaps"].to_numpy(dtype=float), "threshold": 0.0,
        "status": np.where(counts["gaps"] > 0, "warn", "ok"),
        "detail": ("threshold " + _threshold_text(cfg)), "scope": scope}))
    checks = pd.concat(rows, ignore_index=True)
    checks = checks.assign(_run_last=checks["scope"] == SCOPE_RUN) \
        .sort_values(["_run_last", "service"], kind="stable").drop(columns="_run_last").reset_index(drop=True)
    stats = {"gaps": len(gaps), "failed_checks": int((checks["status"] == "fail").sum()),
             "warned_checks": int((checks["status"] == "warn").sum())}
    return StageResult(frame=checks.loc[:, [*CHECK_COLUMNS, "scope"]], tables={"gaps": gaps}, stats=stats)


def _threshold_text(cfg: ValidateConfig) -> str:
    if cfg.gap_threshold == "auto":
        return f"auto: {cfg.gap_auto_factor:g}× p99 inter-arrival, at least {cfg.gap_auto_min_seconds:g} s"
    return f"{float(cfg.gap_threshold):g} s"


def quarantined_services(quarantine: pd.DataFrame) -> pd.Series:
    """The service each quarantined record names (trimmed raw text), null where it names none."""
    if "service" not in quarantine:
        return pd.Series(pd.NA, index=quarantine.index, dtype="str")
    raw = quarantine["service"].astype("str").str.strip()
    return raw.where(raw != "")


def duplicated_services(events: pd.DataFrame, duplicates: pd.DataFrame) -> pd.Series:
    """The service of each removed copy (that of the kept record it duplicates)."""
    if duplicates.empty:
        return pd.Series([], dtype="str")
    # Only the kept records that copies point at: a join on those few rows, not on every event.
    targets = duplicates[["duplicate_of_source", "duplicate_of_record"]]
    wanted = events["record"].isin(targets["duplicate_of_record"]).to_numpy()
    kept = pd.DataFrame({"duplicate_of_source": labels(events["source"], wanted),
                         "duplicate_of_record": events["record"].to_numpy()[wanted],
                         "service": labels(events["service"], wanted)})
    found = targets.astype({"duplicate_of_source": object}).merge(
        kept, on=["duplicate_of_source", "duplicate_of_record"], how="left")
    return found["service"].astype("str")
