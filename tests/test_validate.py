"""Validate: per-service checks with status, and gap detection (fixed and auto)."""

from __future__ import annotations

import pytest

from logrecon.config import NormalizeConfig, ValidateConfig
from logrecon.normalize import normalize
from logrecon.schema import QUARANTINE_COLUMNS, empty_frame
from logrecon.validate import validate

from frames import events


def run(rows, **cfg):
    normalized = normalize(events(rows), NormalizeConfig())
    quarantine = empty_frame([*QUARANTINE_COLUMNS, "service"])
    return validate(normalized.frame, normalized.tables["duplicates"], quarantine, ValidateConfig(**cfg))


def check(result, service, name):
    row = result.frame[(result.frame["service"] == service) & (result.frame["check"] == name)].iloc[0]
    return row["value"], row["status"]


def test_gap_is_strictly_longer_than_the_threshold():
    result = run([(0, "a", "ERROR", None, None), (60, "a", "ERROR", None, None), (181, "a", "ERROR", None, None)],
                 gap_threshold=60)
    gaps = result.tables["gaps"]
    assert gaps[["from_record", "to_record"]].values.tolist() == [[2, 3]]
    assert gaps["gap_seconds"].tolist() == [121.0]


def test_gaps_are_per_service():
    result = run([(0, "a", "ERROR", None, None), (50, "b", "ERROR", None, None), (100, "a", "ERROR", None, None)],
                 gap_threshold=60)
    assert result.tables["gaps"]["service"].tolist() == ["a"]


def test_auto_threshold_comes_from_the_service_own_inter_arrival():
    busy = [(i, "a", "ERROR", None, None) for i in range(300)] + [(900, "a", "ERROR", None, None)]
    result = run(busy, gap_threshold="auto", gap_auto_factor=10, gap_auto_min_seconds=5)
    gaps = result.tables["gaps"]
    assert len(gaps) == 1 and gaps["threshold_seconds"].item() == pytest.approx(10.0)


def test_start_stop_mismatch_fails_above_the_fail_rate():
    result = run([(0, "a", "START", None, "1"), (1, "a", "START", None, "2"), (2, "a", "STOP", None, "1")])
    value, status = check(result, "a", "start_stop_mismatch")
    assert value == pytest.approx(1 / 3) and status == "fail"


def test_out_of_turn_keyed_events_are_inconsistent_sequences():
    result = run([(0, "a", "STOP", None, "1"), (1, "a", "START", None, "2"), (2, "a", "START", None, "2"),
                  (3, "a", "STOP", None, "2")])
    value, _ = check(result, "a", "inconsistent_sequence")
    assert value == pytest.approx(2 / 4)


def test_clean_service_is_ok_on_every_rate_check():
    result = run([(0, "a", "START", None, "1"), (1, "a", "STOP", None, "1")])
    statuses = result.frame[(result.frame["service"] == "a") & (result.frame["check"] != "gaps")]["status"]
    assert set(statuses) == {"ok"}
    assert set(result.frame["service"]) == {"a", "ALL"}


def test_a_service_named_ALL_gets_its_own_checks_and_the_run_rows_come_last():
    """Scope, not the name, marks the run-wide rows; a service named ALL is checked like any other."""
    result = run([(0, "ALL", "START", None, "1"), (1, "ALL", "STOP", None, "1"),
                  (2, "api", "START", None, "2"), (3, "api", "START", None, "3")])
    mismatch = result.frame[result.frame["check"] == "start_stop_mismatch"]
    assert mismatch[["service", "scope", "value", "status"]].values.tolist() == [
        ["ALL", "service", 0.0, "ok"], ["api", "service", 1.0, "fail"], ["ALL", "run", 0.5, "fail"]]
    assert result.frame["scope"].tolist() == ["service"] * 16 + ["run"] * 8
