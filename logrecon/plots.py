"""Seaborn diagnostics of one run: five figures built from the run's frames.

Every function takes frames (the in-memory results or the artifact CSVs read back) and an
optional matplotlib `Axes`, draws on it, and returns that `Axes`. Without an `Axes` a new
`matplotlib.figure.Figure` is made (not through pyplot, so nothing is registered globally and
no backend is chosen here; `ax.figure` gives the figure). Nothing is shown or printed.

Big inputs are aggregated before anything is drawn (counts per time bin with `bincount`,
histograms on log-spaced bins with `numpy.histogram`), so a 10M-row cleaned frame costs a
few vectorized passes, not a 10M-point plot. An empty frame draws an empty figure with a
"no data" note. Strings from the logs (service names) only ever become text labels: they
are shortened and `$` is escaped so matplotlib never parses them as mathtext; they never
become file names (`write_plots` uses fixed names).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .schema import RUN_LABEL, SESSION_STATUSES, run_rows

PLOT_FILES = {
    "event_volume": "event_volume.png",
    "errors_by_service": "errors_by_service.png",
    "latency_distribution": "latency_distribution.png",
    "session_durations": "session_durations.png",
    "data_quality": "data_quality.png",
}
"""Figure name -> fixed file name inside `plots/` (service names never reach a path)."""

MAX_LINES = 8                # services drawn as their own line in the volume plot
MAX_BARS = 20                # services in the errors bar chart
MAX_HEATMAP_ROWS = 30        # services in the data-quality heatmap
MAX_GAP_SPANS = 400          # gap spans drawn (the longest ones)
LABEL_CHARS = 40             # a label from the logs is cut to this many characters
STATUS_CODES = {"ok": 0, "warn": 1, "fail": 2}
STATUS_COLORS = ("#4caf50", "#ffb300", "#e53935")
_NICE_BINS_S = (
    0.001, 0.01, 0.1, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
    3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400, 30 * 86400, 365 * 86400,
)


# ---------------------------------------------------------------- helpers


def text_label(value: object, limit: int = LABEL_CHARS) -> str:
    """A log string made safe as a matplotlib label: one line, shortened, `$` escaped."""
    text = " ".join(str(value).split()) or "(blank)"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _labels(values: Iterable[object]) -> list[str]:
    """`text_label` for each value, made unique (two long names may cut to the same text)."""
    seen: dict[str, int] = {}
    out = []
    for value in values:
        label = text_label(value)
        if label in seen:
            seen[label] += 1
            label = f"{label} ({seen[label]})"
        else:
            seen[label] = 1
        out.append(label)
    return out


def _new_axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    return Figure(figsize=size, layout="constrained").subplots()


def _no_data(ax: Axes, title: str, note: str = "no data") -> Axes:
    ax.set_title(title)
    ax.text(0.5, 0.5, note, transform=ax.transAxes, ha="center", va="center",
            fontsize=13, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _note(ax: Axes, text: str) -> None:
    ax.text(0.99, 0.98, text, transform=ax.transAxes, ha="right", va="top", fontsize=8,
            color="0.3", bbox={"boxstyle": "round", "fc": "white", "ec": "0.8", "alpha": 0.9})


def _epoch_ns(values: pd.Series) -> np.ndarray:
    """UTC nanoseconds since the epoch as int64 (NaT dropped); accepts ISO strings too."""
    stamps = values
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = pd.to_datetime(stamps, utc=True, format="ISO8601", errors="coerce")
    stamps = stamps.dropna()
    return stamps.dt.tz_localize(None).to_numpy().astype("datetime64[ns]").view("int64")


def _factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 = missing) and the distinct values as strings, without copying a
    categorical column into 10M Python strings."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        names = values.cat.categories.astype(str).to_numpy(dtype=object)
    else:
        codes, uniques = pd.factorize(values)
        names = pd.Index(uniques).astype(str).to_numpy(dtype=object)
    return codes.astype(np.int64, copy=False), names


def _numbers(values: pd.Series) -> np.ndarray:
    """Finite float64 values of a column that may hold strings or nulls."""
    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return array[np.isfinite(array)]


def _log_edges(low: float, high: float, bins: int = 60) -> np.ndarray:
    if high <= low:
        low, high = low / 2, high * 2
    return np.logspace(np.log10(low), np.log10(high), bins + 1)


def _bin_width_ns(span_ns: int, target_bins: int = 150) -> int:
    wanted = span_ns / target_bins / 1e9
    for seconds in _NICE_BINS_S:
        if seconds >= wanted:
            return int(seconds * 1e9)
    return int(_NICE_BINS_S[-1] * 1e9)


def _width_text(width_ns: int) -> str:
    seconds = width_ns / 1e9
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds * 1000:g} ms"


# ---------------------------------------------------------------- figures


def event_volume(cleaned: pd.DataFrame, gaps: pd.DataFrame | None = None, *,
                 ax: Axes | None = None) -> Axes:
    """Events per time bin for each service (largest services), gaps shaded in its colour."""
    ax = _new_axes(ax, (11, 4.8))
    title = "Event volume over time"
    if cleaned is None or cleaned.empty:
        return _no_data(ax, title, "no events")
    stamps = cleaned["timestamp"]
    if not isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = pd.to_datetime(stamps, utc=True, format="ISO8601", errors="coerce")
    keep = stamps.notna().to_numpy()
    if not keep.any():
        return _no_data(ax, title, "no events with a timestamp")
    codes, names = _factorize(cleaned["service"])
    keep = keep & (codes >= 0)
    if not keep.all():
        stamps, codes = stamps[keep], codes[keep]
    ns = _epoch_ns(stamps)
    start, end = int(ns.min()), int(ns.max())
    width = _bin_width_ns(end - start)
    origin = start - start % width
    slot = (ns - origin) // width
    n_slots = int(slot.max()) + 1
    counts = np.bincount(codes * n_slots + slot, minlength=len(names) * n_slots)
    counts = counts.reshape(len(names), n_slots)

    totals = counts.sum(axis=1)
    gap_counts = _gap_counts(gaps, names)
    # services with gaps first (most gaps), then by volume, then by name
    order = np.lexsort((names.astype(str), -totals, -gap_counts))
    order = order[totals[order] > 0]
    shown = order[:MAX_LINES]
    rows = [counts[i] for i in shown]
    labels = _labels(names[i] for i in shown)
    hidden = len(order) - len(shown)
    times = pd.to_datetime(origin + np.arange(n_slots, dtype="int64") * width, unit="ns")
    frame = pd.DataFrame({
        "time": np.tile(times.to_numpy(), len(rows)),
        "events": np.concatenate(rows),
        "service": np.repeat(labels, n_slots),
    })
    colors = dict(zip(labels, sns.color_palette("tab10", len(labels))))
    sns.lineplot(data=frame, x="time", y="events", hue="service", hue_order=labels,
                 palette=colors, estimator=None, errorbar=None, drawstyle="steps-post",
                 linewidth=1.2, ax=ax)

    handles, legend_labels = ax.get_legend_handles_labels()
    shaded = _shade_gaps(ax, gaps, {names[i]: colors[lab] for i, lab in zip(shown, labels)})
    if shaded:
        handles.append(Patch(color="0.5", alpha=0.25, label="gap (no events)"))
        legend_labels.append("gap (no events)")
    ax.legend(handles, legend_labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1),
              title="service", title_fontsize=8)
    if shaded:
        title += f" — {shaded} gap{'s' if shaded != 1 else ''} shaded"
    if hidden:
        title += f" (top {len(shown)} services; {hidden} more not shown)"
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel(f"events per {_width_text(width)}")
    ax.set_ylim(bottom=0)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return ax


def _gap_counts(gaps: pd.DataFrame | None, names: np.ndarray) -> np.ndarray:
    """Number of gaps of each service in `names` (0 where none)."""
    if gaps is None or gaps.empty:
        return np.zeros(len(names), dtype=np.int64)
    per_service = gaps["service"].astype(str).value_counts()
    return per_service.reindex(names.astype(str), fill_value=0).to_numpy(dtype=np.int64)


def _shade_gaps(ax: Axes, gaps: pd.DataFrame | None, colors: dict[str, tuple]) -> int:
    """Shade each gap of a drawn service (the longest `MAX_GAP_SPANS`); return how many."""
    if gaps is None or gaps.empty or not colors:
        return 0
    frame = pd.DataFrame({
        "service": gaps["service"].astype(str),
        "start": pd.to_datetime(gaps["gap_start"], utc=True, format="ISO8601", errors="coerce"),
        "end": pd.to_datetime(gaps["gap_end"], utc=True, format="ISO8601", errors="coerce"),
    })
    frame = frame[frame["service"].isin(list(colors)) & frame["start"].notna()
                  & frame["end"].notna()]
    if frame.empty:
        return 0
    frame = frame.assign(length=frame["end"] - frame["start"])
    frame = frame.sort_values(["length", "service", "start"], ascending=[False, True, True],
                              kind="stable").head(MAX_GAP_SPANS)
    for service, start, end in zip(frame["service"], frame["start"], frame["end"]):
        ax.axvspan(start.tz_localize(None), end.tz_localize(None), color=colors[service],
                   alpha=0.18, linewidth=0)
    return len(frame)


def errors_by_service(metrics: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """ERROR events per service (most first), each bar annotated with the error rate."""
    title = "Errors by service"
    rows = pd.DataFrame() if metrics is None else metrics
    if not rows.empty:
        rows = rows[~run_rows(rows)]
    n_bars = min(len(rows), MAX_BARS)
    ax = _new_axes(ax, (9, max(2.5, 0.38 * n_bars + 1.4)))
    if rows.empty:
        return _no_data(ax, title, "no services")
    frame = pd.DataFrame({
        "service": rows["service"].astype(str).to_numpy(),
        "errors": pd.to_numeric(rows["error"], errors="coerce").fillna(0).to_numpy(),
        "rate": pd.to_numeric(rows["error_rate"], errors="coerce").to_numpy(),
    }).sort_values(["errors", "service"], ascending=[False, True], kind="stable")
    hidden = len(frame) - MAX_BARS
    frame = frame.head(MAX_BARS)
    frame["label"] = _labels(frame["service"])
    sns.barplot(data=frame, y="label", x="errors", color="#e53935", orient="h", ax=ax)
    for y, (errors, rate) in enumerate(zip(frame["errors"], frame["rate"])):
        text = f"{int(errors):,}" + (f"  ({rate:.1%})" if np.isfinite(rate) else "")
        ax.text(errors, y, " " + text, va="center", fontsize=8)
    ax.set_xlim(0, max(1.0, float(frame["errors"].max())) * 1.25)
    ax.set_xlabel("ERROR events (error rate = errors / events)")
    ax.set_ylabel("")
    if hidden > 0:
        title += f" (top {MAX_BARS}; {hidden} more not shown)"
    if float(frame["errors"].sum()) == 0:
        _note(ax, "no ERROR events")
    ax.set_title(title)
    return ax


def latency_distribution(cleaned: pd.DataFrame, metrics: pd.DataFrame | None = None, *,
                         ax: Axes | None = None) -> Axes:
    """Histogram of latency_ms on a log axis with p50/p95/p99 marked.

    Percentiles are the run row of `metrics` (scope `run`) when given (so the figure agrees with
    reliability_metrics.csv), else computed from the data.
    """
    ax = _new_axes(ax, (10, 4.5))
    title = "Latency distribution (all services)"
    if cleaned is None or cleaned.empty or "latency_ms" not in cleaned:
        return _no_data(ax, title, "no latencies")
    values = _numbers(cleaned["latency_ms"])
    positive = values[values > 0]
    if positive.size == 0:
        return _no_data(ax, title, "no positive latencies")
    edges = _log_edges(float(positive.min()), float(positive.max()))
    counts, _ = np.histogram(positive, bins=edges)
    centers = np.sqrt(edges[:-1] * edges[1:])
    binned = pd.DataFrame({"latency_ms": centers, "events": counts})
    sns.histplot(data=binned, x="latency_ms", weights="events", bins=list(np.log10(edges)),
                 log_scale=True, color="#1e88e5", element="bars", ax=ax)

    marks = _percentiles(values, metrics)
    styles = {"p50": ("#43a047", "-"), "p95": ("#fb8c00", "--"), "p99": ("#e53935", ":")}
    for name, value in marks.items():
        if value is not None and np.isfinite(value) and value > 0:
            color, style = styles[name]
            ax.axvline(value, color=color, linestyle=style, linewidth=1.8,
                       label=f"{name} = {value:,.1f} ms")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=9, loc="upper right")
    zeros = int((values <= 0).sum())
    note = f"n = {values.size:,} latencies"
    if zeros:
        note += f"; {zeros:,} of 0 ms not on the log axis"
    ax.text(0.01, 0.98, note, transform=ax.transAxes, ha="left", va="top", fontsize=8,
            color="0.3")
    ax.set_title(title)
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("events")
    return ax


def _percentiles(values: np.ndarray, metrics: pd.DataFrame | None) -> dict[str, float | None]:
    names = ("p50", "p95", "p99")
    if metrics is not None and not metrics.empty:
        overall = metrics[run_rows(metrics)]
        if not overall.empty and all(f"latency_{n}_ms" in overall for n in names):
            row = overall.iloc[-1]
            found = {n: pd.to_numeric(row[f"latency_{n}_ms"], errors="coerce") for n in names}
            if all(pd.notna(v) for v in found.values()):
                return {n: float(v) for n, v in found.items()}
    if values.size == 0:
        return dict.fromkeys(names)
    return dict(zip(names, (float(v) for v in np.percentile(values, [50, 95, 99]))))


def session_durations(sessions: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Histogram of session duration_ms per status (log axis); statuses without a duration
    (missing_stop, clock_skew) are counted in a note, never given a fabricated duration."""
    ax = _new_axes(ax, (10, 4.5))
    title = "Session durations by status"
    if sessions is None or sessions.empty:
        return _no_data(ax, title, "no sessions")
    codes, names = _factorize(sessions["status"])
    duration = pd.to_numeric(sessions["duration_ms"], errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan)
    has = np.isfinite(duration)
    positive = has & (duration > 0)
    listed = [s for s in SESSION_STATUSES if s in set(names)]
    known = listed + sorted(set(names) - set(SESSION_STATUSES))
    code_of = {name: code for code, name in enumerate(names)}
    without = {s: int(((codes == code_of[s]) & ~has).sum()) for s in known}
    zero = int((has & (duration <= 0)).sum())
    notes = [f"{n:,} {s}" for s, n in without.items() if n]
    note = ("no duration: " + ", ".join(notes)) if notes else ""
    if zero:
        note += ("; " if note else "") + f"{zero:,} of 0 ms not on the log axis"
    if not positive.any():
        ax = _no_data(ax, title, "no session has a duration")
        if note:
            _note(ax, note)
        return ax

    edges = _log_edges(float(duration[positive].min()), float(duration[positive].max()))
    centers = np.sqrt(edges[:-1] * edges[1:])
    parts, order = [], []
    for name in known:
        mask = positive & (codes == code_of[name])
        if not mask.any():
            continue
        counts, _ = np.histogram(duration[mask], bins=edges)
        label = f"{text_label(name)} (n={int(mask.sum()):,})"
        order.append(label)
        parts.append(pd.DataFrame({"duration_ms": centers, "sessions": counts, "status": label}))
    frame = pd.concat(parts, ignore_index=True)
    palette = dict(zip(order, sns.color_palette("deep", len(order))))
    sns.histplot(data=frame, x="duration_ms", weights="sessions", hue="status", hue_order=order,
                 palette=palette, bins=list(np.log10(edges)), log_scale=True, element="step",
                 fill=False, linewidth=1.6, ax=ax)
    if note:
        ax.text(0.01, 0.98, note, transform=ax.transAxes, ha="left", va="top", fontsize=8,
                color="0.3")
    ax.set_title(title)
    ax.set_xlabel("duration (ms, log scale)")
    ax.set_ylabel("sessions")
    return ax


def data_quality(checks: pd.DataFrame, *, ax: Axes | None = None) -> Axes:
    """Heatmap of check status (ok / warn / fail) for each service × check, worst first."""
    title = "Data-quality overview"
    if checks is None or checks.empty:
        return _no_data(_new_axes(ax, (8, 3)), title, "no checks")
    # One heatmap row per (scope, service): a service named ALL is not the run row.
    row, keys = pd.factorize(pd.MultiIndex.from_arrays([run_rows(checks), checks["service"].astype(str)]))
    frame = pd.DataFrame({
        "row": row,
        "check": checks["check"].astype(str).to_numpy(),
        "code": checks["status"].astype(str).str.lower().map(STATUS_CODES).to_numpy(),
    })
    grid = frame.pivot_table(index="row", columns="check", values="code", aggfunc="max",
                             dropna=False, sort=True)
    grid = grid.reindex(columns=sorted(grid.columns))
    worst = grid.max(axis=1).fillna(-1)
    fails = (grid == 2).sum(axis=1)
    overall = keys.get_level_values(0)[grid.index].to_numpy(dtype=bool)
    services = keys.get_level_values(1)[grid.index]
    rank = pd.DataFrame({"overall": overall, "worst": -worst.to_numpy(), "fails": -fails.to_numpy(),
                         "name": services, "label": np.where(overall, RUN_LABEL, services)}, index=grid.index)
    rank = rank.sort_values(["overall", "worst", "fails", "name"],
                            ascending=[False, True, True, True], kind="stable")
    hidden = len(rank) - MAX_HEATMAP_ROWS
    grid = grid.loc[rank.index[:MAX_HEATMAP_ROWS]]
    ax = _new_axes(ax, (max(6.0, 0.9 * grid.shape[1] + 3.5), max(2.5, 0.36 * len(grid) + 1.8)))
    names = {0: "ok", 1: "warn", 2: "fail"}
    annot = grid.apply(lambda col: col.map(names)).fillna("").to_numpy()
    grid.index = _labels(rank.loc[grid.index, "label"])
    grid.columns = _labels(grid.columns)
    cmap = mcolors.ListedColormap(STATUS_COLORS)
    sns.heatmap(grid, cmap=cmap, vmin=-0.5, vmax=2.5, annot=annot, fmt="", linewidths=0.5,
                linecolor="white", cbar=False, mask=grid.isna(), annot_kws={"fontsize": 8},
                ax=ax)
    ax.set_xlabel("check")
    ax.set_ylabel("service")
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)  # seaborn stands a few short service names on end
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    ax.legend(handles=[Patch(color=c, label=n) for c, n in zip(STATUS_COLORS, names.values())],
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title="status",
              title_fontsize=8)
    if hidden > 0:
        title += f" (worst {MAX_HEATMAP_ROWS} services; {hidden} more not shown)"
    ax.set_title(title)
    return ax


# ---------------------------------------------------------------- files


def write_plots(plots_dir: str | os.PathLike, *, cleaned: pd.DataFrame, gaps: pd.DataFrame,
                metrics: pd.DataFrame, sessions: pd.DataFrame,
                checks: pd.DataFrame) -> dict[str, Path]:
    """Draw the five diagnostics into `plots_dir` under fixed names; return name -> path.

    Each PNG is written to a temporary name and renamed into place, so a crash never leaves
    a truncated image.
    """
    plots_dir = Path(plots_dir)
    plots_dir.mkdir(parents=True, exist_ok=True)
    drawers = {
        "event_volume": lambda: event_volume(cleaned, gaps),
        "errors_by_service": lambda: errors_by_service(metrics),
        "latency_distribution": lambda: latency_distribution(cleaned, metrics),
        "session_durations": lambda: session_durations(sessions),
        "data_quality": lambda: data_quality(checks),
    }
    written = {}
    for name, draw in drawers.items():
        figure = draw().figure
        path = plots_dir / PLOT_FILES[name]
        partial = path.with_name(f".{path.name}.partial")
        figure.savefig(partial, format="png", dpi=100, bbox_inches="tight",
                       metadata={"Software": None})
        os.replace(partial, path)
        written[name] = path
    return written
