"""Timestamp policy: strict parsing to UTC, or exactly one reason why not — never a guess.

ISO-8601/RFC-3339 with any offset → UTC; naive → UTC or the configured zone; epochs get their
unit from magnitude (|v| < 1e11 s, < 1e14 ms, < 1e17 µs, else ns); other formats only through an
explicit `timestamp_format`; day/month order, zone abbreviations and yearless stamps are
`ambiguous_timestamp`; `:60` only as a real leap second; outside 2000-01-01 ≤ t < 2100-01-01 →
`timestamp_out_of_range`.
"""

from __future__ import annotations

import pandas as pd
import pytest

from logrecon.timestamps import parse_timestamps

WINDOW = (pd.Timestamp("2000-01-01", tz="UTC").value, pd.Timestamp("2100-01-01", tz="UTC").value)
REASONS = {"invalid_timestamp", "ambiguous_timestamp", "timestamp_out_of_range", "missing_field"}


def outcome(value, **options):
    """The UTC instant as ns, or the reason code."""
    parsed = parse_timestamps(pd.Series([value], dtype=object), window=WINDOW, **options)
    return int(parsed.ns[0]) if parsed.reason[0] is None else str(parsed.reason[0])


def expect(expected):
    return expected if expected in REASONS else pd.Timestamp(expected).value


@pytest.mark.parametrize("text, utc", [
    ("2024-03-10T07:00:00Z", "2024-03-10T07:00:00Z"),
    ("2024-03-10T07:00:00z", "2024-03-10T07:00:00Z"),
    ("2024-03-10t07:00:00Z", "2024-03-10T07:00:00Z"),
    ("2024-03-10 07:00:00Z", "2024-03-10T07:00:00Z"),
    ("2024-03-10T07:00:00+00:00", "2024-03-10T07:00:00Z"),
    ("2024-03-10T07:00:00-00:00", "2024-03-10T07:00:00Z"),
    ("2024-03-10T07:00:00+02:00", "2024-03-10T05:00:00Z"),
    ("2024-03-10T07:00:00+0200", "2024-03-10T05:00:00Z"),
    ("2024-03-10T07:00:00+02", "2024-03-10T05:00:00Z"),
    ("2024-03-10T07:00:00-05:30", "2024-03-10T12:30:00Z"),
    ("2024-03-10T07:00:00+05:45", "2024-03-10T01:15:00Z"),
    ("2024-03-10T01:00:00+14:00", "2024-03-09T11:00:00Z"),
    ("2024-03-10T07:00:00.5+01:00", "2024-03-10T06:00:00.5Z"),
    ("2024-03-10T07:00:00.123456789-01:00", "2024-03-10T08:00:00.123456789Z"),
    ("2024-03-10T23:30:00-01:00", "2024-03-11T00:30:00Z"),       # the offset moves the date
])
def test_iso_with_any_offset_form_is_converted_to_utc(text, utc):
    assert outcome(text) == expect(utc)


@pytest.mark.parametrize("text", ["2024-03-10T07:00:00+24:00", "2024-03-10T07:00:00+02:60"])
def test_impossible_offsets_are_invalid(text):
    assert outcome(text) == "invalid_timestamp"


def test_naive_iso_is_taken_as_utc_by_default():
    assert outcome("2024-03-10T07:00:00") == expect("2024-03-10T07:00:00Z")
    assert outcome("2024-03-10 07:00:00.250") == expect("2024-03-10T07:00:00.25Z")


@pytest.mark.parametrize("value, utc", [
    (1710064807, "2024-03-10T10:00:07Z"),                        # seconds
    ("1710064807", "2024-03-10T10:00:07Z"),
    ("+1710064807", "2024-03-10T10:00:07Z"),
    (1710064807123, "2024-03-10T10:00:07.123Z"),                 # milliseconds
    ("1710064807123", "2024-03-10T10:00:07.123Z"),
    (1710064807123456, "2024-03-10T10:00:07.123456Z"),           # microseconds
    (1710064807123456789, "2024-03-10T10:00:07.123456789Z"),     # nanoseconds
    ("1710064807123456789", "2024-03-10T10:00:07.123456789Z"),   # 19 digits: not through a float
    (1710064807.25, "2024-03-10T10:00:07.25Z"),                  # float seconds keep their fraction
    ("1710064807.25", "2024-03-10T10:00:07.25Z"),
    ("1710064807.123456", "2024-03-10T10:00:07.123456Z"),        # exact, not .123456001
    ("1710064807.123456789", "2024-03-10T10:00:07.123456789Z"),
    ("1710064807123.456", "2024-03-10T10:00:07.123456Z"),        # fractional milliseconds
    (946684800, "2000-01-01T00:00:00Z"),                         # the window's first second
])
def test_epochs_get_their_unit_from_magnitude_with_full_precision(value, utc):
    assert outcome(value) == expect(utc)


@pytest.mark.parametrize("value", [99_999_999_999, 100_000_000_000, 0, -1, 1e300, "-1710064807", 2**70,
                                   "99999999999999999999", 4_102_444_800])
def test_epochs_outside_the_window_or_int64_are_out_of_range(value):
    assert outcome(value) == "timestamp_out_of_range"


def test_one_huge_integer_does_not_put_its_neighbours_out_of_range():
    parsed = parse_timestamps(pd.Series([1710064807, 2**70, 1710064807123], dtype=object), window=WINDOW)
    assert [None if r is None else str(r) for r in parsed.reason] == [None, "timestamp_out_of_range", None]


def test_explicit_epoch_unit_overrides_magnitude():
    assert outcome(1710064807, epoch_unit="ms") == "timestamp_out_of_range"  # 1970-01-20
    assert outcome(1710064807123, epoch_unit="ms") == expect("2024-03-10T10:00:07.123Z")


@pytest.mark.parametrize("value", [True, False, "true", float("nan"), float("inf"), "NaN", "1e9", "0x10",
                                   {"t": 1}, [1710064807], b"1710064807", "2024-03-10T07:00Z", "2024-03-10",
                                   "20240310T070000Z", "Sun, 10 Mar 2024 07:00:00 GMT", "yesterday"])
def test_booleans_containers_and_other_formats_are_invalid(value):
    assert outcome(value) == "invalid_timestamp"


@pytest.mark.parametrize("value", [None, "", "   ", pd.NA])
def test_absent_timestamps_are_missing(value):
    assert outcome(value) == "missing_field"


@pytest.mark.parametrize("text, utc", [
    ("2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999999Z"),
    ("2015-06-30T23:59:60Z", "2015-06-30T23:59:59.999999999Z"),
    ("2017-01-01T01:59:60+02:00", "2016-12-31T23:59:59.999999999Z"),   # a leap second in UTC
    ("2024-01-01T23:59:60Z", "invalid_timestamp"),                      # not at the end of June/December
    ("2024-06-30T12:59:60Z", "invalid_timestamp"),                      # not at 23:59 UTC
    ("2016-12-31T23:59:60+02:00", "invalid_timestamp"),                 # 21:59:60 UTC
])
def test_second_60_is_valid_only_as_a_real_leap_second(text, utc):
    assert outcome(text) == expect(utc)


@pytest.mark.parametrize("text, result", [
    ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
    ("2023-02-29T00:00:00Z", "invalid_timestamp"),
    ("2024-02-30T00:00:00Z", "invalid_timestamp"),
    ("2024-04-31T00:00:00Z", "invalid_timestamp"),
    ("2024-13-01T00:00:00Z", "invalid_timestamp"),
    ("2024-00-10T00:00:00Z", "invalid_timestamp"),
    ("2024-01-00T00:00:00Z", "invalid_timestamp"),
    ("2024-01-01T24:00:00Z", "invalid_timestamp"),
    ("2024-01-01T23:60:00Z", "invalid_timestamp"),
    ("1999-12-31T23:59:59Z", "timestamp_out_of_range"),
    ("2100-01-01T00:00:00Z", "timestamp_out_of_range"),
    ("2099-12-31T23:59:59.999999999Z", "2099-12-31T23:59:59.999999999Z"),
    ("0000-01-01T00:00:00Z", "timestamp_out_of_range"),
    ("9999-12-31T23:59:59Z", "timestamp_out_of_range"),
])
def test_impossible_dates_are_invalid_and_the_window_is_half_open(text, result):
    assert outcome(text) == expect(result)


@pytest.mark.parametrize("text", ["03/04/2024", "03/04/2024 10:00", "03.04.2024", "03-04-2024 10:00:00",
                                  "12/11/24"])
def test_day_month_order_is_never_guessed(text):
    assert outcome(text) == "ambiguous_timestamp"


@pytest.mark.parametrize("text", ["13/04/2024 10:00", "04/13/2024", "04/04/2024", "2024/03/04"])
def test_non_iso_dates_that_are_not_ambiguous_still_need_a_format(text):
    assert outcome(text) == "invalid_timestamp"


@pytest.mark.parametrize("text", ["2024-03-10 07:00:00 PST", "2024-03-10T07:00:00 EST", "2024-03-10 07:00:00 CET",
                                  "2024-03-10 07:00:00 IST"])
def test_zone_abbreviations_are_ambiguous(text):
    assert outcome(text) == "ambiguous_timestamp"


@pytest.mark.parametrize("text", ["Mar 10 07:00:00", "Jan  5 10:00:00", "Dec 31 23:59:59 host app[1]: started"])
def test_yearless_syslog_stamps_are_ambiguous_without_a_year(text):
    assert outcome(text) == "ambiguous_timestamp"


@pytest.mark.parametrize("text, options, result", [
    ("Mar 10 07:00:00", {"timestamp_format": "%b %d %H:%M:%S", "timestamp_year": 2024}, "2024-03-10T07:00:00Z"),
    ("Feb 29 10:00:00", {"timestamp_format": "%b %d %H:%M:%S", "timestamp_year": 2024}, "2024-02-29T10:00:00Z"),
    ("Feb 29 10:00:00", {"timestamp_format": "%b %d %H:%M:%S", "timestamp_year": 2023}, "invalid_timestamp"),
    ("Mar 10 07:00:00", {"timestamp_format": "%b %d %H:%M:%S"}, "invalid_timestamp"),     # no year given
    ("2024-03-10 07:00:00,123", {"timestamp_format": "%Y-%m-%d %H:%M:%S,%f"}, "2024-03-10T07:00:00.123Z"),
    ("2024-03-10 07:00:00,1", {"timestamp_format": "%Y-%m-%d %H:%M:%S,%f"}, "2024-03-10T07:00:00.1Z"),
    ("2024-03-10 07:00:00.123", {"timestamp_format": "%Y-%m-%d %H:%M:%S,%f"}, "invalid_timestamp"),
    ("10/03/24 07:00:00", {"timestamp_format": "%d/%m/%y %H:%M:%S"}, "2024-03-10T07:00:00Z"),
    ("10/03/68 07:00:00", {"timestamp_format": "%d/%m/%y %H:%M:%S"}, "2068-03-10T07:00:00Z"),
    ("10/03/69 07:00:00", {"timestamp_format": "%d/%m/%y %H:%M:%S"}, "timestamp_out_of_range"),  # %y: 1969
    ("2024-03-10T07:00:00+0100", {"timestamp_format": "%Y-%m-%dT%H:%M:%S%z"}, "2024-03-10T06:00:00Z"),
    ("garbage", {"timestamp_format": "%Y-%m-%d %H:%M:%S"}, "invalid_timestamp"),
])
def test_explicit_timestamp_format(text, options, result):
    assert outcome(text, **options) == expect(result)


@pytest.mark.parametrize("text, zone, result", [
    ("2024-07-01T12:00:00", "America/New_York", "2024-07-01T16:00:00Z"),          # EDT
    ("2024-01-15T12:00:00", "America/New_York", "2024-01-15T17:00:00Z"),          # EST
    ("2024-03-10T01:30:00", "America/New_York", "2024-03-10T06:30:00Z"),
    ("2024-03-10T02:30:00", "America/New_York", "ambiguous_timestamp"),           # skipped by DST
    ("2024-11-03T01:30:00", "America/New_York", "ambiguous_timestamp"),           # happens twice
    ("2024-11-03T01:30:00-05:00", "America/New_York", "2024-11-03T06:30:00Z"),    # an offset settles it
    ("2024-11-03T01:30:00Z", "America/New_York", "2024-11-03T01:30:00Z"),         # the zone is for naive only
    ("2024-10-27T02:30:00", "Europe/Paris", "ambiguous_timestamp"),
    ("2024-10-27T03:30:00", "Europe/Paris", "2024-10-27T02:30:00Z"),
])
def test_configured_timezone_applies_to_naive_times_and_refuses_dst_ambiguity(text, zone, result):
    assert outcome(text, timezone=zone) == expect(result)


def test_configured_timezone_applies_to_formatted_naive_times():
    assert outcome("2024-03-10 07:00:00,123", timestamp_format="%Y-%m-%d %H:%M:%S,%f",
                   timezone="Europe/Paris") == expect("2024-03-10T06:00:00.123Z")


def test_every_value_gets_an_instant_or_exactly_one_reason_in_a_mixed_column():
    values = ["2024-03-10T07:00:00Z", 1710064807, None, "03/04/2024", "bad", 1.5e9, "2024-02-30T00:00:00Z", True]
    parsed = parse_timestamps(pd.Series(values, dtype=object), window=WINDOW)
    assert [None if r is None else str(r) for r in parsed.reason] == [
        None, None, "missing_field", "ambiguous_timestamp", "invalid_timestamp", None, "invalid_timestamp",
        "invalid_timestamp"]


@pytest.mark.parametrize("values, digits", [
    (["2024-03-10T07:00:00Z", "2024-03-10T07:00:01Z"], 0),
    (["2024-03-10T07:00:00.5Z"], 3),
    ([1710064807123], 3),
    (["1710064807.123456"], 6),
    (["2024-03-10T07:00:00.123456789Z", "2024-03-10T07:00:00Z"], 9),
])
def test_fraction_digits_seen_are_reported_for_output_precision(values, digits):
    parsed = parse_timestamps(pd.Series(values, dtype=object), window=WINDOW)
    assert parsed.digits == digits


def test_the_fixed_width_fast_path_agrees_with_the_general_parser_row_by_row():
    """A column of one width goes through the byte-matrix fast path (its date-time prefix parsed
    once per run of equal seconds); each stamp alone goes through the regex parser. Every
    one-byte corruption of a stamp, placed amid valid neighbours of the same second, must get
    the same instant or reason both ways."""
    good = "2024-02-29T23:59:59.123Z"
    spoiled = [good[:i] + c + good[i + 1:] for i in range(len(good)) for c in "0 9x-:.T/+Z"]
    spoiled += ["2024-02-30T23:59:59.123Z", "2023-02-29T00:00:00.000Z", "2024-12-31T23:59:60.000Z",
                "2024-01-01T24:00:00.000Z", "2024-01-01T00:60:00.000Z", "2024-01-01T00:00:00.99xZ",
                "+024-01-01T00:00:00.000Z", "2024-1-01T00:00:00.0000Z", "2024-01-01 00:00:00.000Z"]
    column = [stamp for bad in spoiled for stamp in (good, bad, good)]
    parsed = parse_timestamps(pd.Series(column, dtype=object), window=WINDOW)
    fast = [int(ns) if reason is None else str(reason) for ns, reason in zip(parsed.ns, parsed.reason)]
    assert fast == [outcome(stamp) for stamp in column]
    assert fast[1::3].count(fast[0]) < len(spoiled) // 2  # most corruptions change the outcome
