"""Artifacts: ISO-8601 UTC with Z at the data's precision, deterministic CSVs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from logrecon import artifacts


@pytest.mark.parametrize("digits, text", [
    (0, "2000-02-29T23:59:59Z"), (3, "2000-02-29T23:59:59.123Z"),
    (6, "2000-02-29T23:59:59.123456Z"), (9, "2000-02-29T23:59:59.123456789Z"),
])
def test_times_are_written_utc_with_z_at_the_requested_precision(digits, text):
    value = pd.Series(pd.to_datetime(["2000-02-29T23:59:59.123456789Z"], utc=True)).astype("datetime64[ns, UTC]")
    assert artifacts.format_utc(value, digits).to_pylist() == [text]


def test_formatting_agrees_with_pandas_over_a_long_range():
    ns = np.random.default_rng(0).integers(946684800 * 10**9, 4102444799 * 10**9, 2000)
    values = pd.Series(pd.to_datetime(ns, unit="ns", utc=True))
    expected = values.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    assert artifacts.format_utc(values, 3).to_pylist() == expected.tolist()


def test_microsecond_datetimes_are_not_misread_as_nanoseconds():
    values = pd.Series(pd.to_datetime(["2024-02-29T12:00:00Z", None], utc=True)).astype("datetime64[us, UTC]")
    assert artifacts.format_utc(values, 3).to_pylist() == ["2024-02-29T12:00:00.000Z", None]


def test_csv_round_trip_keeps_values_and_booleans(tmp_path):
    frame = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01T00:00:00.5Z"], utc=True),
                          "service": pd.Categorical(["a,b"]), "late": [True], "n": [3]})
    path = artifacts.write_csv(frame, tmp_path / "x.csv", digits=3)
    assert path.read_text().splitlines()[1].startswith('"2024-01-01T00:00:00.500Z","a,b",true,3')
    back = artifacts.read_csv(path)
    assert back["timestamp"][0] == pd.Timestamp("2024-01-01T00:00:00.5Z") and back["service"][0] == "a,b"
    assert not list(tmp_path.glob(".*partial*"))


def test_values_are_quoted_only_in_chunks_that_need_it(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "CSV_CHUNK_ROWS", 2)
    frame = pd.DataFrame({"text": ["plain", "also plain", 'a "quote"', "x,y", "line\nbreak", None],
                          "flag": pd.array([True, None, False, True, False, True], dtype="boolean")})
    path = artifacts.write_csv(frame, tmp_path / "q.csv")
    assert path.read_text().splitlines()[:3] == ['"text","flag"', "plain,true", "also plain,"]
    back = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert back["text"].tolist()[:5] == ["plain", "also plain", 'a "quote"', "x,y", "line\nbreak"]
    assert back["text"].isna().tolist() == [False] * 5 + [True]
    assert back["flag"].astype("boolean").tolist() == [True, pd.NA, False, True, False, True]


def test_an_offset_is_not_mistaken_for_fraction_digits(tmp_path):
    from logrecon import pipeline
    source = tmp_path / "o.csv"
    source.write_text("timestamp,service,event_type\n2024-03-10T15:30:05+05:30,a,START\n")
    pipeline.run([source], tmp_path / "run", plots=False)
    assert (tmp_path / "run" / "cleaned_logs.csv").read_text().splitlines()[1].startswith('2024-03-10T10:00:05Z,')


def test_an_inferred_start_keeps_the_digits_it_needs_in_a_run_of_whole_seconds(tmp_path):
    from logrecon import pipeline
    source = tmp_path / "s.csv"
    source.write_text("timestamp,service,event_type,latency_ms,session_id\n2024-03-10T15:30:05Z,a,STOP,250,r1\n")
    pipeline.run([source], tmp_path / "run", plots=False, infer_start_from_latency=True)
    sessions = (tmp_path / "run" / "reconstructed_sessions.csv").read_text().splitlines()[1]
    assert sessions.startswith("a,r1,missing_start,2024-03-10T15:30:04.750Z,2024-03-10T15:30:05.000Z,250,")
    cleaned = (tmp_path / "run" / "cleaned_logs.csv").read_text().splitlines()[1]
    assert cleaned.startswith("2024-03-10T15:30:05Z,")   # the events keep the input's precision
