"""Turn raw records into canonical events; quarantine what cannot be an event.

Input: raw records (readers.ReadResult.records, several files concatenated in arrival order).
Output: schema events (see schema.py) + `tables["quarantine"]` (source, record, reasons, fields,
detail, then the raw values). A record is quarantined only when it cannot be an event (malformed,
no usable timestamp, service or event_type), with every reason it fails. An invalid latency
never quarantines: it becomes null with an `invalid_latency` issue.
Reads config: IngestConfig. Emits issues: invalid_latency.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .config import IngestConfig
from .schema import CANONICAL, EVENT_TYPES, QUARANTINE_COLUMNS, Reason, StageResult, issues_frame, utc_datetimes
from .timestamps import parse_timestamps

RAW_PREVIEW_CHARS = 1000
MAX_RECORD_SIZE = 1 << 20     # a record's text fields together (1 MiB): longer is not a log record
LATENCY_PATTERN = r"^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"


def _text(values: pd.Series) -> pd.Series:
    """Trimmed text; null stays null; JSON numbers become their text, booleans, objects and
    arrays their JSON text."""
    return _raw_text(values).str.strip()


def _raw_text(values: pd.Series) -> pd.Series:
    """Text as the input spelled it (`true`, `{"a": 1}`, not Python's `True`, `{'a': 1}`); null stays null."""
    if values.dtype == object:
        kinds = values.map(type)
        as_json = kinds.isin((bool, np.bool_, dict, list)).to_numpy()
        if as_json.any():  # unhashable values: no dict lookup, one JSON dump each (rare, wrong-typed)
            values = values.copy()
            values[as_json] = [json.dumps(bool(v) if isinstance(v, np.bool_) else v, default=str, ensure_ascii=False)
                               for v in values[as_json]]
        values = values.astype("str")
    elif not isinstance(values.dtype, pd.StringDtype):
        values = values.astype("str")
    return values


def _record_size(records: pd.DataFrame) -> np.ndarray:
    """Size of each record's text fields together (UTF-8 bytes from Arrow offsets; characters
    for Python strings); numbers and provenance not counted."""
    total = np.zeros(len(records), dtype=np.int64)
    longest = 0  # the longest each Arrow text column can make a record
    for name in records.columns:
        values = records[name]
        if name in ("source", "record", "malformed", "raw") or values.dtype.kind in "iufbM":
            continue
        if not (isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"):
            longest = None
            break
        longest += int(pc.max(pc.binary_length(values.array._pa_array)).as_py() or 0)
    if longest is not None and longest <= MAX_RECORD_SIZE:
        return total  # no record can be over the limit: no per-row sum needed
    for name in records.columns:
        values = records[name]
        if name in ("source", "record", "malformed", "raw"):
            continue
        if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
            size = pc.binary_length(values.array._pa_array)
            total += pc.fill_null(size, 0).to_numpy(zero_copy_only=False).astype(np.int64)
            continue
        if values.dtype == object:
            values = values.astype("str")
        elif not isinstance(values.dtype, pd.StringDtype):
            continue
        total += values.str.len().fillna(0).to_numpy(dtype=np.int64)
    return total


def _column(records: pd.DataFrame, name: str) -> pd.Series:
    if name in records.columns:
        return records[name]
    return pd.Series(pd.NA, index=records.index, dtype="str")


def _parse_latency(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(latency_ms as float with NaN for none, invalid mask): bare, finite, ≥ 0 numbers only."""
    n = len(values)
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        whole_numbers = _parse_whole_numbers(values.array._pa_array)
        if whole_numbers is not None:
            return whole_numbers
    if values.dtype == object:
        kinds = values.map(type).to_numpy()
        is_number = np.isin(kinds, (int, float, np.int64, np.float64))
        numbers = pd.to_numeric(values.where(is_number), errors="coerce").to_numpy(dtype="float64")
        text = _text(values.where(~is_number))
    else:
        is_number = np.zeros(n, dtype=bool)
        numbers = np.full(n, np.nan)
        text = _text(values)
    text_array = pa.array(text, type=pa.large_string(), from_pandas=True)
    present = pc.fill_null(pc.not_equal(text_array, ""), False).to_numpy(zero_copy_only=False) & ~is_number
    bare = pc.fill_null(pc.match_substring_regex(text_array, LATENCY_PATTERN), False).to_numpy(zero_copy_only=False)
    parsed = pc.cast(pc.if_else(pa.array(bare), text_array, None), pa.float64()).to_numpy(zero_copy_only=False)
    latency = np.where(is_number, numbers, np.where(bare, parsed, np.nan))
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(latency) & (latency >= 0)
    invalid = (is_number | present) & ~valid
    return np.where(valid, latency, np.nan), invalid


def _parse_whole_numbers(text: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """`_parse_latency` for text that is all plain ASCII digits or empty (whole milliseconds, the
    usual case): one cast, no trimming or regex. None when some value is anything else."""
    empty = pc.equal(text, "")
    if not pc.all(pc.fill_null(pc.or_kleene(pc.ascii_is_decimal(text), empty), True)).as_py():
        return None
    numbers = pc.cast(pc.if_else(empty, pa.scalar(None, text.type), text), pa.float64()).to_numpy(zero_copy_only=False)
    valid = np.isfinite(numbers)  # a few hundred digits make an infinity
    return np.where(valid, numbers, np.nan), ~valid & ~np.isnan(numbers)


def _encoded_text(values: pd.Series, *, upper: bool = False, sort: bool = False) -> tuple[np.ndarray, pd.Index]:
    """(codes, categories) of the trimmed text; -1 for null or empty.

    Each distinct raw value is cleaned once (trimmed, ASCII upper-cased if asked) on the
    dictionary, not once per row: a service or event type column has a handful of values.
    """
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        array = values.array._pa_array
    else:
        array = pa.array(_text(values), type=pa.large_string(), from_pandas=True)
    if not isinstance(array, pa.ChunkedArray):
        array = pa.chunked_array([array], type=array.type)
    encoded = pc.dictionary_encode(array)  # one dictionary for all chunks (the hash table spans them)
    dictionary = encoded.chunk(encoded.num_chunks - 1).dictionary if encoded.num_chunks else pa.array([], pa.string())
    cleaned = pc.utf8_trim_whitespace(dictionary)
    if upper:
        cleaned = pc.ascii_upper(cleaned)  # ASCII case only: "ſtart" is not START
    index = np.concatenate([pc.fill_null(chunk.indices, -1).to_numpy(zero_copy_only=False) for chunk in encoded.chunks]) \
        if encoded.num_chunks else np.zeros(0, dtype=np.int32)
    distinct = pd.Series(cleaned.to_pandas(), dtype="str")
    if not sort and not (distinct == "").any() and pc.all(pc.equal(cleaned, dictionary)).as_py() is not False:
        return index, pd.Index(distinct)  # already clean (millions of ids, usually): no second hashing
    remap, categories = pd.factorize(distinct.where(distinct != ""), sort=sort, use_na_sentinel=True)
    return np.where(index >= 0, np.append(remap, -1)[index], -1), pd.Index(categories, dtype="str")


def _categorical(codes: np.ndarray, categories: pd.Index, kept: np.ndarray) -> pd.Categorical:
    """The kept rows as a categorical holding only the categories they use (order kept)."""
    kept_codes = codes[kept]
    used = np.bincount(kept_codes[kept_codes >= 0], minlength=len(categories)) > 0
    renumber = np.append(np.cumsum(used) - 1, -1)
    # Categories from a factorization are unique by construction: skip pandas re-checking
    # millions of them (its uniqueness check hashes them all again).
    dtype = pd.CategoricalDtype._from_fastpath(categories[used], ordered=False)
    return pd.Categorical.from_codes(renumber[kept_codes], dtype=dtype)


def _kept_categorical(values: pd.Series, kept: np.ndarray) -> pd.Categorical:
    """The kept rows of a column as a categorical (a categorical column keeps its codes)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return pd.Categorical.from_codes(values.cat.codes.to_numpy()[kept], dtype=values.dtype)
    return pd.Categorical(values[kept].reset_index(drop=True))


def _reasons_of(failed: np.ndarray, why, quarantined: np.ndarray) -> pd.Series:
    """One field's reason for each quarantined row (null where the field is fine)."""
    reasons = np.full(int(quarantined.sum()), None, dtype=object)
    reasons[failed[quarantined]] = why
    return pd.Series(reasons, dtype="str")


FRAME_SOURCE = "<frame>"


def _with_provenance(records: pd.DataFrame) -> pd.DataFrame:
    """Records from a reader carry `source` and `record`; a frame of one's own (the Python API)
    gets source `<frame>` and records numbered from 1 in its row order."""
    if "source" not in records.columns:
        records = records.assign(source=pd.Categorical([FRAME_SOURCE] * len(records)))
    if "record" not in records.columns:
        records = records.assign(record=np.arange(1, len(records) + 1, dtype="int64"))
    return records


def ingest(records: pd.DataFrame, cfg: IngestConfig) -> StageResult:
    """Validate and type raw records; every record becomes an event or a quarantine row."""
    n = len(records)
    records = _with_provenance(records.reset_index(drop=True))

    malformed = _column(records, "malformed")
    is_malformed = malformed.notna().to_numpy()
    size = _record_size(records)
    too_long = ~is_malformed & (size > MAX_RECORD_SIZE)
    if too_long.any():  # a runaway line or a blob, not a log record: judged as malformed, kept as a preview
        detail = "record of " + pd.Series(size, dtype="str") + f" bytes, more than the {MAX_RECORD_SIZE} limit"
        malformed = malformed.astype("str").where(~too_long, detail)
        is_malformed = is_malformed | too_long

    # Timestamps parse on a second thread while the text columns are encoded here: both are
    # mostly numpy and Arrow kernels, which run without the GIL.
    with ThreadPoolExecutor(max_workers=1) as pool:
        parsing = pool.submit(
            parse_timestamps, _column(records, "timestamp"), timestamp_format=cfg.timestamp_format,
            timezone=cfg.timezone, timestamp_year=cfg.timestamp_year, epoch_unit=cfg.epoch_unit,
            window=cfg.window_ns())
        service_codes, service_names = _encoded_text(_column(records, "service"), sort=True)
        type_codes, type_names = _encoded_text(_column(records, "event_type"), upper=True)
        latency, latency_invalid = _parse_latency(_column(records, "latency_ms"))
        session_codes, session_names = _encoded_text(_column(records, "session_id"))
        parsed = parsing.result()
    known = np.append(pd.Index(EVENT_TYPES).get_indexer(type_names), -1)  # per category: 0..2, or -1
    event_type = np.where(type_codes >= 0, known[type_codes], -1)
    type_missing = type_codes < 0

    # field -> (rows failing it, the reason for each of those rows); a malformed record's fields
    # are not judged: the row itself is the reason. Reasons are spelled out for failing rows only.
    judged = ~is_malformed
    bad_timestamp = judged & pd.notna(parsed.reason)
    bad_service = judged & (service_codes < 0)
    bad_type = judged & (event_type < 0)
    failing = {
        "row": (is_malformed, Reason.MALFORMED_ROW.value),
        "timestamp": (bad_timestamp, parsed.reason[bad_timestamp]),
        "service": (bad_service, Reason.MISSING_FIELD.value),
        "event_type": (bad_type, np.where(type_missing[bad_type], Reason.MISSING_FIELD.value,
                                          Reason.INVALID_EVENT_TYPE.value)),
    }
    quarantined = is_malformed | bad_timestamp | bad_service | bad_type
    fails = pd.DataFrame({field: _reasons_of(mask, why, quarantined) for field, (mask, why) in failing.items()})

    kept = ~quarantined

    extra = [c for c in records.columns if c not in (*CANONICAL, "source", "record", "malformed", "raw")]
    events = pd.DataFrame({
        "timestamp": utc_datetimes(parsed.ns[kept]),
        "service": _categorical(service_codes, service_names, kept),
        "event_type": pd.Categorical.from_codes(event_type[kept], categories=EVENT_TYPES),
        "latency_ms": latency[kept],
        "session_id": _categorical(session_codes, session_names, kept),
        "source": _kept_categorical(records["source"], kept),
        "record": records["record"].to_numpy()[kept].astype("int64"),
        "arrival": np.flatnonzero(kept).astype("int64"),
    })
    for column in extra:
        events[column] = records[column][kept].reset_index(drop=True)

    quarantine = _quarantine_rows(records, fails, quarantined, malformed)
    bad_latency = latency_invalid & kept
    issues = issues_frame(
        records["source"][bad_latency].to_numpy(), records["record"][bad_latency].to_numpy(),
        field="latency_ms", reason=Reason.INVALID_LATENCY, action="nulled",
        detail=("value " + _column(records, "latency_ms")[bad_latency].astype("str").fillna("NaN")).to_numpy(),
        stage="ingest")
    stats = {
        "records": n, "events": int(kept.sum()), "quarantined": int(quarantined.sum()),
        "invalid_latency": int(bad_latency.sum()), "timestamp_digits": parsed.digits,
    }
    return StageResult(frame=events, issues=issues, tables={"quarantine": quarantine}, stats=stats)


def _quarantine_rows(records, fails, quarantined, malformed) -> pd.DataFrame:
    """`fails`: the failing reason per field, for the quarantined rows only."""
    rows = fails
    reason_list = pd.Series("", index=rows.index, dtype="str")
    field_list = pd.Series("", index=rows.index, dtype="str")
    for field in rows.columns:  # a handful of fields, vectorized over rows; aligned lists
        failed = rows[field].notna()
        reason_list = reason_list.where(~failed, reason_list + ";" + rows[field].fillna(""))
        field_list = field_list.where(~failed, field_list + ";" + field)
    reason_lists, field_lists = reason_list.str.removeprefix(";"), field_list.str.removeprefix(";")
    quarantine = pd.DataFrame({
        "source": records["source"][quarantined].astype("str").to_numpy(),
        "record": records["record"][quarantined].to_numpy(dtype="int64"),
        "reasons": reason_lists.to_numpy(dtype=object),
        "fields": field_lists.to_numpy(dtype=object),
        "detail": malformed[quarantined].to_numpy(dtype=object, na_value=None),  # null, not the text "nan"
    })
    for name in (*CANONICAL, "raw"):
        if name in records.columns:
            raw = records[name][quarantined]
            preview = _raw_text(raw).str.slice(0, RAW_PREVIEW_CHARS) if len(raw) else raw
            quarantine[name] = preview.to_numpy(dtype=object, na_value=None)  # null, not the text "nan"
    return quarantine.loc[:, [*QUARANTINE_COLUMNS, *[c for c in quarantine.columns if c not in QUARANTINE_COLUMNS]]]
