"""Reconstruction scored against ground truth on generated logs (issue 5's thresholds).

About 50k rows each, default fault rates (plus enough outages to score gap detection):
keyed pairing must be near perfect; without session ids (~25 sessions open at once per
service, the bare schema) `auto` must still pair ≥ 97% right.
"""

from __future__ import annotations

import pytest

from logrecon import pipeline
from logrecon.evaluate import evaluate
from logrecon.generate import FaultRates, generate, write_generated

ROWS = 50_000
RATES = FaultRates(outage=20, outage_min_s=120, outage_max_s=300)


def scored(tmp_path_factory, session_ids: bool, **params):
    root = tmp_path_factory.mktemp("keyed" if session_ids else "unkeyed")
    write_generated(root / "data", generate(ROWS, seed=5, session_ids=session_ids, rates=RATES))
    pipeline.run([root / "data" / "logs.csv"], root / "run", plots=False, **params)
    frame = evaluate(root / "run", root / "data" / "truth")
    return {(m, k): v for m, k, v in zip(frame["metric"], frame["kind"], frame["value"])}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    return scored(tmp_path_factory, session_ids=True)


@pytest.fixture(scope="module")
def unkeyed(tmp_path_factory):
    return scored(tmp_path_factory, session_ids=False)


def test_keyed_pairing_and_status_are_near_perfect(keyed):
    assert keyed["pairing_f1", "all"] >= 0.999
    assert keyed["status_accuracy", "all"] >= 0.999
    assert keyed["duration_error_p95_ms", "all"] == 0


def test_duplicates_are_found_with_no_false_positive(keyed):
    assert keyed["duplicate_precision", "all"] == 1.0
    assert keyed["duplicate_recall", "all"] >= 0.999
    assert keyed["duplicate_of_accuracy", "all"] == 1.0


@pytest.mark.parametrize("kind", ["missing_timestamp", "corrupt_timestamp", "out_of_range_timestamp"])
def test_every_broken_timestamp_is_quarantined_for_the_right_reason(keyed, kind):
    assert keyed["quarantine_recall", kind] == 1.0
    assert keyed["quarantine_precision", kind] == 1.0


def test_outages_are_found_as_gaps(keyed):
    assert keyed["gap_recall", "all"] == 1.0
    assert keyed["gap_precision", "all"] >= 0.95


def test_late_events_are_detected(keyed):
    assert keyed["late_recall", "all"] == 1.0 and keyed["late_precision", "all"] == 1.0


def test_every_record_is_accounted_for(keyed, unkeyed):
    assert keyed["records_accounted", "all"] == 1.0 and unkeyed["records_accounted", "all"] == 1.0


def test_without_session_ids_auto_pairing_stays_accurate(unkeyed):
    assert unkeyed["pairing_f1", "all"] >= 0.97
    assert unkeyed["status_accuracy", "all"] >= 0.97
