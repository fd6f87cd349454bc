"""`--engine dask`: the same stage functions on a Dask cluster, partitioned by service.

Data flow (W = on the workers, D = on the driver):

  W  one task per input: `read_input` → `ingest`, with the arrival order made global
     (input index × 2**40 + position in the input), so "first arrival" and lateness mean
     exactly what they mean in the pandas engine;
  D  the per-input side results (quarantine, issues, row counts, the services seen: small);
  W  a `dask.dataframe` shuffle (`set_index` on a partition number with known divisions): each
     partition holds a contiguous range of services (sorted by name, balanced by event count),
     so all the events of a service meet in one partition — and duplicates, whose key includes
     the service, meet too;
  W  per partition, back in arrival order: `normalize` (dedup, lateness, analysis order), then
     `sessions` (pairing is per (service, session_id), so per service is exact);
  D  the ordered partitions merged into the global analysis order (timestamp, arrival);
     `validate` and `metrics` run on the whole (their ALL rows and the overall latency
     percentiles need every service), through the pipeline's own steps, which also write the
     artifacts and the manifest.

The artifacts are byte-identical to the pandas engine's for the same inputs and parameters:
per-service tables concatenate in service order (partitions are contiguous service ranges),
tables in analysis order merge on (timestamp, arrival), tables in arrival order on (input,
record). The driver holds the cleaned events (not the raw text); see the README, "Engines".
"""

from __future__ import annotations

import logging
import operator
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from .. import artifacts, pipeline
from ..config import IngestConfig, NormalizeConfig, SessionsConfig
from ..errors import ConfigError, InputError, LogreconError, OutputError
from ..ingest import ingest
from ..normalize import normalize
from ..readers import read_input, require_columns, source_column
from ..schema import (
    CANONICAL,
    QUARANTINE_COLUMNS,
    Reason,
    StageResult,
    first_seen_categorical,
)
from ..sessions import sessions

log = logging.getLogger("logrecon")

ARRIVAL_STRIDE = 1 << 40          # arrival = input index × stride + position within the input
PART = "_part"                    # the partition number a service's events are shuffled to
SHARED_CATEGORIES = ("service", "source", "event_type")  # one category list for the whole run
TARGET_PARTITION_EVENTS = 2_000_000
MAX_LOCAL_WORKERS = 8
SCHEDULER_TIMEOUT_S = 30                 # how long to try reaching --scheduler
_ERRORS = {cls.__name__: cls for cls in (ConfigError, InputError, OutputError)}
FLAG_OF_REASON = {Reason.LATE_EVENT.value: "late", Reason.LATENCY_SPIKE.value: "latency_spike"}
_QUIET_LOGGERS = ("distributed", "distributed.shuffle", "distributed.shuffle._scheduler_plugin")


# ------------------------------------------------------------------------ worker tasks
def ingest_input(path: str, index: int, profile, cfg: IngestConfig, name: str | None = None) -> dict:
    """One input, on a worker: read, check and hash it, then ingest it with a global arrival.

    `path` is absolute (a worker's working directory is not the driver's); `name` is the input
    as the user gave it, which provenance (`source`) and the manifest keep."""
    started = time.perf_counter()
    try:
        source, name = Path(path), Path(name or path)
        with ThreadPoolExecutor(max_workers=1) as pool:
            digest = pool.submit(artifacts.file_sha256, source)  # hashing overlaps reading
            read = read_input(source, profile)
            if source != name and "source" in read.records.columns:
                read.records["source"] = source_column(name, len(read.records))
            require_columns(name, read)
            entry = pipeline.input_entry(name, digest.result(), read)
    except LogreconError as exc:  # rebuilt and raised on the driver, in input order
        return {"error": {"type": type(exc).__name__, "fields": dict(vars(exc)), "message": str(exc)}}
    result = ingest(read.records, cfg)
    del read
    events = result.frame
    events["arrival"] = events["arrival"].to_numpy() + index * ARRIVAL_STRIDE
    counts = events["service"].value_counts(sort=False)
    return {"events": events, "meta": events.iloc[:0], "quarantine": result.tables["quarantine"],
            "issues": result.issues, "stats": result.stats, "entry": entry,
            "services": dict(zip(counts.index.astype(str), counts.to_numpy().tolist())),
            "sources": [str(s) for s in events["source"].cat.categories],
            "seconds": time.perf_counter() - started}


def without_ordered(normalized: dict) -> dict:
    """The small part of a normalize result, for the driver."""
    return {k: v for k, v in normalized.items() if k != "ordered"}


def without_events(ingested: dict) -> dict:
    """The small part of an ingest result, for the driver."""
    return {k: v for k, v in ingested.items() if k != "events"}


def conform(events: pd.DataFrame, layout: pd.DataFrame, services: list[str], sources: list[str],
            part_of_service: np.ndarray) -> pd.DataFrame:
    """One input's events in the run-wide layout (same columns, dtypes and categories in every
    partition, as after the pandas engine's concatenation), plus the partition number."""
    frame = events.reindex(columns=layout.columns)  # a column this input lacks is null, as in a concat
    for name, dtype in layout.dtypes.items():
        if name in ("service", "source"):
            wanted, column = (services if name == "service" else sources), frame[name]
            frame[name] = column.cat.set_categories(wanted) if isinstance(column.dtype, pd.CategoricalDtype) else \
                pd.Series(pd.Categorical(column, categories=wanted), index=frame.index)
        elif frame[name].dtype != dtype:
            frame[name] = frame[name].astype(dtype)
    frame[PART] = part_of_service[frame["service"].cat.codes.to_numpy()] if len(frame) else \
        np.zeros(0, dtype=np.int64)
    return frame


def normalize_partition(events: pd.DataFrame, cfg: NormalizeConfig, categorical: tuple[str, ...] = ()) -> dict:
    """`normalize` on one partition (whole services), after restoring arrival order and making
    the `categorical` columns (shuffled as text) categorical again, as ingest made them."""
    started = time.perf_counter()
    events = events.reset_index(drop=True)
    arrival = events["arrival"].to_numpy()
    if len(arrival) > 1 and not (arrival[1:] >= arrival[:-1]).all():
        events = events.take(np.argsort(arrival, kind="stable")).reset_index(drop=True)
    for name in categorical:
        events[name] = first_seen_categorical(events[name])
    result = normalize(events, cfg)
    del events
    ts, arrival = _event_keys(result.issues, result.frame)
    return {"ordered": result.frame, "duplicates": result.tables["duplicates"],
            "issues": result.issues.assign(_ts=ts, _arrival=arrival), "stats": result.stats,
            "seconds": time.perf_counter() - started}


def sessions_partition(normalized: dict, cfg: SessionsConfig) -> dict:
    """`sessions` on one partition's ordered events."""
    started = time.perf_counter()
    result = sessions(normalized["ordered"], cfg)
    return {"sessions": result.frame, "issues": result.issues, "stats": result.stats,
            "seconds": time.perf_counter() - started}


def _event_keys(table: pd.DataFrame, events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(timestamp ns, arrival) of the event each issue row names by (source, record).

    A record may yield several events (a Zipkin span gives START, STOP, ERROR): the k-th issue of
    a reason on that record names the k-th of its events carrying the reason's flag, in
    analysis order (for reasons without a flag column, the k-th of its events)."""
    missing = np.iinfo(np.int64).max
    ts_out = np.full(len(table), missing, dtype=np.int64)
    arrival_out = ts_out.copy()
    if not len(table) or not len(events):
        return ts_out, arrival_out
    key = events["source"].cat.codes.to_numpy().astype(np.int64) * ARRIVAL_STRIDE \
        + events["record"].to_numpy(dtype=np.int64)
    wanted = events["source"].cat.categories.get_indexer(table["source"].astype(str)).astype(np.int64) \
        * ARRIVAL_STRIDE + table["record"].to_numpy(dtype=np.int64)
    candidates = np.flatnonzero(np.isin(key, wanted))
    ns = events["timestamp"].astype("datetime64[ns, UTC]").array.asi8
    arrival = events["arrival"].to_numpy()
    rows = pd.DataFrame({"key": wanted, "reason": table["reason"].astype(str).to_numpy()})
    rows["rank"] = rows.groupby(["key", "reason"], sort=False).cumcount()
    for reason, group in rows.groupby("reason", sort=False):
        flag = FLAG_OF_REASON.get(reason)
        pool = candidates[events[flag].to_numpy(dtype=bool)[candidates]] if flag in events.columns else candidates
        pool = pd.DataFrame({"key": key[pool], "position": pool})
        pool["rank"] = pool.groupby("key", sort=False).cumcount()
        matched = group.reset_index().merge(pool, on=["key", "rank"], how="inner")
        rows_at, positions = matched["index"].to_numpy(), matched["position"].to_numpy()
        ts_out[rows_at], arrival_out[rows_at] = ns[positions], arrival[positions]
    return ts_out, arrival_out


# ------------------------------------------------------------------------ the driver
def run_dask(inputs, out, profile=None, config=None, scheduler: str | None = None, workers: int | None = None,
             partitions: int | None = None, **params) -> dict[str, StageResult]:
    """Run every stage on a Dask cluster and write the same artifacts as the pandas engine.

    `scheduler`: address of an existing cluster (`tcp://host:8786`); default a local cluster of
    `workers` processes (default: the CPU count, at most 8) with one thread each. Inputs (and a
    profile file) must be readable by the workers. `partitions`: how many service partitions
    (default: enough for ~2M events each, at least two per worker, at most one per service).
    """
    params = {k: v for k, v in params.items() if v is not None}
    run = pipeline.RunContext.create(out, inputs, profile=profile, config=config, params=params,
                                     persist=False, plots=False)
    if "service" not in run.config.normalize.dedup_key:
        raise ConfigError("config", "normalize.dedup_key",
                          "the dask engine partitions events by service, so the dedup key must include 'service'")
    loaded = pipeline._load_profile(run.profile)
    with _client(scheduler, workers) as (client, where):
        n_workers = max(len(client.scheduler_info().get("workers", {})), 1)
        run.state["parameters"].update({"engine": "dask", "scheduler": where, "workers": n_workers})
        log.info("dask: %d workers at %s", n_workers, where)
        return _run(client, run, loaded, n_workers, partitions)


def _connected(client_class, scheduler: str):
    """A client of an existing scheduler; one it cannot reach within SCHEDULER_TIMEOUT_S, or an
    address it cannot read, is a ConfigError naming it."""
    try:
        return client_class(scheduler, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, ValueError, TimeoutError) as exc:
        raise ConfigError("--scheduler", scheduler, f"cannot reach the Dask scheduler: {exc}") from None


@contextmanager
def _client(scheduler: str | None, workers: int | None):
    from distributed import Client, LocalCluster

    levels = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:  # the shuffle announces itself at WARNING: not news for our users
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        if scheduler:
            with _connected(Client, scheduler) as client:
                yield client, scheduler
        else:
            n = workers or max(1, min(os.cpu_count() or 1, MAX_LOCAL_WORKERS))
            # ":0": the dashboard on a free port (its link is logged); a fixed one may be taken
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                              silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
                log.info("dask: dashboard at %s", client.dashboard_link)
                yield client, f"local ({n} processes × 1 thread)"
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _raise_input_error(error: dict):
    cls = _ERRORS.get(error["type"])
    try:
        raise cls(**error["fields"]) if cls else LogreconError(error["message"])
    except TypeError:  # fields that do not fit the constructor: the message still says it all
        raise LogreconError(error["message"]) from None


def _run(client, run: pipeline.RunContext, profile, n_workers: int, partitions: int | None) -> dict:
    import dask.dataframe as dd
    from distributed import wait

    cfg = run.config
    # -- ingest: one task per input ---------------------------------------------------------
    started = time.perf_counter()
    ingested = [client.submit(ingest_input, os.path.abspath(path), index, profile, cfg.ingest, path, pure=False)
                for index, path in enumerate(run.inputs)]
    summaries = client.gather([client.submit(without_events, f) for f in ingested])
    for summary in summaries:
        if "error" in summary:
            _raise_input_error(summary["error"])
    events = [client.submit(operator.getitem, f, "events") for f in ingested]
    del ingested
    run.state["inputs"] = [s["entry"] for s in summaries]
    quarantine = _concat_quarantine([s["quarantine"] for s in summaries])
    run.put("quarantine", quarantine)
    run.write(quarantine, "quarantine.csv")
    ingest_result = StageResult(frame=quarantine.iloc[:0], issues=_concat([s["issues"] for s in summaries]),
                                tables={"quarantine": quarantine}, stats=_combine([s["stats"] for s in summaries]))
    run.record("ingest", time.perf_counter() - started, ingest_result)

    # -- shuffle: whole services per partition ------------------------------------------------
    started = time.perf_counter()
    services = sorted(set().union(*[s["services"] for s in summaries]))
    sources = sorted(set().union(*[s["sources"] for s in summaries]))
    counts = np.array([sum(s["services"].get(name, 0) for s in summaries) for name in services], dtype=np.int64)
    wanted = partitions or max(2 * n_workers, -(-int(counts.sum()) // TARGET_PARTITION_EVENTS))
    part_of_service = service_partitions(counts, wanted)
    n_parts = int(part_of_service.max()) + 1 if len(part_of_service) else 0
    layout = pd.concat([s["meta"] for s in summaries], ignore_index=True)
    # Categorical columns other than these (session ids: one category per session) travel as
    # text: shipping every input's categories to every partition would cost more than the text.
    categorical = tuple(c for c in layout.columns if c not in SHARED_CATEGORIES and any(
        isinstance(s["meta"][c].dtype, pd.CategoricalDtype) for s in summaries if c in s["meta"]))
    layout = layout.astype({c: "str" for c in categorical})
    meta = conform(layout, layout, services, sources, part_of_service)
    conformed = [client.submit(conform, f, layout, services, sources, part_of_service) for f in events]
    del events
    if n_parts:
        frame = dd.from_delayed(conformed, meta=meta, verify_meta=False)
        method = "tasks" if (meta.dtypes == object).any() else "p2p"  # p2p moves Arrow: plain columns only
        shuffled = frame.set_index(PART, divisions=(*range(n_parts), n_parts - 1), shuffle_method=method)
        pieces = client.compute(shuffled.to_delayed())
        wait(pieces)
    else:  # no events at all: one empty partition, run where we are
        pieces = [client.submit(lambda m: m.set_index(PART), meta)]
    del conformed
    run.state["timings_s"]["shuffle"] = round(time.perf_counter() - started, 4)
    run.state["parameters"]["partitions"] = max(n_parts, 1)
    log.info("dask: %d services in %d partitions (events per partition: %s)", len(services), max(n_parts, 1),
             ", ".join(str(int(counts[part_of_service == p].sum())) for p in range(n_parts)) or "0")

    # -- per partition: normalize, then sessions ---------------------------------------------
    started = time.perf_counter()
    normalized = client.map(normalize_partition, pieces, cfg=cfg.normalize, categorical=categorical, pure=False)
    wait(normalized)
    del pieces
    normalize_seconds = time.perf_counter() - started
    started = time.perf_counter()
    timelines = client.map(sessions_partition, normalized, cfg=cfg.sessions, pure=False)
    wait(timelines)
    sessions_seconds = time.perf_counter() - started

    # -- merge on the driver -------------------------------------------------------------------
    started = time.perf_counter()
    ordered = _merge_ordered(client.gather([client.submit(operator.getitem, n, "ordered") for n in normalized]))
    parts = client.gather([client.submit(without_ordered, n) for n in normalized])
    del normalized
    duplicates = _arrival_order(_concat([p["duplicates"] for p in parts]), run.inputs)
    normalize_issues = _analysis_order(_concat([p["issues"] for p in parts]))
    normalize_stats = _combine([p["stats"] for p in parts])
    timelines_done = client.gather(timelines)
    del timelines
    table = _concat(_same_categories([t["sessions"] for t in timelines_done]))  # partitions: service order
    sessions_issues = _concat([t["issues"] for t in timelines_done])
    sessions_stats = _combine([t["stats"] for t in timelines_done])
    if cfg.sessions.max_session_s is not None:
        table, sessions_stats = _timed_out_against_global_end(table, ordered, cfg.sessions, sessions_stats)
    merge_seconds = time.perf_counter() - started

    # -- artifacts, through the pipeline's own steps where the work is on the whole ------------
    results = {"ingest": ingest_result}
    results["normalize"] = StageResult(frame=ordered, issues=normalize_issues,
                                       tables={"duplicates": duplicates}, stats=normalize_stats)
    run.put("ordered", ordered)
    run.put("duplicates", duplicates)
    run.write(ordered.drop(columns="arrival"), "cleaned_logs.csv")
    run.write(duplicates, "duplicates.csv")
    run.record("normalize", normalize_seconds, results["normalize"])
    run.state["timings_s"]["merge"] = round(merge_seconds, 4)
    results["validate"] = pipeline.validate_step(run)
    results["sessions"] = StageResult(frame=table, issues=sessions_issues, stats=sessions_stats)
    run.put("sessions", table)
    run.write(table, "reconstructed_sessions.csv")
    run.record("sessions", sessions_seconds, results["sessions"])
    results["metrics"] = pipeline.metrics_step(run)
    return results


# ------------------------------------------------------------------------ helpers
def service_partitions(counts: np.ndarray, wanted: int) -> np.ndarray:
    """Partition number of each service (in name order): contiguous runs, balanced by events."""
    n = len(counts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    wanted = max(1, min(int(wanted), n))
    before = np.cumsum(counts) - counts
    share = before / max(int(counts.sum()), 1)
    _, part = np.unique(np.minimum((share * wanted).astype(np.int64), wanted - 1), return_inverse=True)
    return part.astype(np.int64)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Row-wise concatenation with every frame's columns (in order of appearance); empty frames
    give their columns but not their dtypes."""
    frames = [f for f in frames if f is not None]
    if not frames:
        return pd.DataFrame()
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    non_empty = [f for f in frames if len(f)]
    combined = pd.concat(non_empty or frames[:1], ignore_index=True)
    return combined if list(combined.columns) == columns else combined.reindex(columns=columns)


def _same_categories(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    """Frames whose categorical columns share one category list (the union, in first-seen
    order), so that concatenating them keeps those columns categorical (codes, not strings)."""
    frames = [f for f in frames if f is not None]
    for name in (frames[0].columns if frames else ()):
        dtypes = [f[name].dtype for f in frames if name in f.columns]
        if not all(isinstance(d, pd.CategoricalDtype) for d in dtypes) or all(d == dtypes[0] for d in dtypes):
            continue
        having = [i for i, f in enumerate(frames) if name in f.columns]
        categories = [frames[i][name].cat.categories for i in having]
        union_codes, union = pd.factorize(categories[0].append(categories[1:]))
        dtype = pd.CategoricalDtype(union)
        offset = 0
        for i, own in zip(having, categories):
            remap = np.append(union_codes[offset:offset + len(own)], -1)   # code -1 (missing) stays -1
            offset += len(own)
            codes = remap[frames[i][name].cat.codes.to_numpy()]
            frames[i] = frames[i].assign(**{name: pd.Categorical.from_codes(codes, dtype=dtype)})
    return frames


def _combine(stats: list[dict]) -> dict:
    """Stage stats of the partitions as one: counts add, maxima (`max_*`, `*_digits`) take the
    largest, per-service mappings merge."""
    combined: dict = {}
    for part in stats:
        for key, value in part.items():
            if key not in combined:
                combined[key] = dict(value) if isinstance(value, dict) else value
            elif isinstance(value, dict):
                combined[key].update(value)
            elif isinstance(value, bool) or not isinstance(value, (int, float)):
                combined[key] = value
            elif key.startswith("max_") or key.endswith("_digits"):
                combined[key] = max(combined[key], value)
            else:
                combined[key] += value
    return combined


def _concat_quarantine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-input quarantines in input order, raw columns in the order ingest gives them."""
    quarantine = _concat(frames)
    raw = [c for c in (*CANONICAL, "raw") if c in quarantine.columns]
    rest = [c for c in quarantine.columns if c not in (*QUARANTINE_COLUMNS, *raw)]
    return quarantine.loc[:, [*[c for c in QUARANTINE_COLUMNS if c in quarantine.columns], *raw, *rest]]


def _merge_ordered(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Ordered partitions → one frame in analysis order: stable on (timestamp, arrival)."""
    frame = _concat(_same_categories(frames))
    frames.clear()
    if len(frame) < 2:
        return frame
    ns = frame["timestamp"].astype("datetime64[ns, UTC]").array.asi8
    order = np.lexsort((frame["arrival"].to_numpy(), ns))
    del ns
    columns = {}
    for name in list(frame.columns):  # column by column: one unsorted column alive at a time, not a frame
        columns[name] = frame.pop(name).array.take(order)
    return pd.DataFrame(columns)


def _arrival_order(table: pd.DataFrame, inputs: list[str]) -> pd.DataFrame:
    """Rows naming a record by (source, record), in arrival order: input order, then record."""
    if len(table) < 2:
        return table
    index = {str(Path(p)): i for i, p in enumerate(inputs)}
    rank = table["source"].astype(str).map(index).fillna(len(index)).to_numpy(dtype=np.int64)
    return table.take(np.lexsort((table["record"].to_numpy(dtype=np.int64), rank))).reset_index(drop=True)


def _analysis_order(issues: pd.DataFrame) -> pd.DataFrame:
    """normalize's issues from every partition: grouped by reason (in `Reason` order), each
    group in analysis order, as normalize emits them for one frame."""
    if not len(issues):
        return issues.drop(columns=["_ts", "_arrival"], errors="ignore")
    known = {str(reason): rank for rank, reason in enumerate(Reason)}
    reasons = issues["reason"].astype(str)
    unknown = {r: len(known) + i for i, r in enumerate(dict.fromkeys(r for r in reasons if r not in known))}
    rank = reasons.map({**known, **unknown}).to_numpy(dtype=np.int64)
    order = np.lexsort((issues["_arrival"].to_numpy(), issues["_ts"].to_numpy(), rank))
    return issues.take(order).drop(columns=["_ts", "_arrival"]).reset_index(drop=True)


def _timed_out_against_global_end(table: pd.DataFrame, ordered: pd.DataFrame, cfg: SessionsConfig,
                                  stats: dict) -> tuple[pd.DataFrame, dict]:
    """`max_session_s` closes a never-stopped START older than the limit *at the end of the
    data*; a partition only knows its own end, so the open ones are judged again here."""
    if not len(table) or not len(ordered):
        return table, stats
    end = ordered["timestamp"].max()
    still_open = (table["status"] == "missing_stop") & (end - table["start_time"] > pd.Timedelta(seconds=cfg.max_session_s))
    if not still_open.any():
        return table, stats
    table = table.copy()
    table.loc[still_open, "status"] = "timed_out"
    counts = table["status"].value_counts()
    return table, {**stats, **{f"sessions_{s}": int(counts.get(s, 0)) for s in
                              ("complete", "missing_stop", "missing_start", "timed_out", "clock_skew")}}
