"""Pair START/STOP events into execution sessions.

Input: events in analysis order (normalize's frame). Output: one row per session
(schema.SESSION_COLUMNS), status in {complete, missing_stop, missing_start, timed_out,
clock_skew}. The pairing key is (service, session_id): with an id, FIFO within the key; without
one, a per-service strategy (fifo, lifo, latency; `auto` picks per service and says why).
Never a negative or fabricated duration, never a dropped orphan:
every START and STOP appears in exactly one session row (2·paired + unpaired = START + STOP).
Reads config: SessionsConfig. Emits issues: clock_skew.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .config import SessionsConfig
from .schema import SESSION_COLUMNS, Severity, StageResult, codes, issues_frame, nanoseconds

NS_PER_MS = 1_000_000
LATENCY_TOLERANCE_MS = 1.0           # the least distance from stop − latency a match may have
AUTO_LATENCY_MIN_SHARE = 0.5         # auto considers `latency` when this share of STOPs carry one
AUTO_LATENCY_MAX_RATIO = 0.25        # … and stop − latency lands this close to a START (× START spacing;
                                     # latencies unrelated to durations land ~0.35 × spacing away)
START, STOP, ERROR = 0, 1, 2         # event_type category codes (schema.EVENT_TYPES order)


@dataclass(frozen=True)
class Pairing:
    """Positions into the START/STOP arrays: matched pairs, and what stayed unmatched."""

    start: np.ndarray
    stop: np.ndarray
    confidence: np.ndarray
    lone_starts: np.ndarray
    lone_stops: np.ndarray


def _walk(key: np.ndarray, is_start: np.ndarray):
    """For events sorted by (key, time): clamped open-count walk per key.

    Returns (depth_before, unmatched_stop): the number of open STARTs just before each event,
    and whether a STOP found nothing open. Raw per-key cumsum C; the clamped walk is
    C − min(0, cummin C). Per-key scans without groupby: C is the global cumsum minus its value
    at the key's first event, and cummin runs on C − group·BIG so earlier keys never win.
    """
    n = len(key)
    step = np.where(is_start, 1, -1).astype(np.int64)
    first = np.ones(n, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    group = np.cumsum(first) - 1
    running = np.cumsum(step)
    total = running - (running - step)[first][group]
    big = 2 * n + 2
    floor = np.minimum(np.minimum.accumulate(total - group * big) + group * big, 0)
    previous_floor = np.where(first, 0, np.roll(floor, 1))
    unmatched_stop = ~is_start & (floor < previous_floor)
    depth_after = total - floor
    depth_before = depth_after - step + unmatched_stop  # an unmatched stop leaves depth at 0
    return depth_before, unmatched_stop


def _alternating(k: np.ndarray, s: np.ndarray) -> np.ndarray:
    """For events sorted by (key, time): whether each event's key runs START, STOP, START, … from
    its first event on (no STOP before a START, no two STARTs open at once)."""
    n = len(k)
    first = np.ones(n, dtype=bool)
    np.not_equal(k[1:], k[:-1], out=first[1:])
    out_of_turn = np.empty(n, dtype=bool)
    np.equal(s[1:], s[:-1], out=out_of_turn[1:])
    out_of_turn[first] = ~s[first]
    group = np.cumsum(first) - 1
    broken = np.zeros(int(group[-1]) + 1 if n else 0, dtype=bool)
    broken[group[out_of_turn]] = True
    return ~broken[group]


def pair_fifo(key: np.ndarray, is_start: np.ndarray) -> Pairing:
    """Each STOP closes the earliest open START of its key (events in time order).

    Most keys alternate START, STOP, START, …: each STOP closes the START just before it, found
    by one comparison with the neighbour. Only the other keys take the open-count walk.
    """
    order = np.argsort(key, kind="stable")
    k, s = key[order], is_start[order]
    regular = _alternating(k, s)
    closes_previous = np.zeros(len(k), dtype=bool)   # a STOP of a regular key: its START is just before
    closes_previous[1:] = regular[1:] & ~s[1:]
    stops = np.flatnonzero(closes_previous)
    regular_lone = np.flatnonzero(regular & s & ~np.append(closes_previous[1:], False))
    irregular = np.flatnonzero(~regular)
    walked = _pair_fifo_walk(k[irregular], s[irregular])
    return Pairing(
        start=order[np.concatenate([stops - 1, irregular[walked.start]])],
        stop=order[np.concatenate([stops, irregular[walked.stop]])],
        confidence=np.concatenate([np.ones(len(stops)), walked.confidence]),
        lone_starts=order[np.concatenate([regular_lone, irregular[walked.lone_starts]])],
        lone_stops=order[irregular[walked.lone_stops]],
    )


def _pair_fifo_walk(k: np.ndarray, s: np.ndarray) -> Pairing:
    """FIFO by the clamped open-count walk, for events sorted by (key, time); positions into k."""
    depth_before, unmatched_stop = _walk(k, s)
    matched_stop = ~s & ~unmatched_stop
    start_idx = np.flatnonzero(s)
    stop_idx = np.flatnonzero(matched_stop)
    # FIFO consumes a key's STARTs in order: its i-th matched STOP closes its i-th START.
    stop_rank = _rank_within(k[stop_idx])
    first_start = np.searchsorted(k[start_idx], k[stop_idx], side="left")
    partner = start_idx[first_start + stop_rank]
    closed = np.zeros(len(k), dtype=bool)
    closed[partner] = True
    return Pairing(start=partner, stop=stop_idx, confidence=1.0 / np.maximum(depth_before[stop_idx], 1),
                   lone_starts=start_idx[~closed[start_idx]], lone_stops=np.flatnonzero(unmatched_stop))


def pair_lifo(key: np.ndarray, is_start: np.ndarray) -> Pairing:
    """Each STOP closes the latest open START of its key (nesting; events in time order)."""
    order = np.argsort(key, kind="stable")
    k, s = key[order], is_start[order]
    depth_before, unmatched_stop = _walk(k, s)
    # A START opens level depth+1; the STOP that closes it leaves from that same level. Within
    # one (key, level) the events alternate START, STOP, ... so neighbours pair up.
    level = np.where(s, depth_before + 1, depth_before)
    usable = np.flatnonzero(~unmatched_stop)
    by_level = usable[np.lexsort((usable, level[usable], k[usable]))]
    is_pair = np.zeros(len(by_level), dtype=bool)
    if len(by_level) > 1:
        same = (k[by_level[1:]] == k[by_level[:-1]]) & (level[by_level[1:]] == level[by_level[:-1]])
        is_pair[:-1] = same & s[by_level[:-1]] & ~s[by_level[1:]]
    starts, stops = by_level[is_pair], by_level[np.flatnonzero(is_pair) + 1]
    closed = np.zeros(len(k), dtype=bool)
    closed[starts] = True
    lone = np.flatnonzero(s & ~closed)
    return Pairing(start=order[starts], stop=order[stops], confidence=1.0 / np.maximum(depth_before[stops], 1),
                   lone_starts=order[lone], lone_stops=order[np.flatnonzero(unmatched_stop)])


def _rank_within(sorted_key: np.ndarray) -> np.ndarray:
    """0, 1, 2, … within each run of equal keys."""
    n = len(sorted_key)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_key[1:] != sorted_key[:-1]
    run_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    return np.arange(n) - run_start


def _claim_rounds(start_ns: np.ndarray, expected: np.ndarray, stop_ns: np.ndarray,
                  tolerance_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global nearest matching of STOPs (by expected start) to STARTs, closest claim first.

    Each round every unmatched STOP claims its nearest free START that is not after the STOP and
    lies within its tolerance; each START goes to its closest claimant; the others try again.
    A handful of vectorized rounds, not a loop per event. Returns (partner or -1, distance).
    """
    free = np.ones(len(start_ns), dtype=bool)
    partner = np.full(len(expected), -1, dtype=np.int64)
    distance = np.full(len(expected), np.inf)
    for _ in range(24):
        waiting = np.flatnonzero(partner < 0)
        if not len(waiting) or not free.any():
            break
        free_idx = np.flatnonzero(free)
        free_ns = start_ns[free_idx]
        want = expected[waiting]
        # Nearest free START among those not after the STOP: the left neighbour of min(want, stop).
        at = np.searchsorted(free_ns, want)
        left = np.clip(at - 1, 0, len(free_idx) - 1)
        right = np.clip(at, 0, len(free_idx) - 1)
        right_ok = free_ns[right] <= stop_ns[waiting]
        use_right = right_ok & (np.abs(free_ns[right] - want) < np.abs(free_ns[left] - want))
        pick = np.where(use_right, right, left)
        gap = np.abs(free_ns[pick] - want)
        ok = (gap <= tolerance_ns[waiting]) & (free_ns[pick] <= stop_ns[waiting])
        if not ok.any():
            break
        claims = pd.DataFrame({"stop": waiting[ok], "start": free_idx[pick[ok]], "gap": gap[ok]})
        winners = claims.sort_values(["gap", "stop"], kind="stable").drop_duplicates("start")
        partner[winners["stop"].to_numpy()] = winners["start"].to_numpy()
        distance[winners["stop"].to_numpy()] = winners["gap"].to_numpy()
        free[winners["start"].to_numpy()] = False
    return partner, distance


def latency_tolerance_ns(start_ns: np.ndarray, expected: np.ndarray, stop_ns: np.ndarray) -> float:
    """How far a START may lie from `stop − latency` and still be this STOP's START.

    Learned from the data: match with no limit, then allow 4 × the 90th percentile of the
    distances found (at least 1 ms). Right matches sit within the logging jitter; a STOP whose
    START is missing lands on a stranger much further away, and is left alone.
    """
    _, distance = _claim_rounds(start_ns, expected, stop_ns, np.full(len(expected), np.inf))
    found = distance[np.isfinite(distance)]
    spread = float(np.quantile(found, 0.9)) if len(found) else 0.0
    return max(LATENCY_TOLERANCE_MS * NS_PER_MS, 4 * spread)


def pair_latency(ns: np.ndarray, is_start: np.ndarray, latency_ms: np.ndarray,
                 tolerance_ms: float | None = None) -> Pairing:
    """One service's unkeyed stream: a STOP whose latency reports the session duration is matched
    to the open START nearest `stop − latency`, conflicts resolved globally (closest claim first).

    `tolerance_ms`: how far off a START may be; None learns it from the data (latency_tolerance_ns).
    What the latencies cannot place: a STOP with a latency but no START in reach stays alone
    (its START is missing); STOPs without a latency pair FIFO with the STARTs left over.
    """
    starts = np.flatnonzero(is_start)
    stops = np.flatnonzero(~is_start & ~np.isnan(latency_ms))
    start_ns = ns[starts]                       # sorted: events are in time order
    expected = ns[stops] - np.round(latency_ms[stops] * NS_PER_MS).astype(np.int64)
    tolerance = latency_tolerance_ns(start_ns, expected, ns[stops]) if tolerance_ms is None \
        else tolerance_ms * NS_PER_MS
    partner, _ = _claim_rounds(start_ns, expected, ns[stops], np.full(len(stops), float(tolerance)))
    crowd = (np.searchsorted(start_ns, expected + tolerance, side="right")
             - np.searchsorted(start_ns, expected - tolerance, side="left"))
    matched = np.flatnonzero(partner >= 0)
    # Greedy claims can cross; for the same STARTs and STOPs, pairing them in order (earliest
    # START with the earliest expected start) minimises the squared error: uncross them all.
    by_expected = matched[np.argsort(expected[matched], kind="stable")]
    in_order = np.sort(partner[matched])
    feasible = start_ns[in_order] <= ns[stops[by_expected]]
    pairs_start, pairs_stop = starts[in_order[feasible]], stops[by_expected[feasible]]
    confidence = 1.0 / np.maximum(crowd[by_expected[feasible]], 1)
    unplaced = np.sort(np.concatenate([stops[partner < 0], stops[by_expected[~feasible]]]))
    rest = is_start | np.isnan(latency_ms)
    rest[pairs_start] = False
    rest_idx = np.flatnonzero(rest)
    fallback = pair_fifo(np.zeros(len(rest_idx), dtype=np.int64), is_start[rest_idx])
    return Pairing(
        start=np.concatenate([pairs_start, rest_idx[fallback.start]]),
        stop=np.concatenate([pairs_stop, rest_idx[fallback.stop]]),
        confidence=np.concatenate([confidence, fallback.confidence]),
        lone_starts=rest_idx[fallback.lone_starts],
        lone_stops=np.sort(np.concatenate([rest_idx[fallback.lone_stops], unplaced])),
    )


def choose_strategy(ns: np.ndarray, is_start: np.ndarray, latency_ms: np.ndarray) -> tuple[str, str]:
    """`auto`: latency when STOPs' latencies point at STARTs far more precisely than chance, else fifo.

    For each STOP with a latency, the distance from `stop − latency` to the nearest START is
    compared with the typical spacing between STARTs: if latencies carry the duration, the
    median distance is a small fraction of that spacing; if they do not, it is about a quarter.
    """
    stops = ~is_start
    n_stops = int(stops.sum())
    start_ns = ns[is_start]
    with_latency = stops & ~np.isnan(latency_ms)
    if n_stops == 0 or len(start_ns) < 2:
        return "fifo", "too few STARTs and STOPs to judge latencies"
    share = with_latency.sum() / n_stops
    if share < AUTO_LATENCY_MIN_SHARE:
        return "fifo", f"only {share:.0%} of STOPs carry a latency; first-in-first-out is the unbiased default"
    expected = ns[with_latency] - np.round(latency_ms[with_latency] * NS_PER_MS).astype(np.int64)
    at = np.clip(np.searchsorted(start_ns, expected), 1, len(start_ns) - 1)
    nearest = np.minimum(np.abs(start_ns[at] - expected), np.abs(start_ns[at - 1] - expected))
    spacing = float(np.median(np.diff(start_ns))) or 1.0
    offset = float(np.median(nearest))
    ratio = offset / spacing
    detail = (f"median distance from stop − latency to the nearest START is {offset / NS_PER_MS:.3g} ms, "
              f"against {spacing / NS_PER_MS:.3g} ms between STARTs")
    if ratio <= AUTO_LATENCY_MAX_RATIO:
        return "latency", f"latencies report durations: {detail}"
    return "fifo", f"latencies do not point at STARTs ({detail}); first-in-first-out is the unbiased default"


STRATEGIES = {"fifo": pair_fifo, "lifo": pair_lifo}


def _unkeyed_pairing(events: pd.DataFrame, positions: np.ndarray, cfg: SessionsConfig):
    """Pair each service's id-less stream with its strategy; (pairing, {service: (strategy, why)})."""
    services = events["service"].cat.codes.to_numpy()[positions]
    ns = nanoseconds(events["timestamp"])[positions]
    is_start = events["event_type"].cat.codes.to_numpy()[positions] == START
    latency = events["latency_ms"].to_numpy(dtype="float64")[positions]
    parts, chosen = [], {}
    names = events["service"].cat.categories
    for code in np.unique(services):  # one pass per service, vectorized within it
        idx = np.flatnonzero(services == code)
        strategy, why = (cfg.strategy, "configured") if cfg.strategy != "auto" else \
            choose_strategy(ns[idx], is_start[idx], latency[idx])
        chosen[str(names[code])] = (strategy, why)
        if strategy == "latency":
            pairing = pair_latency(ns[idx], is_start[idx], latency[idx])
        else:
            pairing = STRATEGIES[strategy](np.zeros(len(idx), dtype=np.int64), is_start[idx])
        parts.append((idx, pairing, strategy))
    return parts, chosen


STATUSES = ("complete", "missing_stop", "missing_start", "timed_out", "clock_skew")
COMPLETE, MISSING_STOP, MISSING_START, TIMED_OUT, CLOCK_SKEW = range(5)
STRATEGY_NAMES = ("keyed-fifo", "fifo", "lifo", "latency")   # the `strategy` column's values


@dataclass
class _Rows:
    """Session rows as arrays: event positions of each end (-1: none), status code, how paired."""

    start: list = field(default_factory=list)
    stop: list = field(default_factory=list)
    status: list = field(default_factory=list)
    strategy: list = field(default_factory=list)
    confidence: list = field(default_factory=list)

    def add(self, start, stop, status, strategy: str, confidence) -> None:
        self.start.append(np.asarray(start, dtype=np.int64))
        self.stop.append(np.asarray(stop, dtype=np.int64))
        self.status.append(np.full(len(start), status, dtype=np.int8) if np.isscalar(status) else status)
        self.strategy.append(np.full(len(start), STRATEGY_NAMES.index(strategy), dtype=np.int8))
        self.confidence.append(np.asarray(confidence, dtype=float))

    def add_pairing(self, positions: np.ndarray, pairing: Pairing, strategy: str, keyed: bool) -> None:
        none = np.full(len(pairing.lone_starts) + len(pairing.lone_stops), -1, dtype=np.int64)
        self.add(positions[pairing.start], positions[pairing.stop], COMPLETE, strategy,
                 np.ones(len(pairing.start)) if keyed else pairing.confidence)
        self.add(np.r_[positions[pairing.lone_starts], none[len(pairing.lone_starts):]],
                 np.r_[none[:len(pairing.lone_starts)], positions[pairing.lone_stops]],
                 np.r_[np.full(len(pairing.lone_starts), MISSING_STOP, np.int8),
                       np.full(len(pairing.lone_stops), MISSING_START, np.int8)],
                 strategy, np.full(len(none), np.nan))

    def arrays(self):
        if not self.start:
            return (np.zeros(0, np.int64),) * 2 + (np.zeros(0, np.int8), np.zeros(0, np.int8), np.zeros(0))
        return (np.concatenate(self.start), np.concatenate(self.stop), np.concatenate(self.status),
                np.concatenate(self.strategy), np.concatenate(self.confidence))


def pairing_key(events: pd.DataFrame) -> np.ndarray:
    """One integer per (service, session_id), equal exactly when both are (negative: no id)."""
    services = events["service"].cat.codes.to_numpy()
    session = codes(events["session_id"])
    return np.where(session >= 0, session * max(len(events["service"].cat.categories), 1) + services, -1)


def sessions(events: pd.DataFrame, cfg: SessionsConfig) -> StageResult:
    """Reconstruct sessions per (service, session_id); never drops an orphan."""
    types = events["event_type"].cat.codes.to_numpy()
    bounds = np.flatnonzero((types == START) | (types == STOP))
    key = pairing_key(events)
    has_id = key[bounds] >= 0
    is_start = types[bounds] == START
    rows = _Rows()
    keyed = bounds[has_id]
    if len(keyed):
        keyed_key = key[keyed]
        pairing, skew_start, skew_stop = _split_clock_skew(events, keyed, keyed_key, pair_fifo(keyed_key, is_start[has_id]))
        rows.add_pairing(keyed, pairing, "keyed-fifo", keyed=True)
        rows.add(keyed[skew_start], keyed[skew_stop], CLOCK_SKEW, "keyed-fifo", np.full(len(skew_start), np.nan))
    chosen = {}
    unkeyed = bounds[~has_id]
    if len(unkeyed):
        parts, chosen = _unkeyed_pairing(events, unkeyed, cfg)
        for idx, pairing, strategy in parts:
            rows.add_pairing(unkeyed[idx], pairing, strategy, keyed=False)
    table = _table(events, key, *_apply_max_session(events, *rows.arrays(), cfg), cfg)
    skew = table[(table["status"] == "clock_skew").to_numpy()]
    issues = issues_frame(skew["stop_source"].to_numpy(dtype=object), skew["stop_record"].to_numpy(),
                          field="timestamp", reason="clock_skew", action="reported",
                          detail=("STOP before its START (record " + skew["start_record"].astype(str) + ")")
                          .to_numpy(), stage="sessions", severity=Severity.WARN)
    counts = table["status"].value_counts()
    stats = {
        "sessions": len(table), **{f"sessions_{s}": int(counts.get(s, 0)) for s in STATUSES},
        "start_stop_events": int(len(bounds)), "unkeyed_strategy": chosen,
    }
    return StageResult(frame=table, issues=issues, stats=stats)


def _split_clock_skew(events, positions, key, pairing: Pairing):
    """A keyed STOP with nothing open, followed by a never-closed START of the same key that lies
    strictly later: the clocks disagree. Returns the pairing without them, and their (start, stop)."""
    stops, starts = np.sort(pairing.lone_stops), np.sort(pairing.lone_starts)
    none = np.zeros(0, dtype=np.int64)
    if not len(stops) or not len(starts):
        return pairing, none, none
    lone = pd.DataFrame({
        "key": np.concatenate([key[stops], key[starts]]),
        "idx": np.concatenate([stops, starts]),
        "is_stop": np.concatenate([np.ones(len(stops), bool), np.zeros(len(starts), bool)]),
    })
    lone["rank"] = lone.groupby(["key", "is_stop"]).cumcount()
    matched = lone[lone.is_stop].merge(lone[~lone.is_stop], on=["key", "rank"], suffixes=("_stop", "_start"))
    ns = nanoseconds(events["timestamp"])
    skewed = ns[positions[matched.idx_start.to_numpy()]] > ns[positions[matched.idx_stop.to_numpy()]]
    skew_start, skew_stop = matched.idx_start.to_numpy()[skewed], matched.idx_stop.to_numpy()[skewed]
    rest = Pairing(pairing.start, pairing.stop, pairing.confidence,
                   np.setdiff1d(pairing.lone_starts, skew_start), np.setdiff1d(pairing.lone_stops, skew_stop))
    return rest, skew_start, skew_stop


def _apply_max_session(events, start, stop, status, strategy, confidence, cfg: SessionsConfig):
    """A START older than max_session closes as timed_out; a STOP that came too late stands alone."""
    if cfg.max_session_s is None or not len(start):
        return start, stop, status, strategy, confidence
    ns = nanoseconds(events["timestamp"])
    limit = int(cfg.max_session_s * 1e9)
    opened = ns[np.maximum(start, 0)]
    too_long = (status == COMPLETE) & (ns[np.maximum(stop, 0)] - opened > limit)
    open_too_long = (status == MISSING_STOP) & (ns.max() - opened > limit)
    late_stops = stop[too_long]
    status = np.where(too_long | open_too_long, TIMED_OUT, status).astype(np.int8)
    stop = np.where(too_long, -1, stop)
    return (np.r_[start, np.full(len(late_stops), -1)], np.r_[stop, late_stops],
            np.r_[status, np.full(len(late_stops), MISSING_START, np.int8)],
            np.r_[strategy, strategy[too_long]], np.r_[confidence, np.full(len(late_stops), np.nan)])


def _categorical(column: pd.Series, positions: np.ndarray) -> pd.Categorical:
    """The column's values at `positions` as a categorical, without materialising strings."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Categorical.from_codes(column.cat.codes.to_numpy()[positions], dtype=column.dtype)
    values, uniques = pd.factorize(column, use_na_sentinel=True)
    return pd.Categorical.from_codes(values[positions], categories=uniques)


def _table(events, key, start, stop, status, strategy, confidence, cfg: SessionsConfig) -> pd.DataFrame:
    """The session frame, built once from event positions; ordered by service, then first event.
    `key`: pairing_key(events)."""
    services = events["service"].cat.codes.to_numpy()
    either = np.where(start >= 0, start, stop)
    order = np.lexsort((either, services[either]))  # categories are sorted: codes order by name
    start, stop, either = start[order], stop[order], either[order]
    status, strategy, confidence = status[order], strategy[order], confidence[order]
    has_start, has_stop = start >= 0, stop >= 0
    ns = nanoseconds(events["timestamp"])
    start_ns = np.where(has_start, ns[np.maximum(start, 0)], 0)
    stop_ns = np.where(has_stop, ns[np.maximum(stop, 0)], 0)
    latency = np.where(has_stop, events["latency_ms"].to_numpy(dtype=float)[np.maximum(stop, 0)], np.nan)
    duration = np.where(status == COMPLETE, (stop_ns - start_ns) / NS_PER_MS, np.nan)
    inferred = (status == MISSING_START) & ~np.isnan(latency) & cfg.infer_start_from_latency
    start_ns = np.where(inferred, stop_ns - np.round(np.nan_to_num(latency) * NS_PER_MS).astype(np.int64), start_ns)
    duration = np.where(inferred, latency, duration)
    records = events["record"].to_numpy()
    errors = _errors_per_session(events, key, start, stop, has_start, start_ns, stop_ns)
    return pd.DataFrame({
        "service": _categorical(events["service"], either),
        "session_id": _categorical(events["session_id"], either),
        "status": pd.Categorical.from_codes(status, categories=STATUSES),
        "start_time": _utc(start_ns, has_start | inferred),
        "stop_time": _utc(stop_ns, has_stop),
        "duration_ms": duration,
        "start_source": _source(events, start, has_start),
        "start_record": pd.arrays.IntegerArray(records[np.maximum(start, 0)], ~has_start),
        "stop_source": _source(events, stop, has_stop),
        "stop_record": pd.arrays.IntegerArray(records[np.maximum(stop, 0)], ~has_stop),
        "start_inferred": inferred,
        "strategy": pd.Categorical.from_codes(strategy, categories=STRATEGY_NAMES).remove_unused_categories(),
        "confidence": confidence,
        "events": has_start.astype(np.int64) + has_stop + errors,
        "errors": errors,
    }).loc[:, list(SESSION_COLUMNS)]


def _utc(ns: np.ndarray, present: np.ndarray) -> pd.Series:
    values = np.where(present, ns, np.iinfo(np.int64).min).view("datetime64[ns]")  # min int64 is NaT
    return pd.Series(values).dt.tz_localize("UTC")


def _source(events, positions: np.ndarray, present: np.ndarray) -> pd.Categorical:
    source = events["source"]
    codes_ = np.where(present, source.cat.codes.to_numpy()[np.maximum(positions, 0)], -1)
    return pd.Categorical.from_codes(codes_, dtype=source.dtype)


def _errors_per_session(events, key, start, stop, has_start, start_ns, stop_ns) -> np.ndarray:
    """ERROR events with the session's id that fall within its [start, stop] (keyed sessions);
    `key`: pairing_key(events)."""
    is_error = (events["event_type"].cat.codes.to_numpy() == ERROR) & (key >= 0)
    counts = np.zeros(len(start), dtype=np.int64)
    if not is_error.any():
        return counts
    session_key = np.where(has_start, key[np.maximum(start, 0)], -1)
    # Only sessions whose key has an ERROR can own one: the join runs on those few rows.
    owners = np.flatnonzero((session_key >= 0) & pd.Series(session_key).isin(key[is_error]).to_numpy())  # hashed
    if not len(owners):
        return counts
    ns = nanoseconds(events["timestamp"])
    left = pd.DataFrame({"key": key[is_error], "t": ns[is_error]}).sort_values("t", kind="stable")
    right = pd.DataFrame({"key": session_key[owners], "t": start_ns[owners],
                          "until": np.where(stop[owners] >= 0, stop_ns[owners], np.iinfo(np.int64).max),
                          "row": owners}).sort_values("t", kind="stable")
    found = pd.merge_asof(left, right, on="t", by="key", direction="backward")
    inside = found["row"].notna() & (found["t"] <= found["until"])
    np.add.at(counts, found.loc[inside, "row"].astype(np.int64).to_numpy(), 1)
    return counts
