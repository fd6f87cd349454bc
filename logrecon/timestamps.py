"""Strict, vectorized timestamp parsing: raw values -> UTC nanoseconds, or a reason why not.

Policy (DESIGN, cases P-TS-1..6): ISO-8601/RFC-3339 with any offset → UTC; naive → the
configured zone (UTC by default); numeric epochs (numbers or all-digit strings) get their unit
from magnitude (|v| < 1e11 s, < 1e14 ms, < 1e17 µs, else ns); other formats only through an
explicit strptime format; never guess (day/month order, zone abbreviations, yearless stamps
are ambiguous); `:60` only as a real leap second; outside the plausible window → out of range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .schema import Reason

NS_PER_S = 1_000_000_000
ISO_PATTERN = (
    r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r":(?P<second>\d{2})(?:\.(?P<fraction>\d+))?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<off_h>\d{2})(?::?(?P<off_m>\d{2}))?)?$"
)
EPOCH_PATTERN = r"^[+-]?\d+(?:\.\d+)?$"
DAY_MONTH_PATTERN = r"^(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-](?P<y>\d{2,4})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
ZONE_NAME_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?\s*[A-Z]{3,5}$"
YEARLESS_PATTERN = r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d{1,2}\s+\d{1,2}:\d{2}"
EPOCH_UNITS = {"s": NS_PER_S, "ms": 1_000_000, "us": 1_000, "ns": 1}


@dataclass(frozen=True)
class ParsedTimestamps:
    """`ns` is UTC nanoseconds (valid where `reason` is null); `digits` the fraction digits seen."""

    ns: np.ndarray
    reason: np.ndarray      # object array: None or a Reason value
    digits: int


def days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 for proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    return lengths[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)


def _ints(struct: pa.ChunkedArray | pa.StructArray, name: str, default: int = 0) -> np.ndarray:
    column = pc.struct_field(struct, name)
    return pc.fill_null(pc.cast(pc.if_else(pc.equal(column, ""), None, column), pa.int64()), default) \
        .to_numpy(zero_copy_only=False)


FIXED_SHAPE = {4: b"-", 7: b"-", 13: b":", 16: b":"}
# Days from 1970 to each month's start, for the fixed-width fast path.
TABLE_FIRST_YEAR, TABLE_END_YEAR = 1900, 2200
_years = np.repeat(np.arange(TABLE_FIRST_YEAR, TABLE_END_YEAR), 12)
_months = np.tile(np.arange(1, 13), TABLE_END_YEAR - TABLE_FIRST_YEAR)
MONTH_START_DAYS = days_from_civil(_years, _months, np.ones_like(_years))
MONTH_DAYS = days_in_month(_years, _months)


def _mask(flags) -> np.ndarray:
    """A boolean numpy mask from an Arrow boolean result, null counting as False."""
    return pc.fill_null(flags, False).to_numpy(zero_copy_only=False)


def _civil_to_ns(year, month, day, hour, minute, second, nanos, offset_s):
    """(UTC ns, calendar_ok) from civil components and a UTC offset in seconds."""
    calendar_ok = ((month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in_month(year, month))
                   & (hour <= 23) & (minute <= 59) & (second <= 60))
    # Years far outside the window would overflow int64 nanoseconds: clamp, they are out of range anyway.
    safe_year = np.clip(year, 1700, 2250)
    days = days_from_civil(safe_year, month, np.clip(day, 1, 31))
    utc_s = days * 86400 + hour * 3600 + minute * 60 + np.minimum(second, 59) - offset_s
    leap = second == 60
    if leap.any():
        # 23:59:60 is real only on 30 Jun / 31 Dec UTC; it maps to 23:59:59.999999999.
        utc_day = pd.to_datetime(utc_s[leap], unit="s")
        real = (((utc_day.month == 6) & (utc_day.day == 30)) | ((utc_day.month == 12) & (utc_day.day == 31))) \
            & (utc_s[leap] % 86400 == 86399)
        calendar_ok[leap] &= np.asarray(real)
        nanos = nanos.copy()
        nanos[leap] = NS_PER_S - 1
    ns = utc_s * NS_PER_S + nanos
    far = year != safe_year
    if far.any():
        ns = np.where(far, np.where(year < safe_year, np.iinfo(np.int64).min + 1, np.iinfo(np.int64).max), ns)
    return ns, calendar_ok





def _ascii_number(matrix: np.ndarray, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(value, all_digits) of the `count` ASCII characters from column `start` of a byte matrix."""
    value = np.zeros(len(matrix), dtype=np.int64)
    all_digits = np.ones(len(matrix), dtype=bool)
    for column in range(start, start + count):
        digit = matrix[:, column] - np.uint8(48)   # wraps below "0": one test finds both ends
        all_digits &= digit < 10
        value = value * 10 + digit
    return value, all_digits


def _run_starts(matrix: np.ndarray, width: int) -> np.ndarray:
    """Rows whose 19-byte date-time prefix differs from the row before (the first row included)."""
    n = len(matrix)
    changed = np.zeros(n, dtype=bool)
    changed[0] = True
    base = matrix.ravel() if matrix.flags.c_contiguous else np.ascontiguousarray(matrix).ravel()
    for offset in (0, 8, 11):  # three 8-byte words cover bytes 0..18
        words = np.ndarray((n,), dtype="<u8", buffer=base, offset=offset, strides=(width,))
        changed[1:] |= words[1:] != words[:-1]
    return changed


def _parse_fixed_width(text: pa.ChunkedArray):
    """Fast path for the common shape `YYYY-MM-DD[T ]HH:MM:SS[.f…][Z]` at the column's usual width.

    The rows of the most common byte length are read as an (n, width) byte matrix; returns
    (handled, ns, calendar_ok, naive, digits) where `handled` marks the rows of that exact
    shape. Every other row is left to the general regex parser. None when no row fits.
    Logs arrive close to time order, so most rows repeat the second of the row before: the
    date-time prefix is parsed once per run of equal prefixes, only the fraction per row.
    """
    n = len(text)
    if n == 0:
        return None
    lengths = pc.fill_null(pc.binary_length(text), 0).to_numpy(zero_copy_only=False)
    width = int(np.bincount(np.minimum(lengths, 64)).argmax())
    if width < 19 or width > 30:
        return None
    usual = lengths == width
    if not usual.all():  # stand-ins of the same width keep one contiguous buffer; they are not "handled"
        text = pc.if_else(pa.array(usual), text, "0" * width)
    array = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    offsets = np.frombuffer(array.buffers()[1], dtype=offset_type)[array.offset: array.offset + n + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)
    matrix = data[offsets[0]: offsets[-1]].reshape(n, width)
    zulu = bool(matrix[np.argmax(usual), -1] == ord("Z"))
    body = width - int(zulu)
    fraction_digits = max(body - 20, 0)
    if (body > 19 and body < 21) or fraction_digits > 9:
        return None

    starts = _run_starts(matrix, width)
    head = matrix[starts]
    head_ok = (head[:, 10] == ord("T")) | (head[:, 10] == ord(" "))
    for pos, sep in FIXED_SHAPE.items():
        head_ok &= head[:, pos] == sep[0]
    fields = {}
    for name, start, count in (("year", 0, 4), ("month", 5, 2), ("day", 8, 2),
                               ("hour", 11, 2), ("minute", 14, 2), ("second", 17, 2)):
        fields[name], digits_ok = _ascii_number(head, start, count)
        head_ok &= digits_ok
    year, month, day = fields["year"], fields["month"], fields["day"]
    # Leap seconds and years outside the calendar table go to the general parser.
    in_table = (year >= TABLE_FIRST_YEAR) & (year < TABLE_END_YEAR) & (month >= 1) & (month <= 12)
    head_ok &= in_table & (fields["second"] < 60)
    month_index = np.where(in_table, (year - TABLE_FIRST_YEAR) * 12 + month - 1, 0)
    head_calendar = (day >= 1) & (day <= MONTH_DAYS[month_index]) & (fields["hour"] <= 23) & (fields["minute"] <= 59)
    head_seconds = (MONTH_START_DAYS[month_index] + day - 1) * 86400 \
        + fields["hour"] * 3600 + fields["minute"] * 60 + fields["second"]

    run = np.cumsum(starts) - 1
    shape_ok = usual & head_ok[run]
    if zulu:
        shape_ok &= matrix[:, -1] == ord("Z")
    if fraction_digits:
        shape_ok &= matrix[:, 19] == ord(".")
        fraction, digits_ok = _ascii_number(matrix, 20, fraction_digits)
        shape_ok &= digits_ok
        nanos = fraction * 10 ** (9 - fraction_digits)
    else:
        nanos = 0
    if not shape_ok.any():
        return None  # nothing of this shape (e.g. a +05:30 offset, not a fraction): no digits to claim
    return shape_ok, head_seconds[run] * NS_PER_S + nanos, head_calendar[run], not zulu, fraction_digits


def _parse_iso(text: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """(matched, ns_utc, naive, invalid, digits) for ISO strings; ns is wall time for naive ones."""
    groups = pc.extract_regex(text, ISO_PATTERN)
    matched = pc.is_valid(groups).to_numpy(zero_copy_only=False)
    groups = pc.fill_null(groups, {name: "" for name in
                                   ("year", "month", "day", "hour", "minute", "second", "fraction",
                                    "zone", "sign", "off_h", "off_m")})
    year, month, day = (_ints(groups, n, 1) for n in ("year", "month", "day"))
    hour, minute, second = (_ints(groups, n) for n in ("hour", "minute", "second"))
    fraction = pc.struct_field(groups, "fraction")
    digits = int(pc.max(pc.utf8_length(fraction)).as_py() or 0)
    nanos = pc.cast(pc.utf8_rpad(pc.utf8_slice_codeunits(pc.if_else(pc.equal(fraction, ""), "0", fraction), 0, 9),
                                 9, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    zone = pc.struct_field(groups, "zone")
    naive = pc.equal(zone, "").to_numpy(zero_copy_only=False) & matched
    sign = np.where(pc.equal(pc.struct_field(groups, "sign"), "-").to_numpy(zero_copy_only=False), -1, 1)
    off_h, off_m = _ints(groups, "off_h"), _ints(groups, "off_m")
    offset_s = sign * (off_h * 3600 + off_m * 60)

    ns, calendar_ok = _civil_to_ns(year, month, day, hour, minute, second, nanos, offset_s)
    calendar_ok &= (off_h <= 23) & (off_m <= 59)
    invalid = matched & ~calendar_ok
    return matched, ns, naive, invalid, min(digits, 9)


def _epoch_factor(values: np.ndarray, unit: str) -> np.ndarray:
    """Nanoseconds per unit of each epoch number: the unit from magnitude unless given."""
    magnitude = np.abs(values.astype("float64"))
    if unit == "auto":
        return np.select([magnitude < 1e11, magnitude < 1e14, magnitude < 1e17],
                         [EPOCH_UNITS["s"], EPOCH_UNITS["ms"], EPOCH_UNITS["us"]], EPOCH_UNITS["ns"])
    return np.full(len(values), EPOCH_UNITS[unit])


def _decimal_epoch_ns(text: pa.ChunkedArray, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """(handled, ns) for decimal epoch text, parsed exactly: whole and fraction digits apart, since
    a float64 cannot hold "1710064807.123456" to the nanosecond."""
    parts = pc.extract_regex(text, r"^(?P<sign>-?)(?P<whole>\d{1,18})\.(?P<frac>\d+)$")
    handled = pc.is_valid(parts).to_numpy(zero_copy_only=False)
    parts = pc.fill_null(parts, {"sign": "", "whole": "0", "frac": "0"})
    whole = _ints(parts, "whole")
    frac = pc.utf8_rpad(pc.utf8_slice_codeunits(pc.struct_field(parts, "frac"), 0, 9), 9, "0")
    frac_ns = pc.cast(frac, pa.int64()).to_numpy(zero_copy_only=False) * _epoch_factor(whole, unit) // NS_PER_S
    whole_ns = _epoch_ns(whole, unit)
    top = np.iinfo(np.int64).max
    ns = np.where(whole_ns >= top - NS_PER_S, top, whole_ns + frac_ns)  # beyond int64: out of range
    negative = pc.equal(pc.struct_field(parts, "sign"), "-").to_numpy(zero_copy_only=False)
    return handled, np.where(negative, -ns, ns)


def _epoch_ns(values: np.ndarray, unit: str) -> np.ndarray:
    """Epoch numbers (int64 or float64) → ns, the unit from magnitude unless given."""
    factor = _epoch_factor(values, unit)
    with np.errstate(over="ignore", invalid="ignore"):
        if values.dtype.kind in "iu":
            limit = np.iinfo(np.int64).max // factor
            overflow = np.abs(values) > limit
            ns = np.where(overflow, np.iinfo(np.int64).max, values * np.where(overflow, 1, factor))
        else:
            # Whole and fractional parts apart: a float cannot hold ns-precise epochs whole.
            whole = np.trunc(values)
            scaled = whole * factor
            safe = np.abs(scaled) < 9.2e18
            ns = np.where(safe, whole, 0).astype("int64") * factor.astype("int64") \
                + np.round((values - whole) * factor).astype("int64")
            ns = np.where(safe, ns, np.iinfo(np.int64).max)
    return ns


def _unguessable(text: pa.ChunkedArray) -> np.ndarray:
    """Stamps whose meaning we refuse to guess: zone abbreviations, yearless, d/m vs m/d."""
    zone_name = _mask(pc.match_substring_regex(text, ZONE_NAME_PATTERN))
    yearless = _mask(pc.match_substring_regex(text, YEARLESS_PATTERN))
    day_month = pc.extract_regex(text, DAY_MONTH_PATTERN)
    matched = pc.is_valid(day_month).to_numpy(zero_copy_only=False)
    day_month = pc.fill_null(day_month, {"a": "0", "b": "0", "y": "0"})
    a, b = _ints(day_month, "a"), _ints(day_month, "b")
    year = _ints(day_month, "y")
    both_valid = (a >= 1) & (a <= 12) & (b >= 1) & (b <= 12) & (b <= days_in_month(year, a)) \
        & (a <= days_in_month(year, b)) & (a != b)
    return zone_name | yearless | (matched & both_valid)


def _localize(ns: np.ndarray, naive: np.ndarray, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock ns in `timezone` → UTC ns; ambiguous or nonexistent local times flagged."""
    if timezone in ("UTC", "Z", "utc") or not naive.any():
        return ns, np.zeros(len(ns), dtype=bool)
    local = pd.DatetimeIndex(ns[naive].astype("datetime64[ns]"))
    utc = local.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    out = ns.copy()
    converted = utc.asi8
    bad = np.zeros(len(ns), dtype=bool)
    bad[naive] = np.asarray(utc.isna())
    out[naive] = np.where(bad[naive], 0, converted)
    return out, bad


def _as_text(values: pd.Series) -> pa.ChunkedArray:
    if isinstance(values.dtype, pd.StringDtype) or values.dtype == "str":
        array = pa.chunked_array([pa.array(values, type=pa.large_string(), from_pandas=True)]) \
            if values.dtype.storage != "pyarrow" else values.array._pa_array
    else:
        array = pa.chunked_array([pa.array(values.astype("str"), from_pandas=True)])
    return pc.utf8_trim_whitespace(array)


SLICE_ROWS = 1 << 20  # rows parsed at a time: the parser's text copies and matrices stay this small


def parse_timestamps(values: pd.Series, *, timestamp_format: str | None = None, timezone: str = "UTC",
                     timestamp_year: int | None = None, epoch_unit: str = "auto",
                     window: tuple[int, int]) -> ParsedTimestamps:
    """Parse raw timestamp values; every row gets UTC ns or exactly one Reason.

    Rows are parsed in slices (each row's result depends on that row alone), so the parser's
    working copies stay the size of a slice, not of the column."""
    options = dict(timestamp_format=timestamp_format, timezone=timezone, timestamp_year=timestamp_year,
                   epoch_unit=epoch_unit, window=window)
    if len(values) <= SLICE_ROWS:
        return _parse_slice(values, **options)
    parts = [_parse_slice(values.iloc[start:start + SLICE_ROWS], **options)
             for start in range(0, len(values), SLICE_ROWS)]
    return ParsedTimestamps(ns=np.concatenate([p.ns for p in parts]), reason=np.concatenate([p.reason for p in parts]),
                            digits=max(p.digits for p in parts))


def _parse_slice(values: pd.Series, *, timestamp_format: str | None, timezone: str, timestamp_year: int | None,
                 epoch_unit: str, window: tuple[int, int]) -> ParsedTimestamps:
    n = len(values)
    reason = np.full(n, None, dtype=object)
    ns = np.zeros(n, dtype="int64")
    naive = np.zeros(n, dtype=bool)
    digits = 0

    is_text = np.ones(n, dtype=bool)
    if values.dtype == object:
        kinds = values.map(type).to_numpy()
        is_bool = np.isin(kinds, (bool, np.bool_))
        is_number = np.isin(kinds, (int, float, np.int64, np.float64)) & ~is_bool
        is_null = values.isna().to_numpy() & ~is_number
        is_text = np.isin(kinds, (str,))
        reason[is_bool | ~(is_text | is_number | is_null)] = Reason.INVALID_TIMESTAMP
        if is_number.any():
            numbers = values[is_number]
            ints = np.isin(kinds[is_number], (int, np.int64))
            number_ns = np.empty(len(numbers), dtype="int64")
            number_reason = np.full(len(numbers), None, dtype=object)
            if ints.any():
                # Only the integers beyond int64 are out of range, not every integer beside them.
                raw_ints = numbers[ints].to_numpy(dtype=object)
                huge = np.fromiter((not -2**63 <= v < 2**63 for v in raw_ints), dtype=bool, count=len(raw_ints))
                int_reason = number_reason[ints]
                int_reason[huge] = Reason.TIMESTAMP_OUT_OF_RANGE
                number_reason[ints] = int_reason
                as_int = np.where(huge, 0, raw_ints).astype("int64")
                number_ns[ints] = _epoch_ns(as_int, epoch_unit)
            floats = numbers[~ints].to_numpy(dtype="float64")
            finite = np.isfinite(floats)
            number_ns[~ints] = _epoch_ns(np.where(finite, floats, 0.0), epoch_unit)
            fl_reason = number_reason[~ints]
            fl_reason[~finite] = Reason.INVALID_TIMESTAMP
            number_reason[~ints] = fl_reason
            ns[is_number] = number_ns
            reason[is_number] = number_reason
        reason[is_null] = Reason.MISSING_FIELD
        text_values = values[is_text]
    else:
        text_values = values
    if len(text_values):
        text = _as_text(text_values)
        text_ns = np.zeros(len(text_values), dtype="int64")
        text_reason = np.full(len(text_values), None, dtype=object)
        text_naive = np.zeros(len(text_values), dtype=bool)
        empty = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
        text_reason[empty] = Reason.MISSING_FIELD
        if timestamp_format:
            parsed, fmt_naive = _parse_with_format(text, timestamp_format, timestamp_year)
            ok = ~np.isnat(parsed) & ~empty
            text_ns[ok] = parsed[ok].astype("int64")
            text_naive = fmt_naive & ok
            text_reason[~ok & ~empty] = Reason.INVALID_TIMESTAMP
        else:
            fixed = _parse_fixed_width(text)
            if fixed is not None:
                handled, fixed_ns, calendar_ok, fixed_naive, digits = fixed
            else:
                handled, fixed_naive = np.zeros(len(text_values), dtype=bool), False
            others = np.flatnonzero(~handled)
            matched = handled.copy()
            if fixed is not None:
                text_ns[handled] = fixed_ns[handled]
                text_reason[handled & ~calendar_ok] = Reason.INVALID_TIMESTAMP
                text_naive[handled] = fixed_naive
            epoch = np.zeros(len(text_values), dtype=bool)
            if len(others):
                other_text = text if fixed is None else pc.take(text, pa.array(others))
                iso_matched, iso_ns, iso_naive, invalid, iso_digits = _parse_iso(other_text)
                digits = max(digits, iso_digits) if iso_matched.any() else digits
                matched[others] = iso_matched
                text_ns[others[iso_matched]] = iso_ns[iso_matched]
                text_naive[others] = iso_naive
                text_reason[others[invalid]] = Reason.INVALID_TIMESTAMP
                epoch[others] = _mask(pc.match_substring_regex(other_text, EPOCH_PATTERN)) & ~iso_matched
            if epoch.any():
                # Arrow's integer cast refuses a leading "+" (it raised here and ended the run).
                epoch_text = pc.utf8_ltrim(pc.filter(text, pa.chunked_array([pa.array(epoch)])), characters="+")
                integral = _mask(pc.match_substring_regex(epoch_text, r"^[+-]?(?:\d{1,18}|[1-8]\d{18})$"))  # fits int64
                epoch_values = np.where(
                    integral,
                    pc.cast(pc.if_else(pa.chunked_array([pa.array(integral)]), epoch_text, "0"), pa.int64())
                    .to_numpy(zero_copy_only=False),
                    0)
                epoch_ns = _epoch_ns(epoch_values, epoch_unit)
                if not integral.all():
                    as_float = pc.cast(epoch_text, pa.float64()).to_numpy(zero_copy_only=False)
                    decimal, decimal_ns = _decimal_epoch_ns(epoch_text, epoch_unit)
                    epoch_ns = np.where(integral, epoch_ns,
                                        np.where(decimal, decimal_ns, _epoch_ns(as_float, epoch_unit)))
                text_ns[epoch] = epoch_ns
            rest = ~matched & ~epoch & ~empty
            if rest.any():
                rest_text = pc.filter(text, pa.chunked_array([pa.array(rest)]))
                unguessable = _unguessable(rest_text)
                text_reason[rest] = np.where(unguessable, Reason.AMBIGUOUS_TIMESTAMP, Reason.INVALID_TIMESTAMP)
        ns[is_text] = text_ns
        reason[is_text] = text_reason
        naive[is_text] = text_naive & pd.isna(text_reason)

    ns, not_local = _localize(ns, naive & pd.isna(reason), timezone)
    reason[not_local & pd.isna(reason)] = Reason.AMBIGUOUS_TIMESTAMP
    out_of_range = pd.isna(reason) & ((ns < window[0]) | (ns >= window[1]))
    reason[out_of_range] = Reason.TIMESTAMP_OUT_OF_RANGE
    return ParsedTimestamps(ns=ns, reason=reason, digits=max(digits, needed_digits(ns[pd.isna(reason)])))


def needed_digits(ns: np.ndarray) -> int:
    """Fraction digits (0, 3, 6, 9) that represent every instant exactly (an epoch in ms needs 3)."""
    for digits, unit in ((0, NS_PER_S), (3, 1_000_000), (6, 1_000)):
        if not (ns % unit).any():
            return digits
    return 9


def _parse_with_format(text: pa.ChunkedArray, timestamp_format: str, year: int | None):
    """strptime-style parse; a format without a year gets the profile's year."""
    series = pd.Series(text.to_pandas(types_mapper=None), dtype="str")
    fmt = timestamp_format
    if "%Y" not in fmt and "%y" not in fmt:
        if year is None:
            return np.full(len(series), np.datetime64("NaT"), dtype="datetime64[ns]"), np.zeros(len(series), bool)
        series = str(year) + " " + series
        fmt = "%Y " + fmt
    aware = "%z" in fmt or "%Z" in fmt
    parsed = pd.to_datetime(series, format=fmt, errors="coerce", utc=aware)
    if aware:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    values = parsed.to_numpy(dtype="datetime64[ns]")
    return values, np.full(len(series), not aware)
