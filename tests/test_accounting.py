"""Every record is counted, per input and per service, in every artifact that reports counts.

records read = events + duplicates + quarantined (+ skipped), per input and in total (manifest);
a quarantined record still counts against its service in reliability_metrics.csv and
validation_report.csv, so bad data can never make a service look healthy.
"""

from __future__ import annotations

import json

import pytest

from logrecon import artifacts, pipeline

CSV = ("timestamp,service,event_type,latency_ms,session_id\n"
       "2024-01-01T00:00:00Z,api,START,,s1\n"
       "2024-01-01T00:00:00Z,api,START,,s1\n"            # exact copy
       "bad,api,STOP,,s1\n"                               # invalid timestamp
       "2024-01-01T00:00:02Z,api\n"                       # bad field count
       "2024-01-01T00:00:03Z,api,STOP,12ms,s1\n"          # invalid latency: kept
       "2024-01-01T00:00:04Z,,STOP,,s9\n")                # missing service
JSONL = ('{"timestamp": 1704067205, "service": "api", "event_type": "ERROR", "session_id": "s1"}\n'
         "\n"
         "not json\n"
         '{"timestamp": "2024-01-01T00:00:06Z", "service": "db", "event_type": "stop"}\n'
         '{"timestamp": "2024-01-01T00:00:06Z", "service": "db", "event_type": "STOP"}\n')


def test_row_accounting_balances_per_hostile_input_and_in_total(tmp_path):
    (tmp_path / "a.csv").write_text(CSV)
    (tmp_path / "b.jsonl").write_text(JSONL)
    pipeline.run([tmp_path / "a.csv", tmp_path / "b.jsonl"], tmp_path / "run", plots=False)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    per_input = {entry["path"].rsplit("/", 1)[-1]: entry for entry in manifest["inputs"]}
    assert {k: (v["records_read"], v["events"], v["duplicates"], v["quarantined"]) for k, v in per_input.items()} == {
        "a.csv": (6, 2, 1, 3), "b.jsonl": (4, 2, 1, 1)}
    total = manifest["row_accounting"]
    assert (total["records_read"], total["events"], total["duplicates"], total["quarantined"]) == (10, 4, 2, 4)
    assert total["balanced"] is True
    issues = artifacts.read_csv(tmp_path / "run" / "issues.csv")
    assert issues[issues["reason"] == "invalid_latency"]["record"].tolist() == [5]


@pytest.fixture
def one_bad_service(tmp_path):
    (tmp_path / "logs.csv").write_text("timestamp,service,event_type\n"
                                       "2024-01-01T00:00:00Z,good,START\n"
                                       "2024-01-01T00:00:01Z,good,STOP\n"
                                       "bad,broken,START\n"
                                       "also bad,broken,STOP\n")
    pipeline.run([tmp_path / "logs.csv"], tmp_path / "run", plots=False)
    return tmp_path / "run"


def test_a_service_whose_every_record_is_quarantined_is_not_reported_healthy(one_bad_service):
    metrics = artifacts.read_csv(one_bad_service / "reliability_metrics.csv").set_index("service")
    assert metrics.loc["broken", "quarantined"] == 2
    assert metrics.loc["broken", "consistency_score"] == 0
    assert metrics.loc["broken", "verdict"] == "unreliable"


def test_a_service_whose_every_record_is_quarantined_fails_its_quarantine_rate_check(one_bad_service):
    checks = artifacts.read_csv(one_bad_service / "validation_report.csv")
    row = checks[(checks["service"] == "broken") & (checks["check"] == "quarantine_rate")]
    assert row["value"].tolist() == [1.0] and row["status"].tolist() == ["fail"]


def test_quarantined_records_count_under_their_service_next_to_its_events(one_bad_service):
    """The ALL row counts every quarantined record; a service with events counts its own."""
    metrics = artifacts.read_csv(one_bad_service / "reliability_metrics.csv").set_index("service")
    assert metrics.loc["ALL", "quarantined"] == 2 and metrics.loc["good", "quarantined"] == 0
    assert metrics.loc["good", "sessions_complete"] == 1
