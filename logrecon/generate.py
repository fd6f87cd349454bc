"""Synthetic logs with ground truth: every fault of the mission injected, and labelled.

`generate(rows, seed)` simulates about a dozen services, each running many sessions at once
(START … ERROR … STOP), then injects data faults at the rates of `FaultRates` and returns the
log records in arrival (file) order together with the truth: the real sessions, a fault label
per record and the outage windows. `write_generated(out_dir, generated)` writes them as
`logs.csv` and `truth/{sessions,records,outages}.csv` + `truth/params.json`, and
`truth/logs_digest.json`: the sha256 and record count of the logs.csv the truth describes, which
`logrecon evaluate` compares with the run's input.

The simulation (all vectorized; no Python loop per row):

* Service `s` has a median session duration drawn log-uniform in 1-30 s; durations are
  lognormal around it (sigma 0.75). Sessions start as a Poisson process whose rate is chosen so
  that `concurrency` sessions are open at once on average (Little's law), for every service.
  All services span the same time (1M rows ~ 3.5 h). The log ends where a service's starts end:
  the sessions still open then stop within one median duration, so no lone long session
  leaves a false gap at the end.
* Times are integer milliseconds, unique per service (a tie is pushed 1 ms later before any
  duration is taken), so two distinct records never share their canonical values: every
  duplicate in the file is an injected one, also without session ids.
* A STOP carries `latency_ms` = the session's true duration (+ optional jitter, default 0), so
  `stop - latency` is its START's time. STARTs and ERRORs carry no latency. ERROR events lie
  strictly between their session's START and STOP and carry its session id.
* Outages: a service pauses for a window (default 2-15 min) in which it logs nothing at all;
  sessions in flight resume after it, so their durations include the pause (labelled
  `outage_overlap` in the truth sessions). `FaultRates.outage` is per service per hour of log
  time; each service gets floor(expected) outages plus one with the remaining probability.

Faults (per `FaultRates`): per session at most one "end fault" (START or STOP dropped, a
timestamp fault on START or STOP, or clock skew), so each true session keeps at least one
record and has one expected status; timestamp faults also hit ERROR records. Duplicates are
exact copies of clean records arriving 1 ms-60 s after their original. Late records keep their
true timestamp but arrive 1 s-`max_lateness_ms` later (and always after a later-timestamped
event of their service). A clock-skewed STOP is logged 1 ms-`max_skew_ms` before its START.
Timestamp faults: missing = empty field; corrupt = half garbage (`not-a-timestamp`, …), half
impossible dates (`2025-13-45T…`, `2025-02-30T…`, `…T25:61:…`); out of range = well-formed
`1970-01-01T00:00:00.000Z` or the true time with its year set to 1968 or 2152.

Truth semantics (what a perfect reconstruction reports): `late` is set exactly on the records
whose lateness, measured as DESIGN defines it on the written file, is > 0; `expected_status` is
`missing_start` when the START was dropped or its timestamp is unusable, `missing_stop` for the
STOP, `clock_skew` for a skewed session (without session ids a skewed STOP cannot be tied to its
START, so there it is `missing_start`), otherwise `complete`.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .artifacts import byte_strings, file_sha256, utc_bytes, write_json
from .errors import ConfigError

DEFAULT_ROWS = 20_000
SERVICE_NAMES = (
    "api-gateway", "auth", "billing", "catalog", "checkout", "inventory",
    "notifications", "orders", "payments", "search", "shipping", "users",
)

# Event type codes; their numeric order is the order within one millisecond of one session.
START, ERROR, STOP = 0, 1, 2
EVENT_TYPES = ("START", "ERROR", "STOP")

# Per-record fault labels (truth/records.csv `faults`), one bit each.
RECORD_FAULTS = (
    "missing_timestamp", "corrupt_timestamp", "out_of_range_timestamp",
    "duplicate", "late", "latency_spike", "clock_skew",
)
_BIT = {name: 1 << i for i, name in enumerate(RECORD_FAULTS)}
TIMESTAMP_FAULTS = RECORD_FAULTS[:3]

# Per-session end faults (at most one per session); index = code.
END_FAULTS = (
    "", "start_dropped", "stop_dropped",
    "start_missing_timestamp", "start_corrupt_timestamp", "start_out_of_range_timestamp",
    "stop_missing_timestamp", "stop_corrupt_timestamp", "stop_out_of_range_timestamp",
    "clock_skew",
)
_SKEW = END_FAULTS.index("clock_skew")

# Shape of the simulation (not faults; fixed so that rates mean the same at every size).
_MEDIAN_MS = (1_000.0, 30_000.0)     # per-service median session duration, log-uniform
_SIGMA = 0.75                        # lognormal spread of durations
_SPIKE_FACTOR = (15.0, 50.0)         # a latency spike multiplies the duration by this
_MIN_DURATION_MS = 10
_DUP_DELAY_MS = 60_000               # a re-sent copy arrives up to this much later
_MIN_LATENESS_MS = 1_000
_BIG = 1 << 40                       # separates services in one int64 sort key

_GARBAGE = (
    "not-a-timestamp", "####-##-##T##:##:##.###Z", "0000-00-00T00:00:00.000Z",
    "2025-01-01Tgarbage", "yesterday", "<timestamp>", "ts=?", "--:--:--",
)


def _rate(default: float, help: str) -> float:
    return field(default=default, metadata={"help": help, "rate": True})


def _knob(default: float, help: str) -> float:
    return field(default=default, metadata={"help": help, "rate": False})


@dataclass(frozen=True)
class FaultRates:
    """How often each fault is injected (fractions) and the knobs that shape them."""

    missing_timestamp: float = _rate(0.002, "fraction of records whose timestamp is empty")
    corrupt_timestamp: float = _rate(
        0.002, "fraction of records with an unparseable or impossible timestamp")
    out_of_range_timestamp: float = _rate(
        0.001, "fraction of records with a well-formed timestamp outside 2000-2100")
    duplicate: float = _rate(0.01, "re-sent exact copies, as a fraction of all rows")
    late: float = _rate(0.01, "fraction of records that arrive late (timestamp kept)")
    partial: float = _rate(0.01, "fraction of sessions whose START or STOP is dropped")
    latency_spike: float = _rate(0.005, "fraction of sessions lasting 15-50x their usual time")
    outage: float = field(default=0.5, metadata={
        "help": "outages per service per hour of log time (1M rows span about 3.5 h)",
        "rate": True, "max": None})
    clock_skew: float = _rate(0.002, "fraction of sessions whose STOP is logged before START")
    error_event: float = _rate(0.03, "ERROR events per session (inside the session)")
    max_lateness_ms: float = _knob(300_000.0, "late records arrive up to this much late")
    outage_min_s: float = _knob(120.0, "shortest outage, seconds")
    outage_max_s: float = _knob(900.0, "longest outage, seconds")
    max_skew_ms: float = _knob(5_000.0, "a skewed STOP is logged up to this much before START")
    latency_jitter_ms: float = _knob(
        0.0, "std-dev of noise added to a STOP's latency_ms (0: latency = duration exactly)")

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
                raise ConfigError("fault rates", f.name, f"must be a number >= 0, got {value!r}")
            if f.metadata["rate"] and f.metadata.get("max", 1) is not None and value > 1:
                raise ConfigError("fault rates", f.name, f"must be <= 1, got {value!r}")
        if self.outage_min_s > self.outage_max_s:
            raise ConfigError("fault rates", "outage_min_s", "must be <= outage_max_s")
        if self.max_lateness_ms < 1:
            raise ConfigError("fault rates", "max_lateness_ms", "must be >= 1")
        if self.max_skew_ms < 1:
            raise ConfigError("fault rates", "max_skew_ms", "must be >= 1")
        ends = self.partial + 2 * (
            self.missing_timestamp + self.corrupt_timestamp + self.out_of_range_timestamp
        ) + self.clock_skew
        if ends > 0.5:
            raise ConfigError(
                "fault rates", None,
                f"partial + 2*(timestamp faults) + clock_skew = {ends:.3f}; must be <= 0.5",
            )


@dataclass(frozen=True)
class GeneratedLogs:
    """Logs in file order (record = row position + 1) and their truth tables."""

    logs: pd.DataFrame       # timestamp (str), service, event_type, latency_ms, session_id
    records: pd.DataFrame    # one row per record: record, true_timestamp, …, faults, …
    sessions: pd.DataFrame   # one row per true session, with its expected status
    outages: pd.DataFrame    # service, outage_start, outage_end
    params: dict


# --------------------------------------------------------------------------- formatting


def format_iso_ms(ms: np.ndarray) -> pa.LargeStringArray:
    """Epoch milliseconds -> ISO-8601 UTC strings with `Z` and millisecond precision."""
    return byte_strings(utc_bytes(np.asarray(ms, dtype=np.int64) * 1_000_000, 3))


def _session_id_strings(ids: np.ndarray) -> pa.LargeStringArray:
    """uint32 ids -> `s-` + 8 lowercase hex digits."""
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    ids = ids.astype(np.uint64)
    buf = np.empty((len(ids), 10), dtype=np.uint8)
    buf[:, 0] = ord("s")
    buf[:, 1] = ord("-")
    for k in range(8):
        buf[:, 9 - k] = hexdigits[(ids >> np.uint64(4 * k)) & np.uint64(15)]
    return byte_strings(buf)


def _str_series(array: pa.Array) -> pd.Series:
    return pd.Series(array, dtype=pd.StringDtype("pyarrow", na_value=np.nan))


def _categorical(codes: np.ndarray, names) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int32), categories=pd.Index(list(names), dtype="str"))


def _utc_ms(ms: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(ms, dtype=np.int64).view("datetime64[ms]")).dt.tz_localize("UTC")


def _to_ms(ts: pd.Series) -> np.ndarray:
    """A tz-aware datetime Series -> epoch milliseconds (int64)."""
    return ts.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ms]").to_numpy().view(np.int64)


def _parse_start(start: str) -> int:
    try:
        ts = pd.Timestamp(start)
    except (ValueError, TypeError):
        raise ConfigError("generate", "start", f"not an ISO-8601 time: {start!r}") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def service_names(services: int) -> list[str]:
    """The names of the first `services` synthetic services."""
    return [SERVICE_NAMES[i] if i < len(SERVICE_NAMES) else f"service-{i + 1:02d}"
            for i in range(services)]


# --------------------------------------------------------------------------- generation


def _pick(rng: np.random.Generator, population: np.ndarray, k: int) -> np.ndarray:
    """k distinct members of `population` (sorted), or all of them if there are fewer."""
    k = min(int(k), len(population))
    if k <= 0:
        return population[:0]
    return np.sort(rng.choice(population, size=k, replace=False))


def _segment_starts(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def generate(
    rows: int,
    seed: int = 0,
    *,
    services: int = 12,
    session_ids: bool = True,
    rates: FaultRates = FaultRates(),
    concurrency: float = 24,
    start: str = "2025-01-01T00:00:00Z",
) -> GeneratedLogs:
    """Synthetic logs (`rows` records in arrival order) with every injected fault labelled."""
    if not isinstance(rows, (int, np.integer)) or rows < 0:
        raise ConfigError("generate", "rows", f"must be an integer >= 0, got {rows!r}")
    if not isinstance(services, (int, np.integer)) or not 1 <= services <= 10_000:
        raise ConfigError("generate", "services", f"must be an integer 1-10000, got {services!r}")
    if not concurrency > 0:
        raise ConfigError("generate", "concurrency", f"must be > 0, got {concurrency!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError("generate", "seed", f"must be an integer >= 0, got {seed!r}")
    rows, services = int(rows), int(services)
    t0 = _parse_start(start)
    rng = np.random.default_rng(seed)
    names = service_names(services)

    # ---- how many sessions, dropped ends, errors and copies make exactly `rows` records
    n_dup = round(rows * rates.duplicate)
    base = rows - n_dup
    n = int(base // (2 - rates.partial + rates.error_event))
    if n == 0 and base > 0:
        n = 1
    n_drop = round(rates.partial * n)
    n_err = base - (2 * n - n_drop)
    if n_err < 0:
        n_drop, n_err = min(n, n_drop - n_err), 0

    # ---- sessions per service: Poisson starts at the rate that gives `concurrency` open
    median = np.exp(rng.uniform(*np.log(_MEDIAN_MS), services))
    lo, hi = _SPIKE_FACTOR
    spike_mean = (hi - lo) / math.log(hi / lo)
    p_spike = rates.latency_spike
    mean_duration = median * math.exp(_SIGMA**2 / 2) * (1 - p_spike + p_spike * spike_mean)
    rate = concurrency / mean_duration                      # sessions per ms
    per_service = rng.multinomial(n, rate / rate.sum()) if n else np.zeros(services, np.int64)
    svc = np.repeat(np.arange(services, dtype=np.int64), per_service)
    first_session = _segment_starts(per_service)
    gaps = rng.exponential(1.0, n) / rate[svc]
    cum = np.cumsum(gaps)
    start_a = cum - np.repeat(np.concatenate([[0.0], cum])[first_session], per_service)
    del gaps, cum
    start_a = np.floor(start_a).astype(np.int64)
    # the log ends where a service's starts end: no session may drag on long after it
    # (a lone late STOP would leave a false gap), so spikes go to sessions that fit and
    # the few sessions still open at the end stop within one median duration of it
    last_start = np.zeros(services, np.int64)
    if n:
        last_start = np.where(
            per_service > 0, start_a[np.maximum(first_session + per_service - 1, 0)], 0)
    end_a = last_start[svc]
    duration = median[svc] * np.exp(_SIGMA * rng.standard_normal(n))
    spiked = np.zeros(n, dtype=bool)
    fits = np.flatnonzero(start_a + duration * hi <= end_a)
    spiked[_pick(rng, fits, round(p_spike * n))] = True
    del fits
    duration[spiked] *= np.exp(rng.uniform(math.log(lo), math.log(hi), int(spiked.sum())))
    stop_a = start_a + np.maximum(np.rint(duration), _MIN_DURATION_MS).astype(np.int64)
    del duration
    tail = end_a + np.floor(rng.random(n) * median[svc]).astype(np.int64)
    stop_a = np.minimum(stop_a, np.maximum(tail, start_a + _MIN_DURATION_MS))
    del tail, end_a

    # ---- events: n STARTs, n STOPs, then the ERRORs (each strictly inside its session)
    err_sess = np.sort(rng.integers(0, n, n_err)) if n_err else np.zeros(0, np.int64)
    span = stop_a[err_sess] - start_a[err_sess]
    err_t = start_a[err_sess] + 1 + np.floor(rng.random(n_err) * (span - 1)).astype(np.int64)
    del span
    ev_sess = np.concatenate([np.arange(n), np.arange(n), err_sess])
    ev_type = np.concatenate([
        np.full(n, START, np.int8), np.full(n, STOP, np.int8), np.full(n_err, ERROR, np.int8)
    ])
    ev_t = np.concatenate([start_a, stop_a, err_t])
    del start_a, stop_a, err_t
    ev_svc = svc[ev_sess]
    m = len(ev_t)

    # unique times per service: stable sort, then t'_i = max(t_i, t'_{i-1} + 1) in one cummax
    if m and int(ev_t.max()) >= _BIG // 4:
        raise ConfigError("generate", "rows", "the simulated span is too long (> 8 years)")
    by_time = np.argsort(ev_svc * _BIG + ev_t * 4 + ev_type, kind="stable")
    pos = np.arange(m, dtype=np.int64)
    key = ev_t[by_time] - pos + ev_svc[by_time] * _BIG
    np.maximum.accumulate(key, out=key)
    ev_t[by_time] = key - ev_svc[by_time] * _BIG + pos
    del key, pos

    # ---- outages: pauses inserted into each service's timeline (active time -> wall time)
    ev_count = np.bincount(ev_svc, minlength=services)
    has = ev_count > 0
    sorted_t = ev_t[by_time]
    seg = _segment_starts(ev_count)
    t_first = np.where(has, sorted_t[np.minimum(seg, max(m - 1, 0))] if m else 0, 0)
    t_last = np.where(has, sorted_t[np.maximum(seg + ev_count - 1, 0)] if m else 0, 0)
    del sorted_t, seg
    expected = rates.outage * (t_last - t_first) / 3_600_000     # outages due per service
    n_out = np.where(has, np.floor(expected) + (rng.random(services) < expected % 1), 0)
    n_out = n_out.astype(np.int64)
    o_svc = np.repeat(np.arange(services, dtype=np.int64), n_out)
    o_pos = t_first[o_svc] + np.floor(
        rng.random(len(o_svc)) * (t_last - t_first)[o_svc]
    ).astype(np.int64)
    o_dur = rng.integers(
        int(rates.outage_min_s * 1000), int(rates.outage_max_s * 1000) + 1, len(o_svc)
    )
    o_order = np.lexsort((o_pos, o_svc))
    o_svc, o_pos, o_dur = o_svc[o_order], o_pos[o_order], o_dur[o_order]
    o_key = o_svc * _BIG + o_pos
    o_cum = np.concatenate([[0], np.cumsum(o_dur)])
    o_first = np.searchsorted(o_key, np.arange(services, dtype=np.int64) * _BIG, "left")
    shift = (
        o_cum[np.searchsorted(o_key, ev_svc * _BIG + ev_t, "left")] - o_cum[o_first[ev_svc]]
    )
    ev_wall = ev_t + shift + t0            # true (wall) time of every event
    del shift, ev_t
    o_start = o_pos + o_cum[np.arange(len(o_svc))] - o_cum[o_first[o_svc]] + t0
    o_end = o_start + o_dur

    start_w, stop_w = ev_wall[:n], ev_wall[n:2 * n]
    if len(o_svc):
        # a session spans an outage when some outage of its service starts inside it
        lo_i = np.searchsorted(o_svc * _BIG + (o_start - t0), svc * _BIG + (start_w - t0), "left")
        hi_i = np.searchsorted(o_svc * _BIG + (o_start - t0), svc * _BIG + (stop_w - t0), "left")
        overlap = hi_i > lo_i
    else:
        overlap = np.zeros(n, dtype=bool)

    # ---- end faults: at most one per session
    r = rates
    counts = [
        0, 0,
        round(r.missing_timestamp * n), round(r.corrupt_timestamp * n),
        round(r.out_of_range_timestamp * n),
        round(r.missing_timestamp * n), round(r.corrupt_timestamp * n),
        round(r.out_of_range_timestamp * n),
    ]
    counts[0] = int(rng.binomial(n_drop, 0.5)) if n_drop else 0
    counts[1] = n_drop - counts[0]
    end_fault = np.zeros(n, dtype=np.int8)
    perm = rng.permutation(n)
    at = 0
    for code, k in enumerate(counts, start=1):
        k = min(k, n - at)
        end_fault[perm[at:at + k]] = code
        at += k
    del perm
    # clock skew: not on a session whose START follows an outage by less than max_skew
    # (the skewed STOP would land inside the outage window)
    eligible = end_fault == 0
    if len(o_svc):
        margin = int(r.max_skew_ms) + 100
        end_key = o_svc * _BIG + (o_end - t0)
        j = np.searchsorted(end_key, svc * _BIG + (start_w - t0), "right") - 1
        jj = np.maximum(j, 0)
        near = (j >= 0) & (o_svc[jj] == svc) & (start_w - o_end[jj] <= margin)
        eligible &= ~near
    skewed = _pick(rng, np.flatnonzero(eligible), round(r.clock_skew * n))
    end_fault[skewed] = _SKEW

    # ---- per-event faults and logged times
    ts_fault = np.zeros(m, dtype=np.int8)          # 0 ok, 1 missing, 2 corrupt, 3 out of range
    ts_fault[:n] = np.where((end_fault >= 3) & (end_fault <= 5), end_fault - 2, 0)
    ts_fault[n:2 * n] = np.where((end_fault >= 6) & (end_fault <= 8), end_fault - 5, 0)
    err_perm = rng.permutation(n_err)
    at = 0
    for code, rate_k in enumerate(
        (r.missing_timestamp, r.corrupt_timestamp, r.out_of_range_timestamp), start=1
    ):
        k = min(round(rate_k * n_err), n_err - at)
        ts_fault[2 * n + err_perm[at:at + k]] = code
        at += k
    del err_perm
    present = np.ones(m, dtype=bool)
    present[:n] = end_fault != 1
    present[n:2 * n] = end_fault != 2

    logged = ev_wall.copy()
    if len(skewed):
        stop_ev = n + skewed
        logged[stop_ev] = start_w[skewed] - rng.integers(1, int(r.max_skew_ms) + 1, len(skewed))
        # keep (service, logged time) unique: no event of the service may share it
        wall_key = (ev_svc * _BIG + (ev_wall - t0))[by_time]     # sorted, unique
        for _ in range(1000):
            k_skew = ev_svc[stop_ev] * _BIG + (logged[stop_ev] - t0)
            hit = np.searchsorted(wall_key, k_skew)
            clash = wall_key[np.minimum(hit, len(wall_key) - 1)] == k_skew
            order_k = np.argsort(k_skew, kind="stable")
            dup = np.zeros(len(k_skew), dtype=bool)
            dup[order_k[1:]] = k_skew[order_k[1:]] == k_skew[order_k[:-1]]
            clash |= dup
            if not clash.any():
                break
            logged[stop_ev[clash]] -= 1
        del wall_key
    del by_time

    bits = np.zeros(m, dtype=np.int16)
    for code, name in enumerate(TIMESTAMP_FAULTS, start=1):
        bits[ts_fault == code] |= _BIT[name]
    bits[n:2 * n][spiked] |= _BIT["latency_spike"]
    bits[n + skewed] |= _BIT["clock_skew"]

    latency = np.zeros(m, dtype=np.int64)
    latency[n:2 * n] = stop_w - start_w
    if r.latency_jitter_ms > 0:
        noise = np.rint(rng.normal(0.0, r.latency_jitter_ms, n)).astype(np.int64)
        latency[n:2 * n] = np.maximum(latency[n:2 * n] + noise, 0)

    # ---- keep the records that exist in the file
    keep = np.flatnonzero(present)
    p_sess, p_type, p_svc = ev_sess[keep], ev_type[keep], ev_svc[keep]
    p_wall, p_logged, p_tsf = ev_wall[keep], logged[keep], ts_fault[keep]
    p_bits, p_lat = bits[keep], latency[keep]
    del ev_sess, ev_type, ev_svc, ev_wall, logged, ts_fault, bits, latency, keep, present
    mp = len(p_sess)
    valid = p_tsf == 0
    arrival = np.where(valid, p_logged, p_wall)      # arrival time; unusable stamps arrive on time

    # ---- late arrivals: after at least the next event of the service (by timestamp)
    v_idx = np.flatnonzero(valid)
    v_logged = p_logged[v_idx]
    v_order = v_idx[np.argsort(
        p_svc[v_idx] * _BIG + (v_logged - (v_logged.min() if len(v_idx) else 0)), kind="stable")]
    del v_logged
    nxt = np.full(mp, -1, dtype=np.int64)
    same = p_svc[v_order[1:]] == p_svc[v_order[:-1]]
    nxt[v_order[:-1][same]] = v_order[1:][same]
    del v_idx, v_order, same
    skew_stop = (p_bits & _BIT["clock_skew"]) != 0
    late_cand = np.flatnonzero(valid & (nxt >= 0) & ~skew_stop)
    late_idx = _pick(rng, late_cand, round(r.late * mp))
    del late_cand
    lo_l = min(_MIN_LATENESS_MS, r.max_lateness_ms)
    delay = np.exp(rng.uniform(math.log(lo_l), math.log(r.max_lateness_ms), len(late_idx)))
    arrival[late_idx] = np.maximum(
        p_logged[late_idx] + np.rint(delay).astype(np.int64), p_logged[nxt[late_idx]] + 1
    )
    del nxt, delay

    # ---- duplicates: exact copies of clean records, arriving after their original
    originals = _pick(rng, np.flatnonzero(valid), n_dup)
    src = np.concatenate([np.arange(mp), originals])
    is_copy = np.zeros(len(src), dtype=bool)
    is_copy[mp:] = True
    arrival_all = np.concatenate(
        [arrival, arrival[originals] + rng.integers(1, _DUP_DELAY_MS + 1, len(originals))]
    )
    del arrival
    file_order = np.argsort(arrival_all, kind="stable")    # arrival, then sequence
    del arrival_all
    total = len(src)
    record_of = np.empty(total, dtype=np.int64)
    record_of[file_order] = np.arange(1, total + 1)
    dup_of = np.full(total, -1, dtype=np.int64)
    dup_of[mp:] = record_of[originals]

    # everything below is in file order
    src = src[file_order]
    is_copy = is_copy[file_order]
    dup_of = dup_of[file_order]
    del file_order, record_of
    f_svc, f_type, f_sess = p_svc[src], p_type[src], p_sess[src]
    f_wall, f_logged, f_tsf = p_wall[src], p_logged[src], p_tsf[src]
    f_bits = p_bits[src]
    f_bits[is_copy] |= _BIT["duplicate"]
    f_lat = p_lat[src]

    # ---- measured lateness (DESIGN's definition) on the file as written
    lateness = np.zeros(total, dtype=np.int64)
    counted = np.flatnonzero(~is_copy & (f_tsf == 0))
    c_order = counted[np.argsort(                                      # service, then arrival
        f_svc[counted].astype(np.int16), kind="stable")]                # (radix sort)
    c_key = f_svc[c_order] * _BIG + (f_logged[c_order] - t0)
    lateness[c_order] = np.maximum.accumulate(c_key) - c_key
    del counted, c_order, c_key
    is_late = lateness > 0
    f_bits[is_late] |= _BIT["late"]

    # ---- logs frame
    ts_buf = utc_bytes(np.where(f_tsf == 0, f_logged, f_wall) * 1_000_000, 3)
    corrupt = np.flatnonzero(f_tsf == 2)
    half = _pick(rng, corrupt, len(corrupt) // 2)                     # impossible dates
    garbage = np.setdiff1d(corrupt, half)
    variant = rng.integers(0, 3, len(half))
    for v, (col, text) in enumerate(((5, b"13-45"), (5, b"02-30"), (11, b"25:61"))):
        rows_v = half[variant == v]
        buf_view = ts_buf[rows_v]
        buf_view[:, col:col + 5] = np.frombuffer(text, dtype=np.uint8)
        ts_buf[rows_v] = buf_view
    oor = np.flatnonzero(f_tsf == 3)
    variant = rng.integers(0, 3, len(oor))
    epoch_zero = np.frombuffer(b"1970-01-01T00:00:00.000Z", dtype=np.uint8)
    ts_buf[oor[variant == 0]] = epoch_zero
    for v, year in ((1, b"1968"), (2, b"2152")):
        rows_v = oor[variant == v]
        buf_view = ts_buf[rows_v]
        buf_view[:, 0:4] = np.frombuffer(year, dtype=np.uint8)
        ts_buf[rows_v] = buf_view
    ts_arr = byte_strings(ts_buf)
    del ts_buf
    replace = np.zeros(total, dtype=bool)
    replace[garbage] = True
    replace |= f_tsf == 1
    if replace.any():
        values = np.full(int(replace.sum()), None, dtype=object)
        garbage_in_replaced = np.isin(np.flatnonzero(replace), garbage)
        values[garbage_in_replaced] = np.asarray(_GARBAGE, dtype=object)[
            rng.integers(0, len(_GARBAGE), int(garbage_in_replaced.sum()))
        ]
        ts_arr = pc.replace_with_mask(
            ts_arr, pa.array(replace), pa.array(values, type=pa.large_string())
        )
    del replace

    sid_numbers = (np.arange(n, dtype=np.uint64) * np.uint64(2654435761)
                   + np.uint64(rng.integers(0, 2**32))) % np.uint64(2**32)
    sid_strings = _session_id_strings(sid_numbers)
    true_sid = sid_strings.take(pa.array(f_sess))
    if session_ids:
        logged_sid = _str_series(true_sid)
    else:
        logged_sid = _str_series(pa.nulls(total, type=pa.large_string()))

    latency_col = pd.arrays.IntegerArray(f_lat, f_type != STOP)
    logs = pd.DataFrame({
        "timestamp": _str_series(ts_arr),
        "service": _categorical(f_svc, names),
        "event_type": _categorical(f_type, EVENT_TYPES),
        "latency_ms": latency_col,
        "session_id": logged_sid,
    }, copy=False)
    del ts_arr

    # ---- truth: records
    labels = np.array([
        ";".join(name for name in RECORD_FAULTS if code & _BIT[name]) for code in range(1 << 7)
    ], dtype=object)
    fault_strings = pa.array(labels, type=pa.large_string()).take(pa.array(f_bits))
    records = pd.DataFrame({
        "record": np.arange(1, total + 1, dtype=np.int64),
        "true_timestamp": _utc_ms(f_wall),
        "service": _categorical(f_svc, names),
        "event_type": _categorical(f_type, EVENT_TYPES),
        "session_id": _str_series(true_sid),
        "faults": _str_series(fault_strings),
        "duplicate_of": pd.arrays.IntegerArray(np.maximum(dup_of, 0), dup_of < 0),
        "lateness_ms": pd.arrays.IntegerArray(lateness, ~is_late),
    }, copy=False)
    del fault_strings, true_sid

    # ---- truth: sessions
    rec_no = np.arange(1, total + 1, dtype=np.int64)
    start_rec = np.full(n, -1, dtype=np.int64)
    stop_rec = np.full(n, -1, dtype=np.int64)
    ok = ~is_copy & (f_tsf == 0)
    sel = ok & (f_type == START)
    start_rec[f_sess[sel]] = rec_no[sel]
    sel = ok & (f_type == STOP)
    stop_rec[f_sess[sel]] = rec_no[sel]
    del sel, ok, rec_no
    statuses = ["complete", "missing_start", "missing_stop", "clock_skew"]
    status_by_fault = np.array(                     # end-fault code -> index in `statuses`
        [0, 1, 2, 1, 1, 1, 2, 2, 2, 3 if session_ids else 1], dtype=np.int8
    )
    fault_labels = pa.array([
        ";".join(x for x in (END_FAULTS[code], "latency_spike" if sp else "",
                             "outage_overlap" if ov else "") if x)
        for code in range(len(END_FAULTS)) for sp in (0, 1) for ov in (0, 1)
    ], type=pa.large_string())
    s_order = np.argsort(start_w, kind="stable")
    ef = end_fault[s_order]
    errors_per = np.bincount(err_sess, minlength=n)[s_order]
    fault_code = ef.astype(np.int64) * 4 + spiked[s_order] * 2 + overlap[s_order]
    sessions = pd.DataFrame({
        "service": _categorical(svc[s_order], names),
        "session_id": _str_series(sid_strings.take(pa.array(s_order))),
        "start_record": pd.arrays.IntegerArray(
            np.maximum(start_rec[s_order], 0), start_rec[s_order] < 0),
        "stop_record": pd.arrays.IntegerArray(
            np.maximum(stop_rec[s_order], 0), stop_rec[s_order] < 0),
        "start_time": _utc_ms(start_w[s_order]),
        "stop_time": _utc_ms(stop_w[s_order]),
        "duration_ms": (stop_w - start_w)[s_order],
        "expected_status": _categorical(status_by_fault[ef], statuses),
        "faults": _str_series(fault_labels.take(pa.array(fault_code))),
        "errors": errors_per,
    }, copy=False)

    outages = pd.DataFrame({
        "service": _categorical(o_svc, names),
        "outage_start": _utc_ms(o_start),
        "outage_end": _utc_ms(o_end),
    })
    params = {
        "rows": rows,
        "seed": seed,
        "services": services,
        "service_names": names,
        "session_ids": bool(session_ids),
        "concurrency": concurrency,
        "start": start,
        "rates": asdict(rates),
        "counts": {
            "records": int(total),
            "sessions": int(n),
            "duplicates": len(originals),
            "late": int(is_late.sum()),
            "outages": len(o_svc),
            **{name: int((f_tsf == code).sum())
               for code, name in enumerate(TIMESTAMP_FAULTS, start=1)},
        },
    }
    return GeneratedLogs(logs=logs, records=records, sessions=sessions, outages=outages,
                         params=params)


# --------------------------------------------------------------------------- writing


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """A frame as an Arrow table ready for CSV: datetimes as ISO-8601 `Z` strings."""
    columns = {}
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            columns[name] = format_iso_ms(_to_ms(col))
        elif isinstance(col.dtype, pd.CategoricalDtype):
            names = pa.array(list(col.cat.categories), type=pa.large_string())
            columns[name] = names.take(pa.array(col.cat.codes.to_numpy()))
        else:
            columns[name] = pa.Array.from_pandas(col)
    return pa.table(columns)


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    table = _arrow_table(frame)
    with open(tmp, "wb") as sink:
        sink.write((",".join(frame.columns) + "\n").encode("utf-8"))
        pacsv.write_csv(
            table, sink,
            pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=1 << 16),
        )
    os.replace(tmp, path)
    return path


def write_generated(out_dir: str | Path, generated: GeneratedLogs) -> dict[str, Path]:
    """Write logs.csv and truth/{sessions,records,outages}.csv + truth/params.json, then
    truth/logs_digest.json ({file, sha256, records} of that logs.csv)."""
    out = Path(out_dir)
    truth = out / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    digest_path = truth / "logs_digest.json"
    # Until the new one is written, no digest: a truth half rewritten must not pass the check.
    digest_path.unlink(missing_ok=True)
    targets = {
        "logs": (generated.logs, out / "logs.csv"),
        "sessions": (generated.sessions, truth / "sessions.csv"),
        "records": (generated.records, truth / "records.csv"),
        "outages": (generated.outages, truth / "outages.csv"),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:     # Arrow's writer releases the GIL
        futures = {name: pool.submit(_write_csv, *job) for name, job in targets.items()}
        paths = {name: future.result() for name, future in futures.items()}
    paths["params"] = write_json(generated.params, truth / "params.json", sort_keys=True)
    paths["logs_digest"] = write_json(     # the bytes on disk: what a run of them hashes
        {"file": paths["logs"].name, "sha256": file_sha256(paths["logs"]),
         "records": len(generated.logs)},
        digest_path, sort_keys=True,
    )
    return paths


# --------------------------------------------------------------------------- CLI helpers


def _flag(f) -> str:
    name = f.name.replace("_", "-")
    return f"--{name}-rate" if f.metadata["rate"] else f"--{name}"


def add_cli_arguments(parser) -> None:
    """Add `generate`'s options (rows, seed, services, ids, every FaultRates field) to argparse."""
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS,
                        help=f"records to write (default {DEFAULT_ROWS})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--services", type=int, default=12, help="number of services (default 12)")
    parser.add_argument("--concurrency", type=float, default=24,
                        help="sessions open at once per service, on average (default 24)")
    parser.add_argument("--start", default="2025-01-01T00:00:00Z",
                        help="time of the first event (ISO-8601)")
    parser.add_argument("--no-session-id", dest="session_ids", action="store_false",
                        help="leave session_id empty (the bare schema; pairing must infer)")
    defaults = FaultRates()
    for f in fields(FaultRates):
        parser.add_argument(
            _flag(f), dest=f"fault_{f.name}", type=float, default=None, metavar="X",
            help=f"{f.metadata['help']} (default {getattr(defaults, f.name):g})",
        )


def from_cli_args(args) -> tuple[int, int, int, bool, FaultRates]:
    """(rows, seed, services, session_ids, rates) from parsed `add_cli_arguments` options."""
    overrides = {
        f.name: getattr(args, f"fault_{f.name}") for f in fields(FaultRates)
        if getattr(args, f"fault_{f.name}", None) is not None
    }
    return args.rows, args.seed, args.services, args.session_ids, FaultRates(**overrides)


def cli_generate_kwargs(args) -> dict:
    """Every `generate()` argument from parsed options: `generate(**cli_generate_kwargs(a))`."""
    rows, seed, services, session_ids, rates = from_cli_args(args)
    return {
        "rows": rows, "seed": seed, "services": services, "session_ids": session_ids,
        "rates": rates, "concurrency": args.concurrency, "start": args.start,
    }
