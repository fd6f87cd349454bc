"""Ingest: raw records → canonical events, or quarantine rows listing every reason.

A record is quarantined only when it cannot be an event (malformed; no usable timestamp, service or
event type), with each failing field and its reason; an invalid latency never quarantines: it is
nulled with an `invalid_latency` issue. Service is trimmed and case-sensitive ("NA", "null" are
names); event type is trimmed and case-insensitive; an empty session id is none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from logrecon.config import Config
from logrecon.ingest import MAX_RECORD_SIZE, ingest

T = "2024-03-10T07:00:00Z"
CFG = Config().ingest


def records(rows: list[dict], json_like: bool = False) -> pd.DataFrame:
    n = len(rows)
    frame = pd.DataFrame({"source": pd.Series(["f.csv"] * n, dtype="str"), "record": np.arange(1, n + 1)})
    for column in ("timestamp", "service", "event_type", "latency_ms", "session_id"):
        frame[column] = pd.Series([r.get(column) for r in rows], dtype=object if json_like else "str")
    for extra in sorted({k for r in rows for k in r} - set(frame.columns) - {"malformed"}):
        frame[extra] = pd.Series([r.get(extra) for r in rows], dtype="str")
    frame["malformed"] = pd.Series([r.get("malformed") for r in rows], dtype="str")
    return frame


def event(**fields) -> dict:
    return {"timestamp": T, "service": "api", "event_type": "START", **fields}


def quarantine_rows(result) -> list[tuple]:
    q = result.tables["quarantine"]
    return list(zip(q["record"], q["reasons"], q["fields"]))


# -------------------------------------------------------------------------------- latency
@pytest.mark.parametrize("raw, value", [("120", 120.0), ("120.5", 120.5), ("0", 0.0), ("1e3", 1000.0),
                                        (".5", 0.5), ("5.", 5.0), (" 7 ", 7.0)])
def test_latency_bare_finite_non_negative_number_is_kept(raw, value):
    result = ingest(records([event(latency_ms=raw)]), CFG)
    assert result.frame["latency_ms"].tolist() == [value] and result.issues.empty


@pytest.mark.parametrize("raw", ["120ms", "NaN", "-5", "1,250", "inf", "0x10", "1_000", "+5", "１２", "12 ms", "1e"])
def test_latency_present_but_invalid_is_nulled_with_an_issue_and_the_row_kept(raw):
    result = ingest(records([event(latency_ms=raw)]), CFG)
    assert len(result.frame) == 1 and result.frame["latency_ms"].isna().all()
    assert result.tables["quarantine"].empty
    issue = result.issues.iloc[0]
    assert (issue["record"], issue["field"], issue["reason"], issue["action"]) == (1, "latency_ms", "invalid_latency",
                                                                                   "nulled")
    assert issue["detail"] == f"value {raw}"


@pytest.mark.parametrize("raw", ["", None])
def test_latency_absent_is_null_without_an_issue(raw):
    result = ingest(records([event(latency_ms=raw)]), CFG)
    assert result.frame["latency_ms"].isna().all() and result.issues.empty


@pytest.mark.parametrize("raw, value", [(120, 120.0), (120.5, 120.5), ("120", 120.0), (None, None)])
def test_latency_json_numbers_and_numeric_text_are_kept(raw, value):
    result = ingest(records([event(latency_ms=raw)], json_like=True), CFG)
    kept = result.frame["latency_ms"].iloc[0]
    assert (np.isnan(kept) if value is None else kept == value) and result.issues.empty


@pytest.mark.parametrize("raw, detail", [(-5, "value -5"), (float("nan"), "value NaN"), (float("inf"), "value inf"),
                                         (True, "value True"), ({"ms": 1}, "value {'ms': 1}"), ([1], "value [1]")])
def test_latency_json_wrong_type_or_value_is_nulled_with_an_issue(raw, detail):
    result = ingest(records([event(latency_ms=raw)], json_like=True), CFG)
    assert len(result.frame) == 1 and result.frame["latency_ms"].isna().all()
    assert result.issues["reason"].tolist() == ["invalid_latency"] and result.issues["detail"].tolist() == [detail]


# --------------------------------------------------------------------- service, event type
@pytest.mark.parametrize("raw, kept", [(" api ", "api"), ("\tapi\n", "api"), ("API", "API"), ("Api", "Api")])
def test_service_is_trimmed_and_case_sensitive(raw, kept):
    assert ingest(records([event(service=raw)]), CFG).frame["service"].tolist() == [kept]


@pytest.mark.parametrize("name", ["NA", "null", "None", "nan", "N/A", "NULL", "-", "0", "false"])
def test_na_like_service_names_are_ordinary_names(name):
    result = ingest(records([event(service=name)]), CFG)
    assert result.frame["service"].tolist() == [name] and result.tables["quarantine"].empty


@pytest.mark.parametrize("raw, kept", [(7, "7"), (1.5, "1.5"), (True, "true"), ({"a": 1}, '{"a": 1}'),
                                       (["x"], '["x"]')])
def test_json_non_string_service_becomes_its_json_text_not_a_crash(raw, kept):
    assert ingest(records([event(service=raw)], json_like=True), CFG).frame["service"].tolist() == [kept]


@pytest.mark.parametrize("raw, kept", [("START", "START"), ("start", "START"), (" Stop ", "STOP"),
                                       ("error\t", "ERROR"), ("sToP", "STOP")])
def test_event_type_is_trimmed_and_case_insensitive(raw, kept):
    assert ingest(records([event(event_type=raw)]), CFG).frame["event_type"].tolist() == [kept]


@pytest.mark.parametrize("raw", ["STARTED", "BEGIN", "S T A R T", "ＳＴＡＲＴ", "ſtart", "ﬆart", "START;STOP", "1"])
def test_unknown_event_type_is_quarantined_as_invalid_event_type(raw):
    result = ingest(records([event(event_type=raw)]), CFG)
    assert result.frame.empty
    assert quarantine_rows(result) == [(1, "invalid_event_type", "event_type")]
    assert result.tables["quarantine"]["event_type"].tolist() == [raw]  # the raw value, kept


@pytest.mark.parametrize("field", ["service", "event_type", "timestamp"])
@pytest.mark.parametrize("raw", ["", "   ", None])
def test_empty_required_field_is_quarantined_as_missing_field(field, raw):
    result = ingest(records([event(**{field: raw})]), CFG)
    assert quarantine_rows(result) == [(1, "missing_field", field)]


@pytest.mark.parametrize("raw, kept", [(" s1 ", "s1"), ("S1", "S1"), ("", None), ("   ", None), (None, None)])
def test_session_id_is_trimmed_and_empty_means_none(raw, kept):
    value = ingest(records([event(session_id=raw)]), CFG).frame["session_id"].iloc[0]
    assert (pd.isna(value) if kept is None else value == kept)


# ------------------------------------------------------------------------------ quarantine
def test_every_failing_field_is_listed_with_its_reason_in_order():
    result = ingest(records([{"timestamp": "bad", "service": "", "event_type": "x", "latency_ms": "-1"},
                             {"timestamp": None, "service": None, "event_type": None},
                             {"timestamp": "03/04/2024", "service": "api", "event_type": "BEGIN"},
                             {"timestamp": "1990-01-01T00:00:00Z", "service": "api", "event_type": "STOP"}]), CFG)
    assert quarantine_rows(result) == [
        (1, "invalid_timestamp;missing_field;invalid_event_type", "timestamp;service;event_type"),
        (2, "missing_field;missing_field;missing_field", "timestamp;service;event_type"),
        (3, "ambiguous_timestamp;invalid_event_type", "timestamp;event_type"),
        (4, "timestamp_out_of_range", "timestamp"),
    ]
    assert result.issues.empty  # a quarantined record's latency is not judged as an issue too


def test_quarantine_keeps_raw_values_untrimmed_and_absent_ones_empty():
    q = ingest(records([{"timestamp": " bad ", "service": " a ", "event_type": None, "session_id": " s "}]),
               CFG).tables["quarantine"]
    assert q[["timestamp", "service", "session_id"]].iloc[0].tolist() == [" bad ", " a ", " s "]
    assert q["event_type"].iloc[0] is None and q["detail"].iloc[0] is None


def test_quarantine_shows_json_values_as_the_input_spelled_them():
    q = ingest(records([{"timestamp": "bad", "service": True, "event_type": {"a": 1}, "latency_ms": [1.5],
                         "session_id": 7}], json_like=True), CFG).tables["quarantine"]
    assert q[["service", "event_type", "latency_ms", "session_id"]].iloc[0].tolist() == ["true", '{"a": 1}', "[1.5]",
                                                                                         "7"]


def test_malformed_record_has_one_reason_and_its_fields_are_not_judged():
    result = ingest(records([event(malformed="2 fields, header has 3", timestamp=None, service=None)]), CFG)
    assert quarantine_rows(result) == [(1, "malformed_row", "row")]
    assert result.tables["quarantine"]["detail"].tolist() == ["2 fields, header has 3"]


def test_record_over_the_size_limit_is_malformed_with_its_size_and_a_preview():
    result = ingest(records([event(service="x" * (MAX_RECORD_SIZE + 1)), event()]), CFG)
    assert quarantine_rows(result) == [(1, "malformed_row", "row")]
    detail = result.tables["quarantine"]["detail"].iloc[0]
    assert "more than the" in detail and str(MAX_RECORD_SIZE) in detail
    assert len(result.tables["quarantine"]["service"].iloc[0]) == 1000
    assert result.frame["record"].tolist() == [2]


def test_record_just_under_the_size_limit_is_an_event():
    result = ingest(records([event(service="x" * (MAX_RECORD_SIZE - 100))]), CFG)
    assert len(result.frame) == 1 and result.tables["quarantine"].empty


def test_every_record_is_an_event_or_a_quarantine_row_and_arrival_is_kept():
    rows = [event(), event(timestamp="bad"), event(service=""), event(event_type="STOP"), event(latency_ms="x")]
    result = ingest(records(rows), CFG)
    assert len(result.frame) + len(result.tables["quarantine"]) == len(rows)
    assert result.frame["record"].tolist() == [1, 4, 5] and result.frame["arrival"].tolist() == [0, 3, 4]
    assert result.stats["records"] == 5 and result.stats["events"] == 3 and result.stats["quarantined"] == 2


def test_extra_columns_travel_with_events_and_ingest_never_mutates_its_input():
    frame = records([event(host="h1"), event(host="h2", service="")])
    before = frame.copy()
    result = ingest(frame, CFG)
    pd.testing.assert_frame_equal(frame, before)
    assert result.frame["host"].tolist() == ["h1"]


@pytest.mark.parametrize("json_like", [False, True])
def test_an_empty_records_frame_gives_empty_events(json_like):
    result = ingest(records([], json_like=json_like), CFG)
    assert result.frame.empty and result.tables["quarantine"].empty and result.issues.empty
    assert list(result.frame.columns[:5]) == ["timestamp", "service", "event_type", "latency_ms", "session_id"]


def test_timestamps_become_utc_with_their_precision():
    result = ingest(records([event(timestamp="2024-03-10T09:00:00.123456+02:00")]), CFG)
    assert result.frame["timestamp"].iloc[0] == pd.Timestamp("2024-03-10T07:00:00.123456Z")
    assert result.stats["timestamp_digits"] == 6


def test_a_frame_of_ones_own_gets_provenance_instead_of_a_key_error():
    own = pd.DataFrame({"timestamp": ["2024-01-01T00:00:00Z", "nonsense"], "service": ["api", "api"],
                        "event_type": ["START", "STOP"]})
    result = ingest(own, Config().ingest)
    assert result.frame["source"].astype(str).tolist() == ["<frame>"]
    assert result.frame["record"].tolist() == [1]
    quarantine = result.tables["quarantine"]
    assert quarantine[["source", "record", "reasons"]].values.tolist() == [["<frame>", 2, "invalid_timestamp"]]
