"""Session reconstruction: pairing rules, statuses, conservation, strategies."""

from __future__ import annotations

import numpy as np
import pytest

from logrecon.config import SessionsConfig
from logrecon.normalize import normalize
from logrecon.config import NormalizeConfig
from logrecon.sessions import choose_strategy, pair_fifo, pair_latency, pair_lifo, sessions

from frames import events


def reconstruct(rows, **cfg):
    ordered = normalize(events(rows), NormalizeConfig()).frame
    return sessions(ordered, SessionsConfig(**cfg)).frame


def pairs(table, status="complete"):
    chosen = table[table["status"] == status]
    return sorted(zip(chosen["start_record"].astype("Int64").tolist(), chosen["stop_record"].astype("Int64").tolist()))


def test_keyed_stop_closes_the_earliest_open_start_of_its_key():
    table = reconstruct([(0, "a", "START", None, "k"), (1, "a", "START", None, "k"),
                         (2, "a", "STOP", None, "k"), (3, "a", "STOP", None, "k")])
    assert pairs(table) == [(1, 3), (2, 4)]
    assert table["duration_ms"].tolist() == [2000.0, 2000.0]


def test_stop_without_start_is_reported_not_dropped():
    table = reconstruct([(0, "a", "STOP", 5.0, "k")])
    assert table["status"].tolist() == ["missing_start"]
    assert table["stop_record"].tolist() == [1]
    assert table["duration_ms"].isna().all() and not table["start_inferred"].any()


def test_start_never_closed_is_missing_stop():
    table = reconstruct([(0, "a", "START", None, "k"), (1, "a", "ERROR", None, "k")])
    assert table["status"].tolist() == ["missing_stop"]
    assert table["errors"].tolist() == [1]


def test_keyed_stop_before_its_start_is_clock_skew_naming_both_records():
    table = reconstruct([(5, "a", "STOP", None, "k"), (9, "a", "START", None, "k")])
    assert table["status"].tolist() == ["clock_skew"]
    assert (table["start_record"].tolist(), table["stop_record"].tolist()) == ([2], [1])
    assert table["duration_ms"].isna().all()


def test_stop_and_start_at_the_same_instant_are_not_clock_skew():
    table = reconstruct([(5, "a", "STOP", None, "k"), (5, "a", "START", None, "k")])
    assert sorted(table["status"]) == ["missing_start", "missing_stop"]


def test_inferred_start_from_latency_stays_missing_start_with_that_duration():
    table = reconstruct([(10, "a", "STOP", 250.0, "r")], infer_start_from_latency=True)
    row = table.iloc[0]
    assert row["status"] == "missing_start" and bool(row["start_inferred"])
    assert row["duration_ms"] == 250.0
    assert row["start_time"] == row["stop_time"] - np.timedelta64(250, "ms")


def test_max_session_closes_old_starts_as_timed_out_and_keeps_the_stop():
    table = reconstruct([(0, "a", "START", None, "k"), (100, "a", "STOP", None, "k"),
                         (120, "a", "START", None, "j"), (150, "a", "START", None, "i"),
                         (200, "b", "ERROR", None, None)], max_session_s=50)
    status = dict(zip(zip(table["session_id"], table["status"]), table["start_record"].astype("Int64")))
    assert sorted(table["status"]) == ["missing_start", "missing_stop", "timed_out", "timed_out"]
    assert status[("k", "timed_out")] == 1 and status[("j", "timed_out")] == 3
    assert status[("i", "missing_stop")] == 4  # open 50 s at the end: not older than the limit


def test_unkeyed_fifo_and_lifo_differ_on_nesting():
    rows = [(0, "t", "START", None, None), (2, "t", "START", None, None),
            (5, "t", "STOP", None, None), (11, "t", "STOP", None, None)]
    assert pairs(reconstruct(rows, strategy="fifo")) == [(1, 3), (2, 4)]
    assert pairs(reconstruct(rows, strategy="lifo")) == [(1, 4), (2, 3)]


def test_latency_strategy_matches_stop_to_the_start_at_stop_minus_latency():
    rows = [(0, "t", "START", None, None), (2, "t", "START", None, None),
            (5, "t", "STOP", 3000.0, None), (11, "t", "STOP", 11000.0, None)]
    table = reconstruct(rows, strategy="latency")
    assert pairs(table) == [(1, 4), (2, 3)]
    assert set(table["strategy"]) == {"latency"}


def test_latency_conflicts_are_resolved_by_the_closest_claim():
    # Both STOPs point nearest to START 2; the exact one wins, the other takes START 1 if in reach.
    ns = np.array([0, 1_000_000, 5_000_000, 6_000_000], dtype=np.int64)  # ms resolution
    is_start = np.array([True, True, False, False])
    latency = np.array([np.nan, np.nan, 4.0, 5.4])
    pairing = pair_latency(ns, is_start, latency, tolerance_ms=1.0)
    assert sorted(zip(pairing.start.tolist(), pairing.stop.tolist())) == [(0, 3), (1, 2)]


def overlapping_stream(n=300, jitter_ms=0.0, seed=0, honest=True):
    """n unkeyed sessions, ~25 open at once; STOP latency = duration (± jitter) or noise."""
    rng = np.random.default_rng(seed)
    start = np.sort(rng.uniform(0, n * 200, n)).round() * 1_000_000          # ns, ~200 ms apart
    duration = rng.lognormal(np.log(5000), 0.5, n)                           # ms
    stop = start + (duration * 1_000_000).round()
    reported = duration + rng.uniform(-jitter_ms, jitter_ms, n) if honest else rng.uniform(1, 50, n)
    ns = np.concatenate([start, stop]).astype(np.int64)
    is_start = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    latency = np.r_[np.full(n, np.nan), reported]
    order = np.argsort(ns, kind="stable")
    truth = {(int(np.flatnonzero(order == i)[0]), int(np.flatnonzero(order == n + i)[0])) for i in range(n)}
    return ns[order], is_start[order], latency[order], truth


def test_auto_picks_latency_only_when_latencies_point_at_starts():
    ns, is_start, latency, _ = overlapping_stream()
    assert choose_strategy(ns, is_start, latency)[0] == "latency"
    ns, is_start, latency, _ = overlapping_stream(honest=False)
    strategy, why = choose_strategy(ns, is_start, latency)
    assert strategy == "fifo" and "do not point at STARTs" in why


@pytest.mark.parametrize("jitter_ms", [0.0, 5.0, 20.0])
def test_latency_pairing_survives_logging_jitter_with_many_sessions_open(jitter_ms):
    ns, is_start, latency, truth = overlapping_stream(n=600, jitter_ms=jitter_ms, seed=1)
    pairing = pair_latency(ns, is_start, latency)
    found = set(zip(pairing.start.tolist(), pairing.stop.tolist()))
    assert len(found & truth) / len(truth) >= {0.0: 0.99, 5.0: 0.97, 20.0: 0.9}[jitter_ms]  # fifo: ~0.02


@pytest.mark.parametrize("pair", [pair_fifo, pair_lifo])
def test_every_start_and_stop_lands_in_exactly_one_place(pair):
    rng = np.random.default_rng(3)
    key = rng.integers(0, 5, 400)
    is_start = rng.random(400) < 0.5
    result = pair(key, is_start)
    used = np.concatenate([result.start, result.stop, result.lone_starts, result.lone_stops])
    assert sorted(used.tolist()) == list(range(400))
    assert is_start[result.start].all() and not is_start[result.stop].any()
    assert (result.start < result.stop).all()  # a pair never closes before it opens (time order)
    assert (key[result.start] == key[result.stop]).all()


def test_errors_are_counted_in_their_keyed_session_window():
    table = reconstruct([(0, "a", "START", None, "k"), (1, "a", "ERROR", None, "k"), (2, "a", "STOP", None, "k"),
                         (3, "a", "ERROR", None, "k")])
    assert table["errors"].tolist() == [1]
    assert table["events"].tolist() == [3]


def test_keys_of_different_services_never_collide_even_with_ids_seen_only_on_errors():
    table = reconstruct([(0, "c", "ERROR", None, "y"), (1, "c", "ERROR", None, "e1"), (2, "c", "ERROR", None, "e2"),
                         (3, "a", "START", None, "x"), (4, "b", "STOP", None, "y")])
    assert sorted(zip(table["service"], table["status"])) == [("a", "missing_stop"), ("b", "missing_start")]
