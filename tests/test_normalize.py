"""Normalize: dedup with evidence, lateness against arrival order, stable analysis order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from logrecon.config import NormalizeConfig
from logrecon.normalize import find_duplicates, normalize

from frames import events


def test_first_arrival_is_kept_and_each_copy_names_the_record_it_duplicates():
    result = normalize(events([(0, "a", "START", 5.0, "k"), (1, "a", "STOP", 9.0, "k"),
                               (0, "a", "START", 5.0, "k"), (0, "a", "START", 5.0, "k")]), NormalizeConfig())
    assert result.tables["duplicates"]["record"].tolist() == [3, 4]
    assert result.tables["duplicates"]["duplicate_of_record"].tolist() == [1, 1]
    assert result.frame["record"].tolist() == [1, 2]


def test_null_latency_equals_null_latency_but_not_a_value():
    copies = find_duplicates(events([(0, "a", "ERROR", None, None), (0, "a", "ERROR", None, None),
                                     (0, "a", "ERROR", 0.0, None)]), ("timestamp", "service", "event_type",
                                                                      "latency_ms", "session_id"))
    assert copies.tolist() == [-1, 0, -1]


def test_dedup_key_is_configurable():
    rows = [(0, "a", "START", 5.0, "k"), (0, "a", "START", 6.0, "k")]
    assert normalize(events(rows), NormalizeConfig()).stats["duplicates"] == 0
    narrow = NormalizeConfig(dedup_key=("timestamp", "service", "event_type", "session_id"))
    assert normalize(events(rows), narrow).stats["duplicates"] == 1


def test_tolerance_window_catches_near_copies_and_keeps_the_first_arrival():
    rows = [(0.0000, "a", "START", None, "k"), (0.0004, "a", "START", None, "k"), (5, "a", "START", None, "k")]
    result = normalize(events(rows), NormalizeConfig(dedup_tolerance_ms=1.0))
    assert result.tables["duplicates"][["record", "duplicate_of_record"]].values.tolist() == [[2, 1]]


def test_lateness_is_measured_against_the_latest_time_seen_for_the_service():
    rows = [(10, "a", "ERROR", None, None), (4, "a", "ERROR", None, None), (3, "b", "ERROR", None, None),
            (12, "a", "ERROR", None, None)]
    frame = normalize(events(rows), NormalizeConfig()).frame
    late = dict(zip(frame["record"], frame["lateness_ms"]))
    assert late == {1: 0.0, 2: 6000.0, 3: 0.0, 4: 0.0}  # service b has its own clock
    assert frame.loc[frame["record"] == 2, "late"].item()


def test_allowed_lateness_suppresses_the_late_flag_but_not_the_measure():
    rows = [(10, "a", "ERROR", None, None), (9, "a", "ERROR", None, None)]
    frame = normalize(events(rows), NormalizeConfig(allowed_lateness_ms=1500)).frame
    assert not frame["late"].any() and frame["lateness_ms"].max() == 1000.0


def test_sort_is_stable_on_timestamp_then_arrival():
    rows = [(5, "a", "STOP", None, "x"), (1, "a", "START", None, "y"), (5, "a", "START", None, "x")]
    assert normalize(events(rows), NormalizeConfig()).frame["record"].tolist() == [2, 1, 3]


def test_latency_spike_is_flagged_relative_to_the_service_median():
    rows = [(i, "a", "STOP", 10.0, None) for i in range(9)] + [(9, "a", "STOP", 500.0, None)]
    frame = normalize(events(rows), NormalizeConfig(latency_spike_factor=10)).frame
    assert frame["latency_spike"].tolist() == [False] * 9 + [True]


def test_inputs_are_not_mutated():
    frame = events([(1, "a", "START", None, "k"), (0, "a", "START", None, "k")])
    before = frame.copy()
    normalize(frame, NormalizeConfig())
    pd.testing.assert_frame_equal(frame, before)
    assert np.array_equal(frame["record"], [1, 2])
