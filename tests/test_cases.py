"""Every hostile case in shared/cases, run end to end, asserted against its expected values."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from logrecon import artifacts, pipeline

from conftest import CASES

# The case vocabulary → our reason codes (one-to-one; ours happen to use the same words).
REASON_MAP = {
    "malformed_row": "malformed_row",
    "missing_field": "missing_field",
    "invalid_timestamp": "invalid_timestamp",
    "ambiguous_timestamp": "ambiguous_timestamp",
    "timestamp_out_of_range": "timestamp_out_of_range",
    "invalid_event_type": "invalid_event_type",
    "invalid_latency": "invalid_latency",
}
CASE_FILES = sorted(CASES.glob("C*.expected.json")) if CASES.exists() else []


def test_reason_mapping_is_one_to_one():
    assert len(set(REASON_MAP.values())) == len(REASON_MAP)


@pytest.fixture(scope="module", params=CASE_FILES, ids=lambda p: p.name.split(".")[0])
def case(request, tmp_path_factory):
    spec = json.loads(request.param.read_text())
    out = tmp_path_factory.mktemp(spec["case_id"])
    pipeline.run([CASES / spec["input_file"]], out, plots=False, gap_threshold=spec["config"]["gap_threshold_seconds"])
    read = {name: artifacts.read_csv(out / name) for name in pipeline.CSV_ARTIFACTS}
    manifest = json.loads((out / "manifest.json").read_text())
    return spec, read, manifest


def _records(frame: pd.DataFrame, column: str = "record") -> list[int]:
    return [] if frame.empty else [int(r) for r in frame[column]]


def _none(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA else value


def test_row_counts_and_file_issues(case):
    spec, read, manifest = case
    expected = spec["expected"]
    accounting = manifest["row_accounting"]
    assert accounting["records_read"] == expected["total_records"]
    assert accounting["events"] + accounting["duplicates"] == expected["valid_rows"]
    assert accounting["quarantined"] == expected["quarantined_rows"]
    assert accounting["duplicates"] == expected["duplicates_removed"]
    assert accounting["events"] == expected["rows_after_dedup"]
    assert accounting["balanced"]
    issues = manifest["inputs"][0]["file_issues"]
    assert issues == ([expected["file_issue"]] if expected["file_issue"] else [])


def test_quarantined_records_name_the_failing_field_and_reason(case):
    spec, read, _ = case
    quarantine = read["quarantine.csv"]
    got = {} if quarantine.empty else {int(r): (f, q) for r, f, q in
                                       zip(quarantine["record"], quarantine["fields"], quarantine["reasons"])}
    want = {q["record"]: (q["field"], REASON_MAP[q["reason"]]) for q in spec["expected"]["quarantine"]}
    assert got == want


def test_invalid_latency_is_nulled_and_reported_not_quarantined(case):
    spec, read, _ = case
    issues = read["issues.csv"]
    nulled = issues[(issues["reason"] == "invalid_latency")] if not issues.empty else issues
    want = sorted(f["record"] for f in spec["expected"]["field_issues"])
    assert sorted(_records(nulled)) == want
    if want:
        assert set(nulled["action"]) == {"nulled"} and set(nulled["field"]) == {"latency_ms"}
        cleaned = read["cleaned_logs.csv"]
        assert cleaned[cleaned["record"].isin(want)]["latency_ms"].isna().all()


def test_duplicates_name_the_record_they_copy(case):
    spec, read, _ = case
    duplicates = read["duplicates.csv"]
    got = {} if duplicates.empty else dict(zip(_records(duplicates), _records(duplicates, "duplicate_of_record")))
    assert got == {d["record"]: d["duplicate_of"] for d in spec["expected"]["duplicates"]}


def test_timestamps_are_converted_to_the_right_utc_instant(case):
    spec, read, _ = case
    cleaned = read["cleaned_logs.csv"]
    if cleaned.empty:
        assert spec["expected"]["rows_after_dedup"] == 0
        return
    got = dict(zip(_records(cleaned), cleaned["timestamp"]))
    for row in spec["expected"]["timestamps_utc"]:
        if row["record"] in got:
            assert got[row["record"]] == pd.Timestamp(row["utc"]), row


def test_analysis_order_is_timestamp_then_record(case):
    spec, read, _ = case
    assert _records(read["cleaned_logs.csv"]) == spec["expected"]["order_after_sort"]


def test_sessions_match_expected_pairs_statuses_and_durations(case):
    spec, read, _ = case
    sessions = read["reconstructed_sessions.csv"]

    def key(service, session_id, status, start, stop):
        return (service, _none(session_id), status, _none(start) and int(start), _none(stop) and int(stop))

    got = {} if sessions.empty else {
        key(s.service, s.session_id, s.status, s.start_record, s.stop_record): _none(s.duration_ms)
        for s in sessions.itertuples()}
    want = {key(s["service"], s["session_id"], s["status"], s["start_record"], s["stop_record"]): s["duration_ms"]
            for s in spec["expected"]["sessions"]}
    assert set(got) == set(want)
    for k, duration in want.items():
        assert (got[k] is None) == (duration is None), k
        if duration is not None:
            assert got[k] == pytest.approx(duration, abs=1e-6)
    counts = {} if sessions.empty else sessions["status"].value_counts().to_dict()
    for status, count in spec["expected"]["session_counts"].items():
        assert counts.get(status, 0) == count, status


def test_sessions_conserve_start_and_stop_events(case):
    _, read, _ = case
    sessions, cleaned = read["reconstructed_sessions.csv"], read["cleaned_logs.csv"]
    bounds = 0 if cleaned.empty else int(cleaned["event_type"].isin(["START", "STOP"]).sum())
    used = 0 if sessions.empty else int(sessions["start_record"].notna().sum() + sessions["stop_record"].notna().sum())
    assert used == bounds
    if not sessions.empty:
        assert (sessions["duration_ms"].dropna() >= 0).all()


def test_gaps_are_strictly_longer_than_the_threshold(case):
    spec, read, _ = case
    gaps = read["gaps.csv"]
    got = set() if gaps.empty else {(g.service, int(g.from_record), int(g.to_record), round(float(g.gap_seconds), 6))
                                    for g in gaps.itertuples()}
    want = {(g["service"], g["from_record"], g["to_record"], round(g["gap_seconds"], 6))
            for g in spec["expected"]["gaps"]}
    assert got == want


def test_metrics_per_service(case):
    spec, read, _ = case
    metrics = read["reliability_metrics.csv"]
    services = {} if metrics.empty else {row["service"]: row for _, row in metrics.iterrows() if row["service"] != "ALL"}
    expected = spec["expected"]["metrics"]
    assert set(services) == set(expected)
    for service, values in expected.items():
        for name, value in values.items():
            got = _none(services[service][name])
            if value is None:
                assert got is None, (service, name)
            else:
                assert got == pytest.approx(value, abs=1e-9), (service, name)
