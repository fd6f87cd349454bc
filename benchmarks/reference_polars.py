"""The benchmark's reference: logrecon's core work written idiomatically in Polars.

    python benchmarks/reference_polars.py LOGS.csv OUT_DIR [--gap-threshold SECONDS]

Same work as `logrecon run --no-report --gap-threshold SECONDS` on a canonical CSV:

1. read the CSV (every column as text), number records in arrival order;
2. parse timestamps strictly (ISO-8601 `YYYY-MM-DDTHH:MM:SS[.f]Z`), quarantine records with no
   usable timestamp (unparseable, missing, outside 2000-01-01 ≤ t < 2100-01-01), service or
   event type; an invalid latency becomes null (row kept); empty session ids become null;
3. dedup on (timestamp, service, event_type, latency_ms, session_id), first arrival kept;
4. lateness per service against arrival order; stable sort on (timestamp, arrival);
5. per-service gaps above a fixed threshold;
6. START/STOP pairing by (service, session_id), FIFO. Simplification (stated in the
   benchmark's README): the k-th STOP of a key closes the key's k-th START, and a STOP earlier
   than that START is `clock_skew`; logrecon instead walks the open count, so a STOP with nothing
   open is `missing_start` and later pairs shift. Events without a session id pair the same way
   per service.
7. per-service and ALL metrics: events, START/STOP/ERROR counts, error rate, latency
   mean/p50/p95/p99/max (linear interpolation, as pandas), sessions by status, duplicates,
   quarantined, late events, gaps;
8. write cleaned_logs.csv, reconstructed_sessions.csv, reliability_metrics.csv (and gaps.csv,
   quarantine.csv).

Bench-only: not part of the package, not imported by it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl

TIME_FORMAT_IN = "%Y-%m-%dT%H:%M:%S%.fZ"
TIME_FORMAT_OUT = "%Y-%m-%dT%H:%M:%S%.3fZ"
KEY = ["timestamp", "service", "event_type", "latency_ms", "session_id"]
EVENT_TYPES = ["START", "STOP", "ERROR"]
STATUSES = ["complete", "missing_stop", "missing_start", "clock_skew"]


def clean(source: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(events in arrival order with duplicates removed, quarantine, removed copies)."""
    raw = pl.read_csv(source, infer_schema=False).with_row_index("arrival")
    trimmed = raw.with_columns(
        pl.col("timestamp").str.strip_chars().str.to_datetime(
            TIME_FORMAT_IN, time_unit="ns", time_zone="UTC", strict=False).alias("ts"),
        pl.col("service").str.strip_chars(),
        pl.col("event_type").str.strip_chars().str.to_uppercase(),
        pl.col("latency_ms").str.strip_chars().cast(pl.Float64, strict=False).alias("latency"),
        pl.col("session_id").str.strip_chars(),
    )
    in_window = pl.col("ts").is_between(pl.datetime(2000, 1, 1, time_zone="UTC"),
                                        pl.datetime(2100, 1, 1, time_zone="UTC"), closed="left")
    usable = (in_window.fill_null(False) & (pl.col("service").str.len_bytes() > 0).fill_null(False)
              & pl.col("event_type").is_in(EVENT_TYPES).fill_null(False))
    flagged = trimmed.with_columns(usable.alias("usable"))
    quarantine = flagged.filter(~pl.col("usable")).select(
        pl.lit(source).alias("source"), (pl.col("arrival") + 1).alias("record"),
        pl.col("timestamp").alias("raw_timestamp"), "service", "event_type", "latency_ms", "session_id")
    events = flagged.filter(pl.col("usable")).select(
        "arrival",
        pl.col("ts").alias("timestamp"),
        "service", "event_type",
        pl.when(pl.col("latency").is_finite() & (pl.col("latency") >= 0)).then(pl.col("latency"))
          .alias("latency_ms"),
        pl.when(pl.col("session_id").str.len_bytes() > 0).then(pl.col("session_id")).alias("session_id"),
    )
    first = events.select(pl.struct(KEY).is_first_distinct()).to_series()
    return events.filter(first), quarantine, events.filter(~first)


def ordered(events: pl.DataFrame) -> pl.DataFrame:
    """Lateness against arrival order, then analysis order (timestamp, arrival)."""
    lateness_ms = (pl.col("timestamp").cum_max().over("service") - pl.col("timestamp")).dt.total_microseconds() / 1000
    return (events.with_columns(lateness_ms.alias("lateness_ms"))
            .with_columns((pl.col("lateness_ms") > 0).alias("late"))
            .sort("timestamp", maintain_order=True))


def gaps(events: pl.DataFrame, threshold_s: float) -> pl.DataFrame:
    seconds = (pl.col("timestamp") - pl.col("gap_start")).dt.total_microseconds() / 1e6
    return (events.select("service", "timestamp",
                          pl.col("timestamp").shift(1).over("service").alias("gap_start"))
            .with_columns(seconds.alias("gap_seconds"))
            .filter(pl.col("gap_seconds") > threshold_s)
            .select("service", "gap_start", pl.col("timestamp").alias("gap_end"), "gap_seconds")
            .sort(["service", "gap_start"], maintain_order=True))


def sessions(events: pl.DataFrame) -> pl.DataFrame:
    """k-th STOP of a (service, session_id) with its k-th START (see the module docstring)."""
    bounds = events.filter(pl.col("event_type").is_in(["START", "STOP"])).select(
        "service", pl.col("session_id").fill_null(""), "event_type", "timestamp", "arrival")
    is_start = pl.col("event_type") == "START"
    keyed = bounds.group_by(["service", "session_id"]).agg(   # lists keep analysis order
        pl.col("timestamp").filter(is_start).alias("start_time"),
        pl.col("arrival").filter(is_start).alias("start_arrival"),
        pl.col("timestamp").filter(~is_start).alias("stop_time"),
        pl.col("arrival").filter(~is_start).alias("stop_arrival"))
    longest = pl.max_horizontal(pl.col("start_time").list.len(), pl.col("stop_time").list.len())
    paired = (keyed.with_columns(pl.int_ranges(0, longest).alias("k")).explode("k")
              .with_columns(*[pl.col(c).list.get(pl.col("k"), null_on_oob=True)
                              for c in ("start_time", "start_arrival", "stop_time", "stop_arrival")]))
    status = (pl.when(pl.col("stop_time").is_null()).then(pl.lit("missing_stop"))
              .when(pl.col("start_time").is_null()).then(pl.lit("missing_start"))
              .when(pl.col("stop_time") < pl.col("start_time")).then(pl.lit("clock_skew"))
              .otherwise(pl.lit("complete")))
    duration = (pl.when(pl.col("status") == "complete")
                .then((pl.col("stop_time") - pl.col("start_time")).dt.total_microseconds() / 1000))
    return (paired.with_columns(status.alias("status"))
            .with_columns(duration.alias("duration_ms"),
                          pl.when(pl.col("session_id") != "").then(pl.col("session_id")).alias("session_id"),
                          pl.coalesce("start_arrival", "stop_arrival").alias("_first"))
            .sort(["service", "_first"])
            .select("service", "session_id", "status", "start_time", "stop_time", "duration_ms",
                    (pl.col("start_arrival") + 1).alias("start_record"), (pl.col("stop_arrival") + 1).alias("stop_record")))


def metrics(events: pl.DataFrame, table: pl.DataFrame, removed: pl.DataFrame, quarantine: pl.DataFrame,
            gap_table: pl.DataFrame) -> pl.DataFrame:
    counts = events.group_by("service").agg(
        pl.len().alias("events"),
        *[(pl.col("event_type") == t).sum().alias(t.lower()) for t in EVENT_TYPES],
        pl.col("late").sum().alias("late_events"),
    )
    latency = [pl.col("latency_ms").mean().alias("latency_mean_ms"),
               *[pl.col("latency_ms").quantile(q, interpolation="linear").alias(f"latency_p{int(q * 100)}_ms")
                 for q in (0.5, 0.95, 0.99)],
               pl.col("latency_ms").max().alias("latency_max_ms")]
    by_status = table.group_by("service").agg(
        *[(pl.col("status") == s).sum().alias(f"sessions_{s}") for s in STATUSES])
    side = [frame.group_by("service").agg(pl.len().alias(name))
            for frame, name in ((removed, "duplicates"), (quarantine, "quarantined"), (gap_table, "gaps"))]
    per_service = counts.join(events.group_by("service").agg(latency), on="service", how="left")
    for other in (by_status, *side):
        per_service = per_service.join(other, on="service", how="left")
    per_service = per_service.filter(pl.col("service").is_not_null()).fill_null(0).sort("service")
    numeric = [c for c in per_service.columns if c != "service" and not c.startswith("latency")]
    overall = per_service.select(pl.lit("ALL").alias("service"), *[pl.col(c).sum() for c in numeric]).with_columns(
        pl.lit(quarantine.height, dtype=pl.UInt32).alias("quarantined"))
    overall = overall.join(events.select(pl.lit("ALL").alias("service"), *latency), on="service")
    combined = pl.concat([per_service, overall.select(per_service.columns)], how="vertical_relaxed")
    return combined.with_columns((pl.col("error") / pl.col("events")).fill_nan(0.0).alias("error_rate"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs")
    parser.add_argument("out", type=Path)
    parser.add_argument("--gap-threshold", type=float, default=300.0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    events, quarantine, removed = clean(args.logs)
    timeline = ordered(events)
    gap_table = gaps(timeline, args.gap_threshold)
    table = sessions(timeline)
    summary = metrics(timeline, table, removed, quarantine, gap_table)

    write = {"datetime_format": TIME_FORMAT_OUT}
    (timeline.select("timestamp", "service", "event_type", "latency_ms", "session_id",
                     pl.lit(args.logs).alias("source"), (pl.col("arrival") + 1).alias("record"),
                     "late", "lateness_ms")
     .write_csv(args.out / "cleaned_logs.csv", **write))
    table.write_csv(args.out / "reconstructed_sessions.csv", **write)
    summary.write_csv(args.out / "reliability_metrics.csv")
    gap_table.write_csv(args.out / "gaps.csv", **write)
    quarantine.write_csv(args.out / "quarantine.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
