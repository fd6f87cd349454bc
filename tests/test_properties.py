"""Property-based tests over random and hostile records (issue 7).

Records frames are shaped like a reader's output (`source`, `record`, raw canonical columns,
`malformed`, maybe an extra column), either JSON-like (object columns holding strings, numbers,
booleans, nulls, objects, arrays) or CSV-like (text or null only). They go through the stage
functions exactly as the pipeline chains them; some go through real files and `read_input`.

Invariants checked on every example:
- no exception escapes a stage (bad data becomes quarantine or issue rows);
- row accounting: records = events + duplicates + quarantined, and each record lands in exactly one;
- every quarantined record has at least one reason, aligned with the fields that failed;
- no session has a negative duration, and a complete session never ends before it starts;
- conservation: 2·paired + unpaired = START + STOP (every START/STOP in exactly one session);
- the same input in a different arrival order gives the same sessions (see that test for what
  "same" means when times tie).
"""

from __future__ import annotations

import gzip
import json
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logrecon.config import Config
from logrecon.errors import InputError
from logrecon.ingest import ingest
from logrecon.metrics import metrics
from logrecon.normalize import normalize
from logrecon.readers import read_input
from logrecon.schema import nanoseconds
from logrecon.sessions import sessions
from logrecon.timestamps import parse_timestamps
from logrecon.validate import duplicated_services, quarantined_services, validate

EXAMPLES = settings(max_examples=500, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])
T0_NS = pd.Timestamp("2024-03-10T06:00:00Z").value
NS_PER_MS = 1_000_000
CANONICAL = ("timestamp", "service", "event_type", "latency_ms", "session_id")

# ------------------------------------------------------------------------------ raw values
garbage_text = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
    st.sampled_from(["\u2028", "a\u2029b", "\x85", "\ufeff", "\x00", "\x0c", "\r", "\n", "\r\n", '"', "'", ",",
                     ";", "\\", "=cmd|' /C calc'!A0", "😀", "\u202e", "NaN", "None", "null"]))
huge_text = st.builds(lambda ch, n: ch * n, st.sampled_from("x<é\x00,\"\n"), st.integers(1000, 20_000))
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=True, allow_infinity=True), garbage_text)
json_nested = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=2)
                           | st.dictionaries(st.text(max_size=3), inner, max_size=2), max_leaves=4)


@st.composite
def iso_text(draw, instant_ns=None):
    """An exact ISO-8601 spelling of an instant: any offset form, T/t/space, 0/3/6/9 fraction digits
    (naive spellings name the UTC wall time)."""
    ns = draw(st.integers(T0_NS - 10**15, T0_NS + 10**15)) if instant_ns is None else instant_ns
    offset_min = draw(st.sampled_from([None, 0, 60, -300, 330, 545, -720, 840, 59]))
    digits = draw(st.sampled_from([d for d in (0, 3, 6, 9) if ns % 10 ** (9 - d) == 0]))  # exact spelling
    local = pd.Timestamp(ns, unit="ns") + pd.Timedelta(minutes=offset_min or 0)
    text = local.strftime("%Y-%m-%d") + draw(st.sampled_from(["T", "t", " "])) + local.strftime("%H:%M:%S")
    if digits:
        text += "." + f"{local.nanosecond + local.microsecond * 1000:09d}"[:digits]
    if offset_min is None:
        return text
    if offset_min == 0 and draw(st.booleans()):
        return text + draw(st.sampled_from(["Z", "z"]))
    sign = "-" if offset_min < 0 else "+"
    hours, minutes = divmod(abs(offset_min), 60)
    return text + draw(st.sampled_from([f"{sign}{hours:02d}:{minutes:02d}", f"{sign}{hours:02d}{minutes:02d}"]
                                       + ([f"{sign}{hours:02d}"] if minutes == 0 else [])))


epoch_value = st.one_of(
    st.integers(0, 4_200_000_000),                               # seconds (incl. out of range)
    st.integers(10**12, 4 * 10**12),                             # milliseconds
    st.integers(10**15, 4 * 10**15),                             # microseconds
    st.integers(10**18, 4 * 10**18),                             # nanoseconds
    st.floats(9e8, 4.2e9).map(lambda v: round(v, 3)),            # float seconds
    st.integers(-2**63, 2**63 - 1), st.integers(2**63, 2**80),   # beyond int64
)
hostile_timestamp = st.one_of(
    iso_text(), epoch_value, epoch_value.map(str), garbage_text, huge_text, json_nested,
    st.sampled_from(["", " ", "NaN", "2024-02-30T00:00:00Z", "2016-12-31T23:59:60Z", "2024-01-01T23:59:60Z",
                     "03/04/2024 10:00", "2024-01-01 10:00:00 PST", "Mar 10 02:30:00", "1e10", "-0",
                     "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00+25:00",
                     "99999-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2100-01-01T00:00:00Z", "\x00", "true"]),
)
hostile_service = st.one_of(st.sampled_from(["api", " api ", "API", "db", "NA", "null", "None", "", "  ",
                                             "../../x", "<script>alert(1)</script>"]),
                            garbage_text, huge_text, json_nested)
hostile_event_type = st.one_of(st.sampled_from(["START", "STOP", "ERROR", " start ", "Stop", "error", "", "BEGIN",
                                                "START;STOP"]), garbage_text, json_nested)
hostile_latency = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 2**70),
                            st.sampled_from(["120", "120ms", "1,250", "NaN", "-5", "1e3", " 7 ", ".5", "5.", "inf",
                                             "", "0x10"]), garbage_text, json_nested)
hostile_session = st.one_of(st.sampled_from(["s1", "s2", " s1 ", "", None]), garbage_text, json_nested)
malformed_reason = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(["3 fields, header has 5",
                                                                              "broken JSON", "bytes that are not UTF-8"]))


def as_csv_text(value):
    """What a CSV reader would hand over for a JSON-ish value: text, or null for an empty field."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def records_frame(rows: list[dict], csv_like: bool, columns) -> pd.DataFrame:
    """Rows of raw values → a reader-shaped records frame; `record` numbers each source 1..n in
    row (arrival) order unless a row carries its own."""
    seen: Counter = Counter()
    numbers = []
    for row in rows:
        seen[row["source"]] += 1
        numbers.append(row.get("record", seen[row["source"]]))
    data = {"source": pd.Series([r["source"] for r in rows], dtype="str"),
            "record": pd.Series(numbers, dtype="int64")}
    for column in columns:
        values = [r.get(column) for r in rows]
        data[column] = pd.Series([as_csv_text(v) for v in values], dtype="str") if csv_like or column == "message" \
            else pd.Series(values, dtype=object)
    data["malformed"] = pd.Series([r.get("malformed") for r in rows], dtype="str")
    return pd.DataFrame(data)


@st.composite
def hostile_row(draw):
    return {"timestamp": draw(hostile_timestamp), "service": draw(st.one_of(st.none(), hostile_service)),
            "event_type": draw(st.one_of(st.none(), hostile_event_type)),
            "latency_ms": draw(st.one_of(st.none(), hostile_latency)),
            "session_id": draw(st.one_of(st.none(), hostile_session)),
            "malformed": draw(malformed_reason), "message": draw(json_scalar),
            "source": draw(st.sampled_from(["a.jsonl", "b.csv"]))}


# ------------------------------------------------------------------------- session streams
@st.composite
def session_streams(draw, max_sessions=6, unique_times_per_key=False, faults=True):
    """Real START/STOP(/ERROR) sessions; with `faults`, some events dropped or re-sent; arrival shuffled.

    Rows are (ns, service, event_type, latency_ms, session_id). With `unique_times_per_key`, no two
    events of one pairing key — (service, session_id), id-less events keyed by service — share a time.
    """
    n = draw(st.integers(0, max_sessions))
    events, used = [], set()

    def fresh(key, ns):
        if not unique_times_per_key:
            return ns
        while (key, ns) in used:
            ns += NS_PER_MS
        used.add((key, ns))
        return ns

    for _ in range(n):
        service = draw(st.sampled_from(["api", "db", "NA"]))
        session_id = draw(st.sampled_from(["s1", "s2", "s3", None]))
        key = (service, session_id)
        # Coarse times: many events of different keys share an instant (ties across keys).
        start = fresh(key, T0_NS + draw(st.integers(0, 40)) * 1000 * NS_PER_MS)
        duration_ms = draw(st.one_of(st.sampled_from([0, 1, 1000, 3000]), st.integers(0, 30_000)))
        stop = fresh(key, start + duration_ms * NS_PER_MS)
        latency = draw(st.sampled_from([None, float((stop - start) // NS_PER_MS), 5.0]))
        events.append((start, service, "START", None, session_id))
        if draw(st.booleans()):
            events.append((fresh(key, start + draw(st.integers(0, duration_ms)) * NS_PER_MS), service, "ERROR",
                           None, session_id))
        events.append((stop, service, "STOP", latency, session_id))
    if faults and events:
        dropped = draw(st.sets(st.integers(0, len(events) - 1), max_size=max(len(events) // 3, 1)))
        events = [e for i, e in enumerate(events) if i not in dropped]
        if events:
            copies = draw(st.lists(st.integers(0, len(events) - 1), max_size=3))
            events += [events[i] for i in copies]
    order = draw(st.permutations(range(len(events))))
    return [events[i] for i in order]


@st.composite
def event_row(draw, event, csv_like):
    """One stream event as raw values: the instant spelled as ISO (any offset) or an epoch,
    the event type in any case and padding, the latency as a number or text."""
    ns, service, event_type, latency, session_id = event
    kind = draw(st.sampled_from(["iso", "iso", "epoch_ms", "epoch_ns"]))
    if kind == "iso":
        stamp = draw(iso_text(instant_ns=ns))
    else:
        stamp = ns // NS_PER_MS if kind == "epoch_ms" and ns % NS_PER_MS == 0 else ns
        stamp = str(stamp) if csv_like or draw(st.booleans()) else stamp
    spelled_type = draw(st.sampled_from([event_type, event_type.lower(), f" {event_type.title()} "]))
    if latency is not None and (csv_like or draw(st.booleans())):
        latency = repr(latency)
    return {"timestamp": stamp, "service": service, "event_type": spelled_type, "latency_ms": latency,
            "session_id": session_id, "source": "app.log"}


configs = st.builds(
    lambda strategy, max_session, infer, tolerance, lateness, gap: replace(
        Config(),
        sessions=replace(Config().sessions, strategy=strategy, max_session_s=max_session,
                         infer_start_from_latency=infer),
        normalize=replace(Config().normalize, dedup_tolerance_ms=tolerance, allowed_lateness_ms=lateness),
        validate=replace(Config().validate, gap_threshold=gap)),
    st.sampled_from(["auto", "fifo", "lifo", "latency"]), st.sampled_from([None, None, 5.0, 3600.0]),
    st.booleans(), st.sampled_from([0.0, 0.0, 50.0]), st.sampled_from([0.0, 1000.0]),
    st.sampled_from(["auto", 1.0, 300.0]))


# ----------------------------------------------------------------------------- the chain
def run_stages(records: pd.DataFrame, cfg: Config) -> dict:
    """Every stage, chained as pipeline.py chains them."""
    ingested = ingest(records, cfg.ingest)
    ordered = normalize(ingested.frame, cfg.normalize)
    checked = validate(ordered.frame, ordered.tables["duplicates"], ingested.tables["quarantine"], cfg.validate)
    timeline = sessions(ordered.frame, cfg.sessions)
    scored = metrics(ordered.frame, timeline.frame, checked.frame,
                     duplicates_by_service=duplicated_services(ordered.frame, ordered.tables["duplicates"]),
                     quarantined_by_service=quarantined_services(ingested.tables["quarantine"]),
                     gaps=checked.tables["gaps"], cfg=cfg.metrics)
    return {"ingest": ingested, "normalize": ordered, "validate": checked, "sessions": timeline, "metrics": scored}


def assert_accounting(records: pd.DataFrame, results: dict) -> None:
    """records = events + duplicates + quarantined, and every record lands in exactly one of them."""
    events = results["normalize"].frame
    duplicates = results["normalize"].tables["duplicates"]
    quarantine = results["ingest"].tables["quarantine"]
    assert len(records) == len(events) + len(duplicates) + len(quarantine)
    landed = Counter(zip(events["source"].astype(str), events["record"])) \
        + Counter(zip(duplicates["source"].astype(str), duplicates["record"])) \
        + Counter(zip(quarantine["source"].astype(str), quarantine["record"]))
    assert landed == Counter(zip(records["source"].astype(str), records["record"]))


def assert_quarantine_has_reasons(results: dict) -> None:
    quarantine = results["ingest"].tables["quarantine"]
    for reasons, fields in zip(quarantine["reasons"], quarantine["fields"]):
        assert isinstance(reasons, str) and reasons, "a quarantined record without a reason"
        assert len(reasons.split(";")) == len(fields.split(";")), (reasons, fields)
        assert set(reasons.split(";")) <= {"malformed_row", "missing_field", "invalid_timestamp",
                                           "ambiguous_timestamp", "timestamp_out_of_range", "invalid_event_type"}


def assert_sessions_sound(results: dict) -> None:
    """No negative duration; every START/STOP event in exactly one session end (conservation)."""
    table = results["sessions"].frame
    events = results["normalize"].frame
    durations = table["duration_ms"].dropna()
    assert (durations >= 0).all(), table[table["duration_ms"] < 0]
    complete = table[table["status"] == "complete"]
    assert (nanoseconds(complete["stop_time"]) >= nanoseconds(complete["start_time"])).all()
    assert set(table["status"]) <= {"complete", "missing_stop", "missing_start", "timed_out", "clock_skew"}
    bounds = events[events["event_type"].isin(["START", "STOP"])]
    real_start = table["start_record"].notna() & ~table["start_inferred"].astype(bool)
    ends = Counter(zip(table.loc[real_start, "start_source"].astype(str), table.loc[real_start, "start_record"])) \
        + Counter(zip(table.loc[table["stop_record"].notna(), "stop_source"].astype(str),
                      table.loc[table["stop_record"].notna(), "stop_record"]))
    assert sum(ends.values()) == len(bounds), "2·paired + unpaired != START + STOP"
    assert ends == Counter(zip(bounds["source"].astype(str), bounds["record"]))
    paired = int((table["start_record"].notna() & table["stop_record"].notna() & real_start).sum())
    unpaired = int(real_start.sum() + table["stop_record"].notna().sum()) - 2 * paired
    assert 2 * paired + unpaired == int(events["event_type"].isin(["START", "STOP"]).sum())


def assert_metrics_consistent(results: dict) -> None:
    table = results["metrics"].frame
    overall = table[table["service"] == "ALL"]
    assert len(overall) == 1
    assert int(overall["events"].iloc[0]) == len(results["normalize"].frame)
    assert int(overall["quarantined"].iloc[0]) == len(results["ingest"].tables["quarantine"])
    assert table["consistency_score"].between(0, 1).all()
    assert table["error_rate"].between(0, 1).all()


# ---------------------------------------------------------------------------- properties
@st.composite
def hostile_records(draw):
    """Real sessions (some events dropped, re-sent, shuffled) mixed with hostile rows, as a
    JSON-like or CSV-like records frame; some canonical columns may be absent, an extra may travel."""
    csv_like = draw(st.booleans())
    rows = [draw(event_row(e, csv_like)) for e in draw(session_streams())]
    n_real = len(rows)
    rows += draw(st.lists(hostile_row(), max_size=6))
    order = draw(st.permutations(range(len(rows))))
    rows = [rows[i] for i in order]
    columns = ["timestamp", "service", "event_type"] + draw(st.lists(st.sampled_from(["latency_ms", "session_id"]),
                                                                     unique=True))
    columns += ["message"] if draw(st.booleans()) else []
    real = [i < n_real for i in order]
    return records_frame(rows, csv_like, columns), np.array(real, dtype=bool)


def session_sets(records: pd.DataFrame, cfg: Config) -> dict[str, Counter]:
    """Sessions per source file as a multiset of (service, session_id, status, start record, stop record)."""
    ordered = normalize(ingest(records, cfg.ingest).frame, cfg.normalize)
    table = sessions(ordered.frame, cfg.sessions).frame

    def cell(value):
        return None if pd.isna(value) else value
    found: dict[str, Counter] = {}
    for r in table.itertuples(index=False):
        source = cell(r.start_source) or cell(r.stop_source)
        found.setdefault(source, Counter())[(str(r.service).split("#")[0], cell(r.session_id), r.status,
                                             cell(r.start_record), cell(r.stop_record))] += 1
    return found


@EXAMPLES
@given(data=st.data(), cfg=configs.filter(lambda c: c.normalize.dedup_tolerance_ms == 0))
def test_arrival_order_does_not_change_the_sessions(data, cfg):
    """The same events delivered in another order give the same sessions.

    "Same" = the same multiset of (service, session_id, status, start record, stop record), each
    record keeping its identity (record number) whatever its arrival position.
    This holds when no two events of one pairing key share a timestamp: the analysis order is
    (timestamp, arrival), so a tie *within a key* is broken by arrival order by design (e.g. START
    and STOP at the same instant pair when the START arrives first, and are two orphans otherwise),
    and of two exact copies the first to arrive is the one kept. Ties across keys are allowed and
    must not matter. The data here therefore has unique times per key (and so no exact copies);
    dedup tolerance is off, since near-copies within it also keep whichever arrived first.

    One stage call carries both deliveries (half the cost): the shuffled copy comes from another
    source with its services renamed `name#2`. Pairing is per (service, session_id) and the
    strategy is chosen per service, so the two copies cannot see each other.
    """
    csv_like = data.draw(st.booleans())
    events = data.draw(session_streams(unique_times_per_key=True, faults=False))
    dropped = data.draw(st.sets(st.integers(0, max(len(events) - 1, 0)), max_size=max(len(events) // 3, 1)))
    rows = [data.draw(event_row(e, csv_like)) for i, e in enumerate(events) if i not in dropped]
    order = data.draw(st.permutations(range(len(rows))))
    copies = [{**rows[i], "source": "again.log", "record": i + 1, "service": rows[i]["service"] + "#2"} for i in order]
    records = records_frame(rows + copies, csv_like, list(CANONICAL))
    found = session_sets(records, cfg)
    assert found.get("app.log", Counter()) == found.get("again.log", Counter())


@EXAMPLES
@given(values=st.lists(hostile_timestamp, max_size=8), tz=st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]))
def test_every_timestamp_gets_an_instant_or_exactly_one_reason(values, tz):
    """Any raw value: parsed to UTC ns inside the window, or exactly one reason; never an exception."""
    window = (pd.Timestamp("2000-01-01", tz="UTC").value, pd.Timestamp("2100-01-01", tz="UTC").value)
    parsed = parse_timestamps(pd.Series(values, dtype=object), timezone=tz, window=window)
    assert len(parsed.ns) == len(parsed.reason) == len(values)
    ok = pd.isna(parsed.reason)
    assert ((parsed.ns[ok] >= window[0]) & (parsed.ns[ok] < window[1])).all()
    assert 0 <= parsed.digits <= 9


@EXAMPLES
@given(ns=st.integers(pd.Timestamp("2000-01-02", tz="UTC").value, pd.Timestamp("2099-12-30", tz="UTC").value),
       data=st.data())
def test_an_instant_spelled_in_any_offset_or_epoch_parses_back_to_itself(ns, data):
    """ISO with any offset form → the same UTC instant; epochs get their unit from magnitude."""
    iso = data.draw(iso_text(instant_ns=ns))
    seconds = ns // 10**9
    spellings = [iso, seconds, str(seconds), ns // 10**6, str(ns // 10**3), str(ns), ns, seconds + 0.5]
    expected = [ns, seconds * 10**9, seconds * 10**9, ns // 10**6 * 10**6, ns // 10**3 * 10**3, ns, ns,
                seconds * 10**9 + 500_000_000]
    window = (pd.Timestamp("2000-01-01", tz="UTC").value, pd.Timestamp("2100-01-01", tz="UTC").value)
    parsed = parse_timestamps(pd.Series(spellings, dtype=object), window=window)
    assert list(parsed.reason) == [None] * len(spellings), (spellings, list(parsed.reason))
    assert list(parsed.ns) == expected, spellings


# ------------------------------------------------------------------------------ real files
FILE_HEADERS = [("timestamp", "service", "event_type", "latency_ms", "session_id"),
                ("timestamp", "service", "event_type"), ("service", "session_id", "timestamp", "event_type", "note")]


@st.composite
def csv_bytes(draw):
    """A CSV file: real events and hostile lines (garbage fields, short and long rows, quoted
    newlines, stray bytes, blank lines), any header layout, BOM or not, LF or CRLF."""
    header = draw(st.sampled_from(FILE_HEADERS))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    events = [draw(event_row(e, csv_like=True)) for e in draw(session_streams(max_sessions=3))]
    lines: list[bytes | list[str]] = [[*header]] + [[as_csv_text(e.get(h)) or "" for h in header] for e in events]
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["row", "short", "long", "blank", "bytes"]))
        if kind == "blank":
            lines.insert(draw(st.integers(1, len(lines))), b"")
        elif kind == "bytes":
            lines.insert(draw(st.integers(1, len(lines))),
                         draw(st.binary(max_size=30)).replace(b"\n", b"").replace(b"\r", b""))
        else:
            width = len(header) + {"short": -1, "long": 1}.get(kind, 0)
            lines.insert(draw(st.integers(1, len(lines))),
                         [draw(st.one_of(st.sampled_from(["", "api", "START", "stop", "1710064807"]), garbage_text))
                          for _ in range(width)])

    def encode(line) -> bytes:
        if isinstance(line, bytes):
            return line
        return ",".join('"' + f.replace('"', '""') + '"' if any(c in f for c in ',"\r\n') or draw(st.booleans())
                        else f for f in line).encode("utf-8")
    body = newline.encode().join(encode(line) for line in lines)
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + body + (newline.encode() if draw(st.booleans()) else b"")


@st.composite
def jsonl_bytes(draw):
    """A JSON Lines file: real events and hostile lines (wrong types, broken JSON, arrays,
    scalars, stray bytes, blank lines)."""
    objects = [draw(event_row(e, csv_like=False)) for e in draw(session_streams(max_sessions=3))]
    lines = [json.dumps({k: v for k, v in obj.items() if k != "source"}, ensure_ascii=draw(st.booleans())).encode()
             for obj in objects]
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["object", "blank", "broken", "array", "bytes", "scalar"]))
        if kind == "object":
            obj = {k: draw(st.one_of(iso_text(), json_nested) if k == "timestamp" else
                           st.one_of(st.sampled_from(["api", "START", "STOP", "s1"]), json_nested))
                   for k in draw(st.lists(st.sampled_from(CANONICAL + ("extra",)), unique=True))}
            line = json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8")
        elif kind == "blank":
            line = draw(st.sampled_from([b"", b"  ", b"\t", b"\r"]))
        elif kind == "broken":
            line = b'{"timestamp": "2024-01-01T00:00:00Z", "service": '
        elif kind == "array":
            line = b'["2024-01-01T00:00:00Z", "api", "START"]'
        elif kind == "scalar":
            line = draw(st.sampled_from([b"null", b"42", b'"text"', b"true", b"{}"]))
        else:
            line = draw(st.binary(max_size=30)).replace(b"\n", b"")
        lines.insert(draw(st.integers(0, len(lines))), line)
    return b"\n".join(lines) + (b"\n" if draw(st.booleans()) else b"")


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def file_records(data, scratch: Path) -> pd.DataFrame | None:
    """A hostile file read by `read_input` (None when refused as a whole, with an InputError
    naming the file); checks how the reader numbered its records."""
    kind = data.draw(st.sampled_from(["csv", "jsonl"]), label="format")
    content = data.draw(csv_bytes() if kind == "csv" else jsonl_bytes(), label="content")
    compressed = data.draw(st.booleans(), label="gzip")
    path = scratch / (f"input.{kind}" + (".gz" if compressed else ""))
    path.write_bytes(gzip.compress(content, mtime=0) if compressed else content)
    try:
        read = read_input(path)
    except InputError as exc:
        assert str(path) in str(exc)
        return None
    records = read.records
    assert records["record"].tolist() == list(range(1, len(records) + 1))
    assert (records["source"] == str(path)).all() and "malformed" in records.columns
    assert "empty_input" not in read.file_issues or len(records) == 0
    if kind == "jsonl":  # one record per non-blank line; only \n ends a line
        lines = content.decode("utf-8", "surrogateescape").removeprefix("\ufeff").split("\n")
        assert len(records) == sum(1 for line in lines if line.strip())
    return records


# ---------------------------------------------------------------------------- the property
@EXAMPLES
@given(data=st.data(), cfg=configs)
def test_hostile_records_through_every_stage_are_all_accounted_for_and_sessions_stay_sound(scratch, data, cfg):
    """Garbage text and bytes, huge fields, wrong JSON types, random offsets and epochs, empty
    values, mixed into real sessions whose events were dropped, re-sent and shuffled, as in-memory
    records frames or through real CSV / JSON Lines files (plain or .gz), under random configs:
    no exception escapes; each record becomes an event, a removed copy or a quarantine row with
    its reasons; no negative duration; 2·paired + unpaired = START + STOP; metrics add up; a real
    event is never quarantined; stages never mutate their input."""
    if data.draw(st.integers(0, 2), label="through a file") == 0:
        records, real = file_records(data, scratch), None
        if records is None:
            return
    else:
        records, real = data.draw(hostile_records(), label="records")
    before = records.copy()
    results = run_stages(records, cfg)
    pd.testing.assert_frame_equal(records, before)
    assert_accounting(records, results)
    assert_quarantine_has_reasons(results)
    assert_sessions_sound(results)
    assert_metrics_consistent(results)
    if real is not None:
        quarantine = results["ingest"].tables["quarantine"]
        assert not set(zip(quarantine["source"], quarantine["record"])) & set(zip(records["source"][real],
                                                                                  records["record"][real]))
