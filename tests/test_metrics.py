"""Metrics: volumes, error rate, latency percentiles, sessions by status, score and verdict."""

from __future__ import annotations

import pandas as pd
import pytest

from logrecon.config import Config
from logrecon.metrics import metrics
from logrecon.normalize import normalize
from logrecon.schema import QUARANTINE_COLUMNS, empty_frame
from logrecon.sessions import sessions
from logrecon.validate import validate

from frames import events


def compute(rows, quarantined=()):
    return metric_rows(rows, quarantined).set_index("service")


def metric_rows(rows, quarantined=()):
    cfg = Config()
    normalized = normalize(events(rows), cfg.normalize)
    quarantine = empty_frame([*QUARANTINE_COLUMNS, "service"])
    checks = validate(normalized.frame, normalized.tables["duplicates"], quarantine, cfg.validate)
    timeline = sessions(normalized.frame, cfg.sessions).frame
    result = metrics(normalized.frame, timeline, checks.frame,
                     duplicates_by_service=pd.Series(["a"] * 0, dtype="str"),
                     quarantined_by_service=pd.Series(list(quarantined), dtype="str"),
                     gaps=checks.tables["gaps"], cfg=cfg.metrics)
    return result.frame


def test_per_service_and_all_rows_count_events_and_sessions():
    table = compute([(0, "a", "START", 10.0, "1"), (1, "a", "STOP", 20.0, "1"), (2, "b", "ERROR", 30.0, None)])
    assert table.loc["a", ["events", "start", "stop", "error", "sessions_complete"]].tolist() == [2, 1, 1, 0, 1]
    assert table.loc["ALL", "events"] == 3 and table.loc["b", "error_rate"] == 1.0
    assert table.loc["ALL", "latency_mean_ms"] == pytest.approx(20.0)
    assert table.loc["ALL", "latency_p50_ms"] == pytest.approx(20.0)


def test_consistency_score_counts_orphans_and_quarantine():
    table = compute([(0, "a", "START", None, "1"), (1, "a", "STOP", None, "1"), (2, "a", "START", None, "2")],
                    quarantined=["a"])
    # 4 records: 1 quarantined, 1 START never closed → 2 of 4 clean
    assert table.loc["a", "consistency_score"] == pytest.approx(0.5)
    assert table.loc["a", "verdict"] == "unreliable"
    assert "consistency 50.0%" in table.loc["a", "verdict_reason"]


def test_healthy_service_gets_a_healthy_verdict():
    table = compute([(i, "a", t, 5.0, str(i // 2)) for i, t in enumerate(["START", "STOP"] * 10)])
    assert table.loc["a", "verdict"] == "healthy" and table.loc["a", "consistency_score"] == 1.0


def test_service_without_latencies_has_null_latency_stats():
    table = compute([(0, "a", "ERROR", None, None)])
    assert pd.isna(table.loc["a", "latency_mean_ms"]) and pd.isna(table.loc["a", "latency_p99_ms"])


def test_a_service_named_ALL_keeps_its_own_row_and_the_run_row_stays_the_whole_run():
    """The run row is told apart by scope `run`, never by its name: a service named ALL is a service."""
    table = metric_rows([(0, "ALL", "START", None, "a1"), (1, "ALL", "STOP", 10.0, "a1"),
                         (2, "ALL", "ERROR", None, None), (3, "api", "START", None, "b1"),
                         (4, "api", "STOP", 20.0, "b1"), (5, "api", "START", None, "b2")],
                        quarantined=["ALL", None])
    assert table[["service", "scope"]].values.tolist() == [["ALL", "service"], ["api", "service"], ["ALL", "run"]]
    service_all, run = table.iloc[0], table.iloc[2]
    counted = ["events", "start", "stop", "error", "sessions_complete", "sessions_missing_stop", "quarantined"]
    assert service_all[counted].tolist() == [3, 1, 1, 1, 1, 0, 1]
    assert run[counted].tolist() == [6, 3, 2, 1, 2, 1, 2]   # the unnamed quarantined record counts for the run only
    assert service_all["latency_mean_ms"] == 10.0 and run["latency_mean_ms"] == 15.0
    assert service_all["error_rate"] == pytest.approx(1 / 3) and run["error_rate"] == pytest.approx(1 / 6)
    # api's failed checks are api's and the run's, not the ALL service's
    assert "failed checks" not in service_all["verdict_reason"]
    assert "failed checks: start_stop_mismatch, unbalanced_keys" in run["verdict_reason"]
