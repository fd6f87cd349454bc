"""The notebooks and the shareable report: run them with papermill, render `report.html`.

Three concerns, one module:

* **execution** — `execute_notebooks(run_dir, parameters)` runs `notebooks/01…05` in order with
  papermill (kernel `python3`), keeping each executed copy in `run_dir/notebooks/`. A failing
  cell raises `ReportError(notebook, cell_index, ename, evalue)` naming the notebook and the
  cell; the executed notebook is still saved, showing where it failed.
* **rendering** — `render_report(executed, out_html)` turns the executed report notebook into
  one self-contained HTML file: code hidden, images embedded as base64, no script, style or
  font from the network (a custom template without nbconvert's CDN require.js / MathJax /
  mermaid / widget loaders, plus a Content-Security-Policy), checked by `offline_problems`
  before it is written.
* **display helpers** — what the notebook cells call: one package call, one display. Every
  string that may come from the logs goes through `escape_html` / `escape_markdown` before it
  reaches HTML or markdown, so a service named `<img src=x onerror=alert(1)>` shows as text.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown

from .errors import ConfigError, LogreconError
from .schema import RUN_LABEL, run_rows

NOTEBOOKS = (
    "01_ingest.ipynb",
    "02_normalize.ipynb",
    "03_validate.ipynb",
    "04_sessions.ipynb",
    "05_reliability_report.ipynb",
)
REPORT_NOTEBOOK = NOTEBOOKS[-1]
KERNEL_NAME = "python3"
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]   # no kernel start/stop chatter on the CLI
TEMPLATE_DIR = Path(__file__).parent / "templates"
# Package data in a wheel; in a checkout (and an editable install) a symlink to the top-level
# notebooks/, their one source.
PACKAGED_NOTEBOOKS = Path(__file__).parent / "notebooks"
TEMPLATE_NAME = "logrecon_report"
REPORT_TITLE = "logrecon reliability report"
FIGURES = ("event_volume", "errors_by_service", "latency_distribution", "session_durations",
           "data_quality")        # plots.PLOT_FILES, in report order (plots is imported lazily:
                                   # seaborn costs a second per notebook kernel)
TOP_ROWS = 15                      # rows a table shows before "… N more in <file>"
CELL_CHARS = 240                   # a log string in a table cell is cut to this many characters
TIME_COLUMNS = ("timestamp", "start_time", "stop_time", "gap_start", "gap_end")
VERDICT_ORDER = {"unreliable": 0, "degraded": 1, "healthy": 2}
STATUS_ORDER = {"fail": 0, "warn": 1, "ok": 2}


# ---------------------------------------------------------------- errors


class ReportError(LogreconError):
    """A notebook failed (or the report could not be rendered safely).

    `notebook` names it, `cell_index` is the cell's position in the executed notebook (None
    when the failure is not a cell's), `ename`/`evalue` the exception; `executed` is the saved
    notebook that shows the failure, `exec_count` the cell's `In [n]`.
    """

    def __init__(self, notebook: str, cell_index: int | None, ename: str, evalue: str, *,
                 exec_count: int | None = None, source: str | None = None,
                 executed: str | os.PathLike | None = None):
        self.notebook, self.cell_index, self.ename, self.evalue = notebook, cell_index, ename, evalue
        self.exec_count, self.source = exec_count, source
        self.executed = Path(executed) if executed is not None else None
        where = notebook
        if cell_index is not None:
            where += f", cell {cell_index}"
            if exec_count is not None:
                where += f" (In [{exec_count}])"
        message = f"{where}: {ename}: {evalue}".rstrip(": ")
        code = (source or "").strip().splitlines()
        if code:
            message += f" — in `{code[0][:80]}`"
        if self.executed is not None:
            message += f"; the executed notebook showing the error is {self.executed}"
        super().__init__(message)


# ---------------------------------------------------------------- escaping

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:/=$@^])")


def _one_line(value: object, limit: int | None) -> str:
    """The text on one line, cut to `limit` characters (ending in …) when given."""
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def escape_html(value: object, limit: int | None = None) -> str:
    """Text for HTML: one line, optionally shortened, `<>&"'` as entities."""
    return html.escape(_one_line(value, limit), quote=True)


def escape_markdown(value: object, limit: int | None = None) -> str:
    """Text for markdown: markdown punctuation backslash-escaped (no links, emphasis, math,
    autolinks) and HTML-escaped, so a log string renders as exactly its characters."""
    return html.escape(_MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(value, limit)), quote=True)


def _code(value: object, limit: int | None = None) -> str:
    """A log string as a markdown code span, which shows its text literally (no escaping to
    show through). The fence is one backtick longer than any backtick run inside, so the text
    cannot close it. Not inline `<code>` HTML: nbconvert's image embedding re-parses each inline
    tag on its own and leaves `<code></code>` empty, with the text after it. Empty text is '–'."""
    text = _one_line(value, limit)
    if not text:
        return "–"
    fence = "`" * (max(map(len, re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _n(value: object) -> str:
    """A count with thousands separators ('–' when unknown)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    if not np.isfinite(number):
        return "–"
    return f"{int(number):,}" if number == int(number) else f"{number:,.2f}"


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "0%"


def _plural(count: int, word: str, many: str | None = None) -> str:
    return f"{_n(count)} {word if count == 1 else (many or word + 's')}"


# ---------------------------------------------------------------- tables and figures


def _cell(column: str, value: object) -> str:
    """One escaped <td>; numbers right-aligned; verdict/status get a fixed class (never the
    value itself as a class unless it is one of the known words)."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA \
            or value is pd.NaT:
        return "<td></td>"
    classes = []
    if isinstance(value, (bool, np.bool_)):
        text = "yes" if value else "no"
    elif isinstance(value, (int, np.integer)):
        text, classes = f"{int(value):,}", ["num"]
    elif isinstance(value, (float, np.floating)):
        text, classes = (f"{value:,.2f}" if abs(value) < 1e15 else f"{value:.3g}"), ["num"]
    elif isinstance(value, pd.Timestamp):
        text, classes = escape_html(value.isoformat().replace("+00:00", "Z")), ["time"]
    else:
        text = escape_html(value, CELL_CHARS)
        if column in TIME_COLUMNS:
            classes = ["time"]
    word = str(value).lower()
    if column in ("verdict",) and word in VERDICT_ORDER:
        classes.append(f"logrecon-verdict-{word}")
    if column in ("status",) and word in STATUS_ORDER:
        classes.append(f"logrecon-status-{word}")
    attr = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{attr}>{text}</td>"


def html_table(frame: pd.DataFrame, *, caption: str | None = None, table_id: str | None = None,
               limit: int | None = TOP_ROWS, more: str | None = None) -> HTML:
    """An escaped HTML table of at most `limit` rows, saying how many more there are (and
    where to find them, `more`). Every header and cell is escaped."""
    total = len(frame)
    shown = frame if limit is None else frame.head(limit)
    head = "".join(f"<th>{escape_html(c)}</th>" for c in shown.columns)
    rows = "".join(
        "<tr>" + "".join(_cell(str(c), v) for c, v in zip(shown.columns, row)) + "</tr>"
        for row in shown.itertuples(index=False, name=None)
    )
    ident = f' id="{escape_html(table_id)}"' if table_id else ""
    cap = f"<caption>{escape_html(caption)}</caption>" if caption else ""
    note = ""
    if total > len(shown):
        note = f"<p><em>showing {len(shown):,} of {total:,} rows"
        note += f"; all of them are in {escape_html(more)}" if more else ""
        note += "</em></p>"
    elif total == 0:
        note = "<p><em>none</em></p>"
    return HTML(f'<table class="logrecon-table"{ident}>{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{rows}</tbody></table>{note}")


FIGURE_CAPTIONS = {
    "event_volume": "Event volume over time per service; shaded spans are gaps (no events for "
                    "longer than the gap threshold). Look for gaps that line up across services "
                    "(an outage or a collection problem) and for sudden drops.",
    "errors_by_service": "ERROR events per service with the error rate. Look for a service "
                         "whose rate stands out from the rest.",
    "latency_distribution": "Latency distribution over all services (log scale) with p50, p95 "
                            "and p99 marked. A second hump or a long right tail means a slow "
                            "path or spikes worth a look.",
    "session_durations": "Session durations by status (log scale): complete sessions, and "
                         "missing_start ones whose start was inferred from the STOP's latency "
                         "(where the profile says latency is the duration); sessions without a "
                         "duration are counted under the plot.",
    "data_quality": "Data-quality checks per service: green ok, amber warn, red fail. A red "
                    "row is a service whose numbers should not be trusted without a look at "
                    "the check's detail in validation_report.csv.",
}


def figure(run: RunArtifacts | str | os.PathLike, name: str) -> HTML:
    """One diagnostic PNG of the run, embedded (base64) with a caption saying what to look for."""
    from .plots import PLOT_FILES

    if name not in PLOT_FILES:
        raise ValueError(f"unknown figure {name!r}; known: {', '.join(PLOT_FILES)}")
    run_dir = run.run_dir if isinstance(run, RunArtifacts) else Path(run)
    path = run_dir / "plots" / PLOT_FILES[name]
    caption = FIGURE_CAPTIONS[name]
    if not path.is_file():
        return HTML(f'<figure class="logrecon-figure" id="figure-{name}"><figcaption>'
                    f"<strong>missing:</strong> {escape_html(PLOT_FILES[name])} was not "
                    f"written</figcaption></figure>")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    title = name.replace("_", " ")
    return HTML(f'<figure class="logrecon-figure" id="figure-{name}">'
                f'<img alt="{escape_html(title)}" src="data:image/png;base64,{data}"/>'
                f"<figcaption>{escape_html(caption)}</figcaption></figure>")


# ---------------------------------------------------------------- run artifacts


@dataclass(frozen=True)
class RunArtifacts:
    """The artifacts of a run read back from its directory (its public interface)."""

    run_dir: Path
    metrics: pd.DataFrame
    checks: pd.DataFrame
    gaps: pd.DataFrame
    sessions: pd.DataFrame
    manifest: dict = field(default_factory=dict)


COUNT_COLUMNS = frozenset({
    "events", "start", "stop", "error", "sessions_complete", "sessions_missing_stop",
    "sessions_missing_start", "sessions_timed_out", "sessions_clock_skew", "duplicates",
    "quarantined", "late_events", "gaps", "record", "start_record", "stop_record",
})
MEASURE_COLUMNS = frozenset({
    "error_rate", "latency_mean_ms", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
    "latency_max_ms", "consistency_score", "gap_seconds", "duration_ms",
})
"""Artifact columns read as numbers (counts as nullable integers); every other column is read
as text exactly as written, so a service named `NA`, `null` or `123` stays that string and
times keep their `Z`."""


def _read_csv(path: Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """An artifact CSV (only `columns`, when given): empty cells null, text kept as text."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=list(columns or []))
    with open(path, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    wanted = [c for c in header if columns is None or c in set(columns)]
    numeric = COUNT_COLUMNS | MEASURE_COLUMNS
    types = {c: pa.float64() if c in numeric else pa.large_string() for c in header}
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types=types, include_columns=wanted, null_values=[""], strings_can_be_null=True,
        quoted_strings_can_be_null=False))
    frame = table.to_pandas()
    for column in frame.columns:
        if column in COUNT_COLUMNS:
            frame[column] = frame[column].astype("Int64")
        elif column not in MEASURE_COLUMNS:
            frame[column] = frame[column].astype("str")
    return frame


def load_run(run_dir: str | os.PathLike) -> RunArtifacts:
    """Read a run's metrics, checks, gaps, sessions (service/status/duration) and manifest."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    return RunArtifacts(
        run_dir=run_dir,
        metrics=_read_csv(run_dir / "reliability_metrics.csv"),
        checks=_read_csv(run_dir / "validation_report.csv"),
        gaps=_read_csv(run_dir / "gaps.csv"),
        sessions=_read_csv(run_dir / "reconstructed_sessions.csv",
                           ("service", "status", "duration_ms")),
        manifest=manifest,
    )


def _as_frame(value: Any, attribute: str | None = None) -> pd.DataFrame:
    """A DataFrame from a frame, a StageResult (its `.frame`) or a RunArtifacts attribute."""
    if isinstance(value, pd.DataFrame):
        return value
    if attribute and hasattr(value, attribute):
        return getattr(value, attribute)
    return value.frame


def _record_refs(sources: Iterable[object], records: Iterable[object]) -> list[str]:
    """`file:record` per row (file name only), empty where there is no record."""
    refs = []
    for source, record in zip(sources, records):
        if record is None or record is pd.NA or (isinstance(record, float) and np.isnan(record)):
            refs.append("")
        else:
            refs.append(f"{Path(str(source)).name}:{int(record)}")
    return refs


def _stats(result: Any) -> Mapping:
    return getattr(result, "stats", None) or {}


# ---------------------------------------------------------------- 01 ingest


def ingest_summary(ingested: Any) -> Markdown:
    """What ingest did to THIS data: records read, events kept, quarantined and why."""
    stats = _stats(ingested)
    quarantine = ingested.tables.get("quarantine", pd.DataFrame())
    events = int(stats.get("events", len(ingested.frame)))
    quarantined = int(stats.get("quarantined", len(quarantine)))
    records = int(stats.get("records", events + quarantined))
    invalid_latency = int(stats.get("invalid_latency", 0))
    services = ingested.frame["service"].nunique() if "service" in ingested.frame else 0
    lines = [
        (f"**Ingest** read **{_n(records)}** records and kept **{_n(events)}** events "
         f"from {_plural(services, 'service')}; **{_n(quarantined)}** "
         f"({_pct(quarantined, records)}) could not be events and went to `quarantine.csv`."),
    ]
    reasons = _reason_counts(quarantine)
    if len(reasons):
        top = ", ".join(f"{_code(r)} {_n(c)}" for r, c in reasons.head(5).items())
        lines.append(f"- Quarantine reasons (a record can have several): {top}.")
    if invalid_latency:
        lines.append(f"- {_n(invalid_latency)} events had an unusable latency: kept, latency "
                     "nulled, listed in `issues.csv` (`invalid_latency`).")
    if records == 0:
        lines.append("- The input holds no records: the run completes with zero events.")
    lines.append(
        "\n**Look at:** the reasons below. A reason that dominates usually means the input "
        "profile does not match the source (e.g. a `timestamp_format` is needed), not that "
        "the logs are bad." if quarantined else
        "\n**Look at:** nothing was quarantined — every record became an event.")
    return Markdown("\n".join(lines))


def _reason_counts(quarantine: pd.DataFrame) -> pd.Series:
    if quarantine is None or quarantine.empty or "reasons" not in quarantine:
        return pd.Series(dtype="int64")
    codes = quarantine["reasons"].astype("str").str.split(";").explode().str.strip()
    codes = codes[codes.notna() & (codes != "")]
    counts = codes.value_counts()
    return counts.sort_index().sort_values(ascending=False, kind="stable")


def quarantine_reasons(ingested: Any) -> HTML:
    """Quarantined records per reason code, with one example record each."""
    quarantine = ingested if isinstance(ingested, pd.DataFrame) else ingested.tables.get(
        "quarantine", pd.DataFrame())
    counts = _reason_counts(quarantine)
    if counts.empty:
        return html_table(pd.DataFrame(columns=["reason", "records", "example"]),
                          caption="Quarantine reasons")
    exploded = quarantine.assign(reason=quarantine["reasons"].astype("str").str.split(";")
                                 ).explode("reason")
    exploded["reason"] = exploded["reason"].str.strip()
    first = exploded.drop_duplicates("reason").set_index("reason")
    table = pd.DataFrame({
        "reason": counts.index,
        "records": counts.to_numpy(),
        "share": [_pct(c, len(quarantine)) for c in counts],
        "example": [f"{Path(str(first.at[r, 'source'])).name}:{first.at[r, 'record']}"
                    for r in counts.index],
    })
    return html_table(table, caption="Quarantine reasons", limit=None)


def quarantine_sample(ingested: Any, n: int = 10) -> HTML:
    """The first quarantined records with their raw values, to see what went wrong."""
    quarantine = ingested if isinstance(ingested, pd.DataFrame) else ingested.tables.get(
        "quarantine", pd.DataFrame())
    return html_table(quarantine, caption="Quarantined records (first rows)", limit=n,
                      more="quarantine.csv")


# ---------------------------------------------------------------- 02 normalize


def normalize_summary(normalized: Any) -> Markdown:
    """Duplicates removed, late events and how much reordering THIS data needed."""
    stats = _stats(normalized)
    frame = normalized.frame
    duplicates = int(stats.get("duplicates", len(normalized.tables.get("duplicates", []))))
    events = int(stats.get("events", len(frame)))
    events_in = int(stats.get("events_in", events + duplicates))
    late = int(stats.get("late_events", int(frame["late"].sum()) if "late" in frame else 0))
    max_late = float(stats.get("max_lateness_ms", 0.0) or 0.0)
    if "arrival" in frame:   # measured on the frame: how many events left their arrival slot
        arrival = frame["arrival"].to_numpy()
        displaced = int((arrival != np.sort(arrival)).sum())
    else:
        displaced = int(stats.get("displaced_events", 0))
    spikes = int(stats.get("latency_spikes", 0))
    lines = [
        (f"**Normalize** removed **{_n(duplicates)}** duplicate copies "
         f"({_pct(duplicates, events_in)} of {_n(events_in)} events; the first arrival of each "
         f"is kept and `duplicates.csv` names the record each copy repeats), leaving "
         f"**{_n(events)}** events in analysis order (timestamp, then arrival)."),
        (f"- Reordering: {_plural(displaced, 'event')} ({_pct(displaced, events)}) moved from "
         f"their arrival position; {_plural(late, 'event')} arrived late, the latest "
         f"{max_late / 1000:,.1f} s behind its service."),
    ]
    if spikes:
        lines.append(f"- {_plural(spikes, 'latency spike')} flagged (`latency_spike`), kept as "
                     "they are.")
    lines.append(
        "\n**Look at:** the latest arrivals below — lateness concentrated in one source or "
        "service points at a clock or shipping delay there." if late else
        "\n**Look at:** events arrived in order; nothing needed to be moved back.")
    return Markdown("\n".join(lines))


def duplicates_table(normalized: Any, n: int = 10) -> HTML:
    """The first removed copies and the record each duplicates."""
    duplicates = normalized if isinstance(normalized, pd.DataFrame) else normalized.tables.get(
        "duplicates", pd.DataFrame())
    return html_table(duplicates, caption="Duplicates removed (first rows)", limit=n,
                      more="duplicates.csv")


def late_events_table(normalized: Any, n: int = 10) -> HTML:
    """The latest-arriving events (largest lateness first)."""
    frame = _as_frame(normalized)
    columns = [c for c in ("timestamp", "service", "event_type", "source", "record",
                           "lateness_ms") if c in frame]
    if "lateness_ms" not in frame:
        return html_table(pd.DataFrame(columns=columns), caption="Latest events")
    late = frame.loc[frame["lateness_ms"] > 0, columns]
    late = late.sort_values(["lateness_ms", "record"], ascending=[False, True], kind="stable")
    return html_table(late, caption="Latest events (largest lateness first)", limit=n,
                      more="cleaned_logs.csv (column lateness_ms)")


# ---------------------------------------------------------------- 03 validate


def _ordered_checks(checks: pd.DataFrame) -> pd.DataFrame:
    if checks.empty:
        return checks
    rank = checks["status"].astype("str").str.lower().map(STATUS_ORDER).fillna(3)
    return (checks.assign(_rank=rank.to_numpy())
            .sort_values(["_rank", "service", "check"], kind="stable").drop(columns="_rank"))


def validate_summary(validated: Any) -> Markdown:
    """How many checks passed, warned, failed, and the gaps found in THIS data."""
    checks = _as_frame(validated, "checks")
    gaps = validated.gaps if isinstance(validated, RunArtifacts) else validated.tables.get(
        "gaps", pd.DataFrame())
    status = checks["status"].astype("str").str.lower() if len(checks) else pd.Series(dtype=str)
    counts = status.value_counts()
    services = checks.loc[~run_rows(checks), "service"].nunique() if len(checks) else 0
    lines = [
        (f"**Validate** ran {_plural(len(checks), 'check')} over "
         f"{_plural(services, 'service')} and the whole run: "
         f"**{_n(counts.get('ok', 0))}** ok, **{_n(counts.get('warn', 0))}** warn, "
         f"**{_n(counts.get('fail', 0))}** fail."),
    ]
    if len(gaps):
        longest = gaps.sort_values("gap_seconds", ascending=False, kind="stable").iloc[0]
        lines.append(
            f"- {_plural(len(gaps), 'gap')} in {_plural(gaps['service'].nunique(), 'service')}; "
            f"the longest: **{escape_markdown(longest['service'], 60)}**, "
            f"{float(longest['gap_seconds']):,.0f} s from {escape_markdown(longest['gap_start'])}.")
    else:
        lines.append("- No gaps: every service logged within its gap threshold.")
    failing = _as_people_read_it(_ordered_checks(checks))
    failing = failing[failing["status"].astype("str").str.lower() == "fail"] if len(failing) else failing
    if len(failing):
        named = ", ".join(f"{escape_markdown(s, 40)} / {_code(c)}"
                          for s, c in zip(failing["service"].head(5), failing["check"].head(5)))
        lines.append(f"- Failing: {named}" + (" …" if len(failing) > 5 else "") + ".")
    lines.append("\n**Look at:** failing and warning checks first (the table lists them first) "
                 "and their `detail`; gaps that several services share at the same time.")
    return Markdown("\n".join(lines))


def _short_number(value: object) -> object:
    """A check's value or threshold as 4 significant digits when it is a number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return f"{number:,.4g}" if np.isfinite(number) else value


def checks_table(validated: Any, n: int = TOP_ROWS) -> HTML:
    """Checks, failing first then warning, then ok."""
    checks = _as_people_read_it(_ordered_checks(_as_frame(validated, "checks")))
    if len(checks):
        checks = checks.assign(**{c: checks[c].map(_short_number) for c in ("value", "threshold")
                                  if c in checks})
    return html_table(checks, caption="Data-quality checks (fail, warn first)", limit=n,
                      more="validation_report.csv", table_id="data-quality")


def gaps_table(validated: Any, n: int = 10) -> HTML:
    """The longest gaps."""
    if isinstance(validated, pd.DataFrame):
        gaps = validated
    elif isinstance(validated, RunArtifacts):
        gaps = validated.gaps
    else:
        gaps = validated.tables.get("gaps", pd.DataFrame())
    if len(gaps):
        gaps = gaps.sort_values(["gap_seconds", "service"], ascending=[False, True], kind="stable")
        shown = {c: gaps[c] for c in ("service", "gap_start", "gap_end", "gap_seconds",
                                      "threshold_seconds") if c in gaps}
        for end in ("from", "to"):
            if f"{end}_source" in gaps and f"{end}_record" in gaps:
                shown[f"{end} record"] = [
                    f"{Path(str(s)).name}:{r}" for s, r in zip(gaps[f"{end}_source"],
                                                                gaps[f"{end}_record"])]
        gaps = pd.DataFrame(shown)
    return html_table(gaps, caption="Longest gaps", limit=n, more="gaps.csv", table_id="gaps")


# ---------------------------------------------------------------- 04 sessions


def sessions_summary(sessions: Any) -> Markdown:
    """Sessions by status, pairing strategy and durations in THIS data."""
    frame = _as_frame(sessions, "sessions")
    stats = _stats(sessions)
    total = len(frame)
    status = frame["status"].astype("str") if total else pd.Series(dtype=str)
    counts = status.value_counts()
    complete = int(counts.get("complete", 0))
    parts = ", ".join(f"{_n(counts.get(s, 0))} {s}" for s in
                      ("missing_stop", "missing_start", "timed_out", "clock_skew"))
    lines = [(f"**Sessions**: {_plural(total, 'session')} reconstructed; **{_n(complete)}** "
              f"complete ({_pct(complete, total)}); {parts}.")]
    if total:
        duration = pd.to_numeric(frame.loc[status == "complete", "duration_ms"], errors="coerce")
        duration = duration.dropna()
        if len(duration):
            p50, p95 = np.percentile(duration.to_numpy(dtype=float), [50, 95])
            lines.append(f"- Complete sessions last {p50:,.1f} ms at the median, "
                         f"{p95:,.1f} ms at p95.")
    strategy = stats.get("unkeyed_strategy")
    if isinstance(strategy, Mapping) and strategy:
        chosen = "; ".join(f"{escape_markdown(k, 40)}: {_strategy_text(v)}"
                           for k, v in list(strategy.items())[:8])
        lines.append(f"- Services without session ids were paired by: {chosen}.")
    elif strategy:
        lines.append(f"- Services without session ids were paired by {_code(strategy)}.")
    lines.append("\n**Look at:** services with many `missing_stop` (crashes, lost STOP lines) "
                 "or `clock_skew` (a STOP stamped before its START: a clock problem). Orphans "
                 "are kept as rows, never dropped.")
    return Markdown("\n".join(lines))


def _strategy_text(choice: Any) -> str:
    """`fifo` or `fifo (why)` from a strategy or a (strategy, reason) pair, escaped."""
    if isinstance(choice, (list, tuple)) and choice:
        name = _code(choice[0])
        return f"{name} ({escape_markdown(choice[1], 160)})" if len(choice) > 1 else name
    return _code(choice, 80)


def sessions_by_status(sessions: Any, n: int = TOP_ROWS) -> HTML:
    """Sessions per service and status (services with the most incomplete sessions first)."""
    frame = _as_frame(sessions, "sessions")
    columns = ["service", "complete", "missing_stop", "missing_start", "timed_out",
               "clock_skew", "total", "complete_share"]
    if frame.empty:
        return html_table(pd.DataFrame(columns=columns), caption="Sessions by status",
                          table_id="sessions")
    table = pd.crosstab(frame["service"].astype("str"), frame["status"].astype("str"))
    for status in columns[1:6]:
        if status not in table:
            table[status] = 0
    table["total"] = table.sum(axis=1)
    table["complete_share"] = (table["complete"] / table["total"]).round(3)
    table = table.reset_index().rename(columns={"index": "service"})
    table = table.sort_values(["complete_share", "total", "service"],
                              ascending=[True, False, True], kind="stable")
    extra = [c for c in table.columns if c not in columns]
    return html_table(table[columns + extra], caption="Sessions by status per service "
                      "(least complete first)", limit=n, more="reconstructed_sessions.csv",
                      table_id="sessions")


INCOMPLETE_ORDER = {"clock_skew": 0, "timed_out": 1, "missing_stop": 2, "missing_start": 3}


def unpaired_sessions(sessions: Any, n: int = 10) -> HTML:
    """The sessions that are not complete, clock skew and time-outs first, each with the
    records it was built from as `file:record`."""
    frame = _as_frame(sessions, "sessions")
    if len(frame):
        frame = frame[frame["status"].astype("str") != "complete"]
        rank = frame["status"].astype("str").map(INCOMPLETE_ORDER).fillna(9)
        frame = frame.assign(_rank=rank.to_numpy()).sort_values("_rank", kind="stable")
    shown = {c: frame[c] for c in ("service", "session_id", "status", "start_time", "stop_time",
                                   "duration_ms") if c in frame}
    for end in ("start", "stop"):
        if f"{end}_source" in frame and f"{end}_record" in frame:
            shown[f"{end} record"] = _record_refs(frame[f"{end}_source"], frame[f"{end}_record"])
    if "start_inferred" in frame:
        shown["start inferred"] = frame["start_inferred"]
    table = pd.DataFrame(shown) if shown else pd.DataFrame(columns=["service", "status"])
    return html_table(table, caption="Sessions that are not complete (clock skew and "
                      "time-outs first)", limit=n, more="reconstructed_sessions.csv")


# ---------------------------------------------------------------- 05 report


def _service_rows(metrics: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-service rows, the run row): told apart by scope, so a service named ALL is a service."""
    is_run = run_rows(metrics)
    return metrics[~is_run], metrics[is_run]


def _as_people_read_it(frame: pd.DataFrame) -> pd.DataFrame:
    """Checks or metrics rows for a table: the run rows' service shown as RUN_LABEL, `scope` dropped."""
    if "service" not in frame:
        return frame
    service = frame["service"].astype("str").where(~run_rows(frame), RUN_LABEL)
    return frame.assign(service=service).drop(columns="scope", errors="ignore")


def verdict_summary(run: RunArtifacts | Any) -> Markdown:
    """The report's opening: how many services are healthy / degraded / unreliable, and why."""
    metrics = _as_frame(run, "metrics")
    services, overall = _service_rows(metrics)
    if services.empty:
        return Markdown("**Verdict:** no events, so no service to judge. The run completed; "
                        "check the row accounting below for what was read.")
    verdicts = services["verdict"].astype("str").str.lower()
    counts = verdicts.value_counts()
    lines = [(f"**Verdict:** of {_plural(len(services), 'service')}, "
              f"**{_n(counts.get('healthy', 0))}** healthy, "
              f"**{_n(counts.get('degraded', 0))}** degraded, "
              f"**{_n(counts.get('unreliable', 0))}** unreliable.")]
    worst = services.assign(_rank=verdicts.map(VERDICT_ORDER).fillna(3).to_numpy())
    worst = worst[worst["_rank"] < 2].sort_values(["_rank", "service"], kind="stable")
    for _, row in worst.head(8).iterrows():
        why = row.get("verdict_reason")
        reason = f" — {escape_markdown(why, 200)}" if isinstance(why, str) and why else ""
        lines.append(f"- **{escape_markdown(row['service'], 60)}**: "
                     f"{escape_markdown(row['verdict'])}{reason}")
    if len(worst) > 8:
        lines.append(f"- … and {_plural(len(worst) - 8, 'more service')} (see the table).")
    if len(overall):
        row = overall.iloc[0]
        lines.append(f"\nOverall: {_n(row.get('events'))} events, error rate "
                     f"{float(row.get('error_rate') or 0):.2%}, p95 latency "
                     f"{_n(row.get('latency_p95_ms'))} ms, consistency score "
                     f"{_n(row.get('consistency_score'))}.")
    return Markdown("\n".join(lines))


def verdict_table(run: RunArtifacts | Any, n: int = 30) -> HTML:
    """One row per service (worst verdict first, the overall row last): verdict, why, and
    the numbers behind it."""
    metrics = _as_frame(run, "metrics")
    services, overall = _service_rows(metrics)
    rank = services["verdict"].astype("str").str.lower().map(VERDICT_ORDER).fillna(3) \
        if len(services) else pd.Series(dtype=float)
    services = (services.assign(_rank=rank.to_numpy())
                .sort_values(["_rank", "service"], kind="stable").drop(columns="_rank"))
    shown = _as_people_read_it(pd.concat([services.head(n), overall], ignore_index=True))
    columns = {
        "service": "service", "verdict": "verdict", "verdict_reason": "why",
        "events": "events", "error_rate": "error rate", "latency_p95_ms": "p95 ms",
        "sessions_complete": "complete sessions", "sessions_missing_stop": "missing stop",
        "sessions_missing_start": "missing start", "gaps": "gaps",
        "consistency_score": "consistency",
    }
    present = {k: v for k, v in columns.items() if k in shown}
    table = shown[list(present)].rename(columns=present)
    if "error rate" in table:
        table["error rate"] = [f"{float(v):.2%}" if pd.notna(v) else ""
                               for v in pd.to_numeric(table["error rate"], errors="coerce")]
    note = f" (worst {n} of {len(services)} services)" if len(services) > n else ""
    return html_table(table, caption="Verdict per service" + note, limit=None,
                      table_id="verdicts")


def row_accounting_table(run: RunArtifacts | Mapping) -> HTML:
    """records read = events + duplicates removed + quarantined, per input and in total."""
    manifest = run.manifest if isinstance(run, RunArtifacts) else run
    accounting = manifest.get("row_accounting") or {}
    keys = ["records_read", "events", "duplicates", "quarantined"]
    if "skipped" in accounting or any("skipped" in i for i in manifest.get("inputs", [])
                                      if isinstance(i, Mapping)):
        keys.append("skipped")
    rows = []
    per_input = accounting.get("per_input") or accounting.get("inputs") or []
    if isinstance(per_input, Mapping):
        per_input = [{"path": k, **v} for k, v in per_input.items()]
    if not per_input:
        per_input = [{"path": i.get("path"), **(i.get("row_accounting") or i)}
                     for i in manifest.get("inputs", []) if isinstance(i, Mapping)]
    for item in per_input:
        rows.append({"input": Path(str(item.get("path") or item.get("input") or "?")).name,
                     **{k: item.get(k, item.get("records") if k == "records_read" else None)
                        for k in keys}})
    total = accounting.get("total") if isinstance(accounting.get("total"), Mapping) else accounting
    rows.append({"input": "total", **{k: total.get(k) for k in keys}})
    table = pd.DataFrame(rows, columns=["input", *keys])
    numbers = table[list(keys)].apply(pd.to_numeric, errors="coerce")
    parts = [k for k in keys if k != "records_read"]
    balance = numbers["records_read"] - numbers[parts].sum(axis=1, min_count=3)
    table["balanced"] = [("yes" if b == 0 else f"NO ({b:+,.0f})") if pd.notna(b) else "–"
                         for b in balance]
    for key in keys:
        table[key] = numbers[key].astype("Int64")
    caption = "Row accounting: records read = events + duplicates removed + quarantined"
    caption += " + skipped" if "skipped" in keys else ""
    return html_table(table, caption=caption, limit=None, table_id="row-accounting")


def evaluation(run_dir: str | os.PathLike, truth: str | os.PathLike | None) -> HTML:
    """With a `logrecon generate` truth directory: score the run (writes evaluation.csv) and
    show the overall scores; without one, nothing (an empty output)."""
    if truth is None:
        return HTML("")
    from .evaluate import summary, write_evaluation

    path = write_evaluation(run_dir, truth)
    frame = _read_csv(path)
    overall = frame[frame["kind"].astype("str") == "all"] if len(frame) else frame
    if "value" in overall:
        overall = overall.assign(value=overall["value"].map(_short_number))
    table = html_table(overall, caption="Scores against the ground truth (kind = all)",
                       limit=None, table_id="evaluation").data
    more = len(frame) - len(overall)
    note = f"<p><em>{more:,} more rows per fault kind in evaluation.csv</em></p>" if more else ""
    return HTML(f'<h2 id="evaluation-heading">Scored against the ground truth</h2>'
                f"<p>{escape_html(summary(frame))}</p>{table}{note}")


def run_summary(run: RunArtifacts | Mapping) -> Markdown:
    """Provenance: inputs with their sha256, the parameters that matter, versions, timings."""
    manifest = run.manifest if isinstance(run, RunArtifacts) else run
    lines = [f"Run status: **{escape_markdown(manifest.get('status', 'unknown'))}**."]
    for item in manifest.get("inputs", []):
        if not isinstance(item, Mapping):
            continue
        issues = ", ".join(escape_markdown(i) for i in item.get("file_issues", []) or [])
        lines.append(f"- input {_code(Path(str(item.get('path', '?'))).name, 80)}: "
                     f"{_n(item.get('records_read', item.get('records')))} records, sha256 "
                     f"{_code(str(item.get('sha256', ''))[:16])}…"
                     + (f" ({issues})" if issues else ""))
    parameters = manifest.get("parameters", {}) or {}
    config = parameters.get("config", {}) or {}
    gap = (config.get("validate") or {}).get("gap_threshold", parameters.get("gap_threshold"))
    shown = {"profile": parameters.get("profile"), "config file": parameters.get("config_file"),
             "gap threshold": gap}
    lines.append("- parameters: " + ", ".join(
        f"{k} {_code(v if v is not None else 'none', 80)}" for k, v in shown.items()))
    versions = manifest.get("versions", {}) or {}
    if versions:
        lines.append("- versions: " + ", ".join(f"{escape_markdown(k)} {escape_markdown(v)}"
                                                for k, v in versions.items()))
    timings = manifest.get("timings_s", {}) or {}
    if timings:
        lines.append("- seconds per stage: " + ", ".join(
            f"{escape_markdown(k)} {float(v):.2f}" for k, v in timings.items()))
    return Markdown("\n".join(lines))


# ---------------------------------------------------------------- executing


def notebooks_dir(override: str | os.PathLike | None = None,
                  names: Iterable[str] = NOTEBOOKS) -> Path:
    """Where the notebooks are: `override`, else the ones shipped in the package
    (`PACKAGED_NOTEBOOKS`); every one of `names` must be there."""
    folder = Path(override) if override is not None else PACKAGED_NOTEBOOKS
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise ReportError(str(folder), None, "NotebookNotFound",
                          f"missing {', '.join(missing)}; pass notebooks_dir= to say where "
                          "the logrecon notebooks are")
    return folder


def _literal(value: Any) -> Any:
    """Parameters as the literals papermill can write (paths become strings)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [_literal(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _literal(v) for k, v in value.items()}
    return value


def execute_notebooks(run_dir: str | os.PathLike, parameters: Mapping[str, Any],
                      progress: bool = True, *, notebooks: str | os.PathLike | None = None,
                      names: Iterable[str] = NOTEBOOKS, kernel_name: str = KERNEL_NAME,
                      cwd: str | os.PathLike | None = None) -> list[Path]:
    """Run the notebooks in order with papermill into `run_dir/notebooks/`; return their paths.

    `parameters` are the notebooks' papermill parameters (`inputs`, `profile`, `config`,
    `gap_threshold`, `strategy`, `truth`); each notebook gets the ones it declares, and one
    that no notebook declares is a `ConfigError` unless its value is None. `run_dir` is always
    passed as the absolute `run_dir`. Relative paths in
    them are taken from `cwd` (default: the current directory). The first failing cell stops
    the run with `ReportError`; its executed notebook is saved showing the error.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    names = list(names)
    source_dir = notebooks_dir(notebooks, names)
    declared = {name: set(pm.inspect_notebook(os.fspath(source_dir / name))) for name in names}
    unknown = sorted(k for k, v in parameters.items() if v is not None
                     and k not in set().union(*declared.values()) | {"run_dir"})
    if unknown:
        known = ", ".join(sorted(set().union(*declared.values())))
        raise ConfigError("notebook parameters", unknown[0], f"unknown parameter; known: {known}")
    run_dir = Path(run_dir).resolve()
    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {**_literal(dict(parameters)), "run_dir": str(run_dir)}
    cwd = os.fspath(cwd) if cwd is not None else os.getcwd()
    executed = []
    for number, name in enumerate(names, 1):
        output = out_dir / name
        bar: bool | dict = {"desc": f"[{number}/{len(names)}] {Path(name).stem}"} if progress else False
        try:
            pm.execute_notebook(os.fspath(source_dir / name), os.fspath(output),
                                parameters={k: v for k, v in params.items() if k in declared[name]},
                                kernel_name=kernel_name, progress_bar=bar,
                                cwd=cwd, log_output=False, extra_arguments=KERNEL_ARGUMENTS)
        except PapermillExecutionError as exc:
            raise ReportError(name, _failed_cell(output, exc.cell_index), exc.ename, exc.evalue,
                              exec_count=exc.exec_count, source=exc.source,
                              executed=output) from exc
        except Exception as exc:   # kernel died, timed out, missing kernel …
            raise ReportError(name, None, type(exc).__name__, str(exc).strip().splitlines()[0]
                              if str(exc).strip() else "",
                              executed=output if output.exists() else None) from exc
        executed.append(output)
    return executed


def _failed_cell(executed: Path, fallback: int) -> int:
    """Index of the failed cell in the saved notebook (papermill adds an error banner above
    it and at the top, so its own index is off by those)."""
    import nbformat

    try:
        nb = nbformat.read(os.fspath(executed), as_version=4)
    except Exception:  # noqa: BLE001 - the message still has papermill's index
        return fallback
    for index, cell in enumerate(nb.cells):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return index
    return fallback


# ---------------------------------------------------------------- rendering

_URL_ATTRIBUTES = ("src", "href", "srcset", "action", "formaction", "poster", "data",
                   "background", "xlink:href", "ping", "cite", "longdesc", "manifest")
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
_CSS_IMPORT = re.compile(r"@import", re.IGNORECASE)


def offline_problems(document: str) -> list[str]:
    """Why an HTML document is not self-contained and script-free; empty when it is.

    Flags: any URL attribute that is not a `data:` URI or an in-page `#anchor`, any
    `<link>`/`<base>`/`<iframe>`/`<object>`/`<embed>` or `<meta http-equiv=refresh>`, any
    `<script>`, any `on…=` event-handler attribute, and CSS `@import` or `url(…)` that is
    not a `data:` URI.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(document, "html.parser")
    problems = []
    for tag in soup.find_all(True):
        if tag.name in ("script", "link", "base", "iframe", "object", "embed", "frame",
                        "frameset", "applet"):
            problems.append(f"<{tag.name}> element")
        if tag.name == "meta" and str(tag.get("http-equiv", "")).lower() == "refresh":
            problems.append("<meta http-equiv=refresh>")
        for name, value in tag.attrs.items():
            text = " ".join(value) if isinstance(value, list) else str(value)
            if name.lower().startswith("on"):
                problems.append(f"<{tag.name} {name}=…> event handler")
            elif name.lower() in _URL_ATTRIBUTES:
                stripped = text.strip()
                if stripped and not stripped.startswith(("data:", "#")):
                    problems.append(f"<{tag.name} {name}={stripped[:80]!r}>")
            elif name.lower() == "style":
                problems.extend(_css_problems(text, f"<{tag.name} style>"))
    for style in soup.find_all("style"):
        problems.extend(_css_problems(style.get_text(), "<style>"))
    return problems


def _css_problems(css: str, where: str) -> list[str]:
    found = []
    if _CSS_IMPORT.search(css):
        found.append(f"{where} @import")
    for _, url in _CSS_URL.findall(css):
        if not url.strip().startswith(("data:", "#")):
            found.append(f"{where} url({url.strip()[:80]})")
    return found


def _report_notebook(executed: Path):
    """The executed notebook prepared for sharing: stderr streams (warnings, paths) dropped."""
    import nbformat

    nb = nbformat.read(os.fspath(executed), as_version=4)
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nb.metadata["title"] = REPORT_TITLE
    return nb


def render_report(executed_notebook: str | os.PathLike, out_html: str | os.PathLike) -> Path:
    """Render the executed report notebook to one self-contained HTML file (code hidden,
    images embedded, no network requests); written atomically. Raises `ReportError` if the
    result would still reference anything outside the file."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    executed_notebook, out_html = Path(executed_notebook), Path(out_html)
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {"parameters", "injected-parameters",
                                                     "remove-cell"}
    exporter = HTMLExporter(
        config=config,
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[os.fspath(TEMPLATE_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_anchor_links=True,
        embed_images=True,
    )
    try:
        body, _ = exporter.from_notebook_node(
            _report_notebook(executed_notebook), resources={"metadata": {"name": REPORT_TITLE}})
    except Exception as exc:
        raise ReportError(executed_notebook.name, None, type(exc).__name__, str(exc)) from exc
    problems = offline_problems(body)
    if problems:
        raise ReportError(executed_notebook.name, None, "UnsafeReport",
                          "the rendered report would load or run something from outside "
                          f"itself: {'; '.join(sorted(set(problems))[:5])}")
    out_html.parent.mkdir(parents=True, exist_ok=True)
    partial = out_html.with_name(f".{out_html.name}.partial")
    partial.write_text(body, encoding="utf-8")
    os.replace(partial, out_html)
    return out_html
