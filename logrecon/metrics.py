"""Reliability metrics per service and overall, with a data-consistency score and a verdict.

Input: ordered events, sessions, checks, plus duplicate/quarantine/gap tables for attribution.
Output: schema.METRIC_COLUMNS (+ `verdict_reason`, `latency_min_ms`, `scope`), one row per service
(scope `service`) and, last, the whole run's row: service `ALL`, scope `run` (a service may itself be
named `ALL`: scope tells them apart).
consistency_score = share of a service's records that are clean: not quarantined, not a removed
copy, and not a START/STOP left unpaired or clock-skewed. Verdict: healthy / degraded /
unreliable from that score, the error rate and failed checks; `verdict_reason` says why.
Reads config: MetricsConfig.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import MetricsConfig
from .schema import ALL, METRIC_COLUMNS, SCOPE_RUN, SCOPE_SERVICE, StageResult, run_rows

STATUSES = ("complete", "missing_stop", "missing_start", "timed_out", "clock_skew")


def _latency_stats(events: pd.DataFrame) -> pd.DataFrame:
    """Latency mean, percentiles, max and min per service (scope `service`) and over the whole run
    (service `ALL`, scope `run`); no row where there is no latency."""
    latency = events[["service", "latency_ms"]].dropna()
    grouped = latency.groupby("service", observed=True)["latency_ms"]
    quantiles = grouped.quantile([0.5, 0.95, 0.99]).unstack()
    per_service = pd.DataFrame({
        "latency_mean_ms": grouped.mean(), "latency_p50_ms": quantiles.get(0.5),
        "latency_p95_ms": quantiles.get(0.95), "latency_p99_ms": quantiles.get(0.99),
        "latency_max_ms": grouped.max(), "latency_min_ms": grouped.min(),
    }).astype("float64")  # no latencies at all: the missing quantiles are None, not NaN
    per_service.index = per_service.index.astype(str)
    rows = [per_service.reset_index(names="service").assign(scope=SCOPE_SERVICE)]
    values = latency["latency_ms"]
    if len(values):
        p50, p95, p99 = values.quantile([0.5, 0.95, 0.99])
        rows.append(pd.DataFrame({
            "service": [ALL], "scope": SCOPE_RUN, "latency_mean_ms": values.mean(), "latency_p50_ms": p50,
            "latency_p95_ms": p95, "latency_p99_ms": p99, "latency_max_ms": values.max(),
            "latency_min_ms": values.min()}))
    return pd.concat(rows, ignore_index=True)


def _session_counts(sessions: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Sessions per (service, status), and STOP-only sessions with an inferred start per service."""
    service = pd.Categorical(sessions["service"])  # categorical already (sessions()): no copy of the text
    names = service.categories.astype(str)
    codes = service.codes.astype(np.int64)
    status = pd.Categorical(sessions["status"], categories=STATUSES).codes
    by_status = np.bincount(codes * len(STATUSES) + status, minlength=len(names) * len(STATUSES))
    frame = pd.DataFrame(by_status.reshape(len(names), len(STATUSES)), index=names, columns=list(STATUSES))
    inferred = pd.Series(np.bincount(codes[sessions["start_inferred"].astype(bool).to_numpy()], minlength=len(names)),
                         index=names)
    return frame, inferred


def metrics(events: pd.DataFrame, sessions: pd.DataFrame, checks: pd.DataFrame, *,
            duplicates_by_service: pd.Series, quarantined_by_service: pd.Series, gaps: pd.DataFrame,
            cfg: MetricsConfig) -> StageResult:
    """Per-service and overall reliability metrics; the verdict policy is configurable."""
    by_service = events.groupby("service", observed=True)
    types = events.groupby(["service", "event_type"], observed=False).size().unstack(fill_value=0) \
        .reindex(columns=["START", "STOP", "ERROR"], fill_value=0)
    table = pd.DataFrame({"events": by_service.size(), "start": types["START"], "stop": types["STOP"],
                          "error": types["ERROR"], "late_events": by_service["late"].sum()})
    table.index = table.index.astype(str)
    status_counts, inferred_counts = _session_counts(sessions)
    for status in STATUSES:
        table[f"sessions_{status}"] = status_counts[status]
    # A service seen only among removed copies or quarantined records still gets its row.
    table = table.reindex(table.index.union(quarantined_by_service.dropna().unique()).union(
        duplicates_by_service.dropna().unique()))
    table["duplicates"] = duplicates_by_service.value_counts()
    table["quarantined"] = quarantined_by_service.value_counts()
    table["gaps"] = gaps["service"].value_counts()
    table = table.fillna(0).astype("int64").sort_index()
    table["inferred_starts"] = inferred_counts.reindex(table.index, fill_value=0)
    run = table.sum().to_frame().T
    run["quarantined"] = len(quarantined_by_service)  # also the records that name no service
    # Rows keyed by (scope, service), never by name alone: a service named ALL keeps its own row.
    table = pd.concat([table.reset_index(names="service").assign(scope=SCOPE_SERVICE),
                       run.assign(service=ALL, scope=SCOPE_RUN)], ignore_index=True)
    failed = checks.assign(scope=np.where(run_rows(checks), SCOPE_RUN, SCOPE_SERVICE))
    failed = failed[failed["status"] == "fail"].groupby(["scope", "service"], as_index=False)["check"] \
        .agg(", ".join).rename(columns={"check": "failed_checks"})
    table = table.merge(_latency_stats(events), on=["scope", "service"], how="left") \
        .merge(failed, on=["scope", "service"], how="left")

    records = table["events"] + table["duplicates"] + table["quarantined"]
    # A STOP-only session whose start is inferred from its latency is how such a source logs
    # (completion lines), not a data fault: it does not count against consistency.
    unclean = (table["quarantined"] + table["duplicates"] + table["sessions_missing_stop"]
               + table["sessions_missing_start"] - table["inferred_starts"] + table["sessions_timed_out"]
               + 2 * table["sessions_clock_skew"])
    table["error_rate"] = (table["error"] / table["events"].where(table["events"] > 0)).fillna(0.0)
    table["consistency_score"] = (1 - unclean / records.where(records > 0)).clip(0, 1).fillna(1.0)
    table["verdict"], table["verdict_reason"] = _verdicts(table, table["failed_checks"], cfg)
    services = table["scope"] == SCOPE_SERVICE
    stats = {"verdicts": dict(zip(table.loc[services, "service"], table.loc[services, "verdict"])),
             "run_verdict": table.loc[~services, "verdict"].item()}
    return StageResult(frame=table.loc[:, [*METRIC_COLUMNS, "verdict_reason", "latency_min_ms", "scope"]],
                       stats=stats)


def _verdicts(table: pd.DataFrame, failed_checks: pd.Series, cfg: MetricsConfig):
    score, errors = table["consistency_score"], table["error_rate"]
    unreliable = (score < cfg.degraded_consistency) | (errors > cfg.unreliable_error_rate)
    degraded = ~unreliable & ((score < cfg.healthy_consistency) | (errors > cfg.healthy_error_rate)
                              | failed_checks.notna())
    no_data = ((table["events"] + table["duplicates"] + table["quarantined"]) == 0).to_numpy()
    verdict = np.select([no_data, unreliable, degraded], ["no data", "unreliable", "degraded"], "healthy")
    reason = ("consistency " + (score * 100).round(1).astype(str) + "%, error rate "
              + (errors * 100).round(1).astype(str) + "%")
    failed = failed_checks.astype("str")
    reason = reason.where(failed.isna(), reason + "; failed checks: " + failed)
    reason = reason.where(~no_data, "no records")
    return verdict, reason.to_numpy()
