"""Synthetic logs: the file says what the truth says, and the truth is what a perfect
reconstruction must report. Checks read the written CSVs, as the pipeline would."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re

import numpy as np
import pandas as pd
import pytest

from logrecon import generate as generate_module
from logrecon.errors import ConfigError
from logrecon.generate import (
    FaultRates,
    add_cli_arguments,
    cli_generate_kwargs,
    format_iso_ms,
    from_cli_args,
    generate,
    write_generated,
)

ROWS = 30_000
# Default rates, but outages every few minutes so that a small set has some.
RATES = FaultRates(outage=20.0, outage_min_s=60, outage_max_s=120)
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


@pytest.fixture(scope="module", params=[True, False], ids=["keyed", "unkeyed"])
def written(request, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    generated = generate(ROWS, seed=11, rates=RATES, session_ids=request.param)
    paths = write_generated(out, generated)
    logs = _read(paths["logs"])
    logs["record"] = np.arange(1, len(logs) + 1)
    logs["ts"] = pd.to_datetime(logs["timestamp"], format="ISO8601", utc=True, errors="coerce")
    records = _read(paths["records"])
    records["record"] = records["record"].astype(int)
    sessions = _read(paths["sessions"])
    outages = _read(paths["outages"])
    params = json.loads(paths["params"].read_text())
    return {"logs": logs, "records": records, "sessions": sessions, "outages": outages,
            "params": params, "paths": paths, "ids": request.param, "generated": generated}


def _faulted(records, label):
    return records["faults"].fillna("").str.split(";").apply(lambda xs: label in xs).to_numpy()


def _usable(logs):
    """Records a pipeline keeps: parseable timestamp inside 2000-2100."""
    ts = logs["ts"]
    return ts.notna() & (ts.dt.year >= 2000) & (ts.dt.year < 2100)


def test_same_seed_gives_identical_data_and_another_seed_does_not():
    a, b = generate(3000, seed=5), generate(3000, seed=5)
    for name in ("logs", "records", "sessions", "outages"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert not generate(3000, seed=6).logs.equals(a.logs)


@pytest.mark.parametrize("rows", [0, 1, 2, 3, 10, 999, 12_345])
def test_rows_is_the_exact_number_of_records(rows):
    generated = generate(rows, seed=1)
    assert len(generated.logs) == len(generated.records) == rows


def test_logs_csv_header_and_timestamp_format(written):
    header = written["paths"]["logs"].read_text().split("\n", 1)[0]
    assert header == "timestamp,service,event_type,latency_ms,session_id"
    clean = written["records"]["faults"].isna() | ~(
        _faulted(written["records"], "missing_timestamp")
        | _faulted(written["records"], "corrupt_timestamp")
        | _faulted(written["records"], "out_of_range_timestamp"))
    assert written["logs"].loc[clean, "timestamp"].str.match(ISO_MS).all()
    assert set(written["logs"]["event_type"]) == {"START", "STOP", "ERROR"}


def test_truth_files_have_contract_columns(written):
    assert list(written["records"].columns) == [
        "record", "true_timestamp", "service", "event_type", "session_id", "faults",
        "duplicate_of", "lateness_ms"]
    assert list(written["sessions"].columns)[:8] == [
        "service", "session_id", "start_record", "stop_record", "start_time", "stop_time",
        "duration_ms", "expected_status"]
    assert list(written["outages"].columns) == ["service", "outage_start", "outage_end"]
    params = written["params"]
    assert {"rows", "seed", "rates", "services", "session_ids"} <= set(params)
    assert params["rates"]["outage"] == 20.0
    assert (written["records"]["record"].to_numpy() == np.arange(1, ROWS + 1)).all()


def test_truth_records_the_digest_and_size_of_the_logs_it_describes(written):
    logs = written["paths"]["logs"]
    assert json.loads(written["paths"]["logs_digest"].read_text()) == {
        "file": "logs.csv", "sha256": hashlib.sha256(logs.read_bytes()).hexdigest(),
        "records": ROWS}


def test_a_truth_rewritten_only_in_part_keeps_no_digest(tmp_path, monkeypatch):
    """A stale digest would vouch for truth files that no longer describe the logs."""
    write_generated(tmp_path, generate(500, seed=1))
    write_csv = generate_module._write_csv

    def failing_on_records(frame, path):
        if path.name == "records.csv":
            raise OSError("disk full")
        return write_csv(frame, path)

    monkeypatch.setattr(generate_module, "_write_csv", failing_on_records)
    with pytest.raises(OSError, match="disk full"):
        write_generated(tmp_path, generate(500, seed=2))
    assert not (tmp_path / "truth" / "logs_digest.json").exists()


def test_missing_timestamp_label_means_empty_timestamp(written):
    labelled = _faulted(written["records"], "missing_timestamp")
    assert labelled.sum() > 0
    assert (written["logs"]["timestamp"].isna().to_numpy() == labelled).all()


def test_corrupt_timestamps_do_not_parse_and_out_of_range_ones_parse_outside_window(written):
    logs, records = written["logs"], written["records"]
    corrupt = _faulted(records, "corrupt_timestamp")
    out_of_range = _faulted(records, "out_of_range_timestamp")
    assert corrupt.sum() > 0 and out_of_range.sum() > 0
    assert logs.loc[corrupt, "ts"].isna().all()
    assert logs.loc[corrupt, "timestamp"].notna().all()
    years = logs.loc[out_of_range, "ts"].dt.year
    assert years.notna().all() and ((years < 2000) | (years >= 2100)).all()
    assert (_usable(logs).to_numpy() == ~(corrupt | out_of_range
                                          | _faulted(records, "missing_timestamp"))).all()


def test_clean_timestamps_are_the_true_ones_except_clock_skewed_stops(written):
    logs, records = written["logs"], written["records"]
    true_ts = pd.to_datetime(records["true_timestamp"], format="ISO8601", utc=True)
    usable = _usable(logs).to_numpy()
    skewed = _faulted(records, "clock_skew")
    same = (logs["ts"] == true_ts).to_numpy()
    assert same[usable & ~skewed].all()
    assert not same[skewed].any()


def test_every_duplicate_is_an_exact_earlier_record_copy(written):
    logs, records = written["logs"], written["records"]
    dup = _faulted(records, "duplicate")
    assert dup.sum() == round(ROWS * RATES.duplicate)
    copies = records.loc[dup]
    original = copies["duplicate_of"].astype(int).to_numpy()
    assert (original < copies["record"].to_numpy()).all()
    canonical = ["timestamp", "service", "event_type", "latency_ms", "session_id"]
    left = logs.loc[dup, canonical].reset_index(drop=True)
    right = logs.set_index("record").loc[original, canonical].reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right)
    assert records["duplicate_of"].notna().sum() == dup.sum()


def test_distinct_records_never_share_canonical_values(written):
    logs, records = written["logs"], written["records"]
    usable = _usable(logs) & ~_faulted(records, "duplicate")
    canonical = ["timestamp", "service", "event_type", "latency_ms", "session_id"]
    assert not logs.loc[usable, canonical].duplicated().any()


def test_late_label_is_exactly_a_positive_lateness_measured_on_the_file(written):
    logs, records = written["logs"], written["records"]
    kept = logs.loc[_usable(logs) & ~_faulted(records, "duplicate")]
    lateness = kept.groupby("service", observed=True)["ts"].cummax() - kept["ts"]
    measured = pd.Series(0.0, index=logs.index)
    measured[kept.index] = lateness.dt.total_seconds() * 1000
    late = _faulted(records, "late")
    assert late.sum() >= 0.95 * round(ROWS * RATES.late)
    assert ((measured > 0).to_numpy() == late).all()
    truth_ms = records["lateness_ms"].astype(float)
    assert np.allclose(truth_ms[late], measured[late])
    assert truth_ms[~late].isna().all()


def test_copies_do_not_change_the_lateness_of_other_records(written):
    logs, records = written["logs"], written["records"]
    usable = logs.loc[_usable(logs)]
    with_copies = usable.groupby("service", observed=True)["ts"].cummax() - usable["ts"]
    originals = ~_faulted(records, "duplicate")[usable.index]
    late = _faulted(records, "late")[usable.index]
    assert ((with_copies > pd.Timedelta(0)).to_numpy()[originals] == late[originals]).all()


def test_session_duration_is_stop_minus_start_and_stop_latency_equals_it(written):
    sessions, logs = written["sessions"], written["logs"]
    start = pd.to_datetime(sessions["start_time"], format="ISO8601", utc=True)
    stop = pd.to_datetime(sessions["stop_time"], format="ISO8601", utc=True)
    duration = sessions["duration_ms"].astype(int)
    assert ((stop - start) // pd.Timedelta(milliseconds=1) == duration).all()
    assert (duration > 0).all()
    has_stop = sessions["stop_record"].notna()
    stop_rows = logs.set_index("record").loc[sessions.loc[has_stop, "stop_record"].astype(int)]
    assert (stop_rows["event_type"] == "STOP").all()
    assert (stop_rows["latency_ms"].astype(int).to_numpy()
            == duration[has_stop].to_numpy()).all()
    assert logs.loc[logs["event_type"] != "STOP", "latency_ms"].isna().all()


def test_session_records_point_at_their_own_events(written):
    sessions, records = written["sessions"], written["records"].set_index("record")
    for end, kind in (("start_record", "START"), ("stop_record", "STOP")):
        rows = sessions[sessions[end].notna()]
        events = records.loc[rows[end].astype(int)]
        assert (events["event_type"] == kind).all()
        assert (events["session_id"].to_numpy() == rows["session_id"].to_numpy()).all()
    assert sessions["session_id"].is_unique


def test_errors_lie_strictly_inside_their_session(written):
    records, sessions = written["records"], written["sessions"].set_index("session_id")
    errors = records[records["event_type"] == "ERROR"]
    assert 0.02 * len(sessions) < len(errors) < 0.04 * len(sessions)
    t = pd.to_datetime(errors["true_timestamp"], format="ISO8601", utc=True).to_numpy()
    own = sessions.loc[errors["session_id"]]
    start = pd.to_datetime(own["start_time"], format="ISO8601", utc=True).to_numpy()
    stop = pd.to_datetime(own["stop_time"], format="ISO8601", utc=True).to_numpy()
    assert ((start < t) & (t < stop)).all()


def test_expected_status_follows_the_end_that_is_missing(written):
    sessions = written["sessions"]
    start, stop = sessions["start_record"].notna(), sessions["stop_record"].notna()
    status = sessions["expected_status"]
    skew = sessions["faults"].fillna("").str.contains("clock_skew")
    assert (start | stop).all()
    assert (status[~start] == "missing_start").all()
    assert (status[~stop] == "missing_stop").all()
    assert (status[start & stop & ~skew] == "complete").all()
    assert skew.sum() == round(len(sessions) * RATES.clock_skew)
    assert (status[skew] == ("clock_skew" if written["ids"] else "missing_start")).all()
    counts = status.value_counts()
    assert counts["missing_start"] > 0 and counts["missing_stop"] > 0


def test_clock_skewed_stop_is_logged_before_its_start(written):
    logs, sessions = written["logs"].set_index("record"), written["sessions"]
    skew = sessions[sessions["faults"].fillna("").str.contains("clock_skew")]
    stop_ts = logs.loc[skew["stop_record"].astype(int), "ts"].to_numpy()
    start_ts = logs.loc[skew["start_record"].astype(int), "ts"].to_numpy()
    assert (stop_ts < start_ts).all()


def test_outages_leave_a_window_without_events(written):
    logs, outages = written["logs"], written["outages"]
    assert len(outages) > 0
    usable = logs.loc[_usable(logs)]
    for row in outages.itertuples():
        lo = pd.Timestamp(row.outage_start)
        hi = pd.Timestamp(row.outage_end)
        ts = usable.loc[usable["service"] == row.service, "ts"]
        assert not ((ts > lo) & (ts < hi)).any()
        assert (ts <= lo).any() and (ts >= hi).any()


def test_many_sessions_are_open_at_once_per_service():
    sessions = generate(40_000, seed=2).sessions
    for service, group in sessions.groupby("service", observed=True):
        start = np.sort(group["start_time"].astype("int64").to_numpy())
        stop = np.sort(group["stop_time"].astype("int64").to_numpy())
        lo, hi = np.quantile(start, [0.1, 0.9])     # away from the warm-up and the tail
        probe = start[(start >= lo) & (start <= hi)]
        open_now = np.searchsorted(start, probe, "right") - np.searchsorted(stop, probe, "right")
        assert open_now.mean() >= 20, service


def test_without_session_ids_the_column_is_present_but_empty(written):
    if written["ids"]:
        assert written["logs"]["session_id"].notna().all()
    else:
        assert written["paths"]["logs"].read_text().split("\n", 2)[1].endswith(",")
        assert written["logs"]["session_id"].isna().all()
    assert written["records"]["session_id"].notna().all()


def test_zero_rates_give_clean_complete_sessions():
    zero = FaultRates(**{f.name: 0.0 for f in dataclasses.fields(FaultRates)
                         if f.metadata["rate"]})
    generated = generate(5000, seed=3, rates=zero)
    assert generated.records["faults"].fillna("").eq("").all()
    assert (generated.sessions["expected_status"] == "complete").all()
    assert len(generated.outages) == 0


def test_latency_jitter_perturbs_stop_latency_only():
    generated = generate(5000, seed=3, rates=FaultRates(latency_jitter_ms=50))
    logs, sessions = generated.logs, generated.sessions
    stops = sessions.dropna(subset=["stop_record"])
    latency = logs["latency_ms"].to_numpy()[stops["stop_record"].to_numpy(int) - 1]
    assert (latency != stops["duration_ms"].to_numpy()).mean() > 0.5


@pytest.mark.parametrize("bad", [
    {"duplicate": -0.1}, {"late": 1.5}, {"partial": float("nan")},
    {"outage_min_s": 100, "outage_max_s": 10}, {"partial": 0.6},
])
def test_impossible_rates_are_a_config_error(bad):
    with pytest.raises(ConfigError):
        FaultRates(**bad)


def test_cli_options_map_to_generate_arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    add_cli_arguments(parser)
    args = parser.parse_args(["--out", "x", "--rows", "500", "--seed", "4", "--no-session-id",
                              "--late-rate", "0.05", "--max-lateness-ms", "2000"])
    rows, seed, services, session_ids, rates = from_cli_args(args)
    assert (rows, seed, services, session_ids) == (500, 4, 12, False)
    assert rates == dataclasses.replace(FaultRates(), late=0.05, max_lateness_ms=2000)
    assert generate(**cli_generate_kwargs(args)).logs["session_id"].isna().all()
    defaults = parser.parse_args([])
    assert defaults.rows == 20_000 and from_cli_args(defaults)[4] == FaultRates()


def test_iso_formatting_matches_pandas():
    ms = np.array([0, -1, 951_868_799_999, 1_735_689_601_234, 4_102_444_800_000])
    expected = (pd.Series(ms.view("datetime64[ms]")).dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
                .str[:-3] + "Z").tolist()
    assert format_iso_ms(ms).to_pylist() == expected
