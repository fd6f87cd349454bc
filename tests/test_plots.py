"""Diagnostics: five fixed files, any input (empty, hostile names, CSV read-back) draws."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from logrecon import plots
from logrecon.schema import CHECK_COLUMNS, GAP_COLUMNS, METRIC_COLUMNS, SESSION_COLUMNS

FILES = {
    "event_volume.png", "errors_by_service.png", "latency_distribution.png",
    "session_durations.png", "data_quality.png",
}
HOSTILE = ("<img src=x onerror=alert(1)>", "../../x", r"$\notacommand{$", "a" * 300)


def frames(services=("api", "db")):
    """A tiny run: two events per service per minute for an hour, one gap, a few sessions."""
    stamps = pd.date_range("2024-05-01T00:00:00Z", periods=60, freq="min")
    rows = []
    for service in services:
        for i, ts in enumerate(stamps):
            rows.append((ts, service, "START", np.nan))
            rows.append((ts + pd.Timedelta(seconds=20), service,
                         "ERROR" if i % 10 == 0 else "STOP", 20_000.0 + i))
    cleaned = pd.DataFrame(rows, columns=["timestamp", "service", "event_type", "latency_ms"])
    cleaned["service"] = cleaned["service"].astype("category")
    gaps = pd.DataFrame({
        "service": [services[0]], "gap_start": ["2024-05-01T00:10:20Z"],
        "gap_end": ["2024-05-01T00:25:00Z"], "gap_seconds": [880.0],
    })
    per = cleaned.groupby("service", observed=True)["event_type"]
    metrics = pd.DataFrame({
        "service": list(services) + ["ALL"],
        "events": [120] * len(services) + [120 * len(services)],
        "error": [6] * len(services) + [6 * len(services)],
        "error_rate": [0.05] * (len(services) + 1),
        "latency_p50_ms": [20_030.0] * (len(services) + 1),
        "latency_p95_ms": [20_050.0] * (len(services) + 1),
        "latency_p99_ms": [20_058.0] * (len(services) + 1),
    })
    assert per.size().sum() == len(cleaned)
    sessions = pd.DataFrame({
        "service": [services[0]] * 4,
        "status": ["complete", "complete", "missing_stop", "missing_start"],
        "duration_ms": [20_000.0, 35_000.0, np.nan, 5.0],
    })
    checks = pd.DataFrame({
        "service": [s for s in services for _ in range(2)],
        "check": ["gaps", "duplicates"] * len(services),
        "value": [1, 0] * len(services), "threshold": [0, 0] * len(services),
        "status": ["fail", "ok"] + ["warn", "ok"] * (len(services) - 1),
        "detail": [""] * 2 * len(services),
    })
    return {"cleaned": cleaned, "gaps": gaps, "metrics": metrics, "sessions": sessions,
            "checks": checks}


def empty_frames():
    return {
        "cleaned": pd.DataFrame({"timestamp": pd.Series([], dtype="datetime64[ns, UTC]"),
                                 "service": pd.Series([], dtype=str),
                                 "event_type": pd.Series([], dtype=str),
                                 "latency_ms": pd.Series([], dtype=float)}),
        "gaps": pd.DataFrame(columns=list(GAP_COLUMNS)),
        "metrics": pd.DataFrame(columns=list(METRIC_COLUMNS)),
        "sessions": pd.DataFrame(columns=list(SESSION_COLUMNS)),
        "checks": pd.DataFrame(columns=list(CHECK_COLUMNS)),
    }


def texts(ax):
    """Every piece of text drawn on an Axes (title, notes, ticks, legend)."""
    found = [ax.get_title(), *(t.get_text() for t in ax.texts)]
    found += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    if ax.get_legend():
        found += [t.get_text() for t in ax.get_legend().get_texts()]
    return found


def test_write_plots_writes_the_five_fixed_files(tmp_path):
    written = plots.write_plots(tmp_path / "plots", **frames())
    assert {p.name for p in written.values()} == FILES
    assert {p.name for p in (tmp_path / "plots").iterdir()} == FILES
    for path in written.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_plots_is_deterministic(tmp_path):
    first = plots.write_plots(tmp_path / "a", **frames())
    second = plots.write_plots(tmp_path / "b", **frames())
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name


@pytest.mark.parametrize("make", [empty_frames, lambda: dict.fromkeys(frames(), pd.DataFrame())],
                         ids=["empty-with-columns", "no-columns"])
def test_zero_events_draw_a_no_data_figure_not_a_crash(tmp_path, make):
    written = plots.write_plots(tmp_path, **make())
    assert {p.name for p in written.values()} == FILES
    ax = plots.event_volume(make()["cleaned"], make()["gaps"])
    assert any("no " in t for t in texts(ax))


@pytest.mark.parametrize("name", HOSTILE)
def test_service_names_never_reach_a_path_and_draw_as_text(tmp_path, name):
    run = tmp_path / "run"
    written = plots.write_plots(run / "plots", **frames(services=(name, "db")))
    assert {p.name for p in written.values()} == FILES
    everything = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert everything == {"run", "run/plots"} | {f"run/plots/{f}" for f in FILES}


def test_dollar_signs_are_escaped_so_mathtext_never_parses_log_strings():
    assert plots.text_label("$x$") == r"\$x\$"
    ax = plots.errors_by_service(frames(services=(r"$\frac{", "db"))["metrics"])
    ax.figure.savefig(__import__("io").BytesIO(), format="png")   # would raise on bad mathtext


def test_long_names_are_shortened_and_kept_distinct():
    labels = plots._labels(["x" * 100 + "1", "x" * 100 + "2"])
    assert len(set(labels)) == 2
    assert all(len(label) < 50 for label in labels)


@pytest.mark.parametrize("draw", [
    lambda f, ax: plots.event_volume(f["cleaned"], f["gaps"], ax=ax),
    lambda f, ax: plots.errors_by_service(f["metrics"], ax=ax),
    lambda f, ax: plots.latency_distribution(f["cleaned"], f["metrics"], ax=ax),
    lambda f, ax: plots.session_durations(f["sessions"], ax=ax),
    lambda f, ax: plots.data_quality(f["checks"], ax=ax),
], ids=["volume", "errors", "latency", "sessions", "quality"])
def test_each_figure_draws_on_the_given_axes_and_returns_it(draw):
    ax = Figure().subplots()
    assert draw(frames(), ax) is ax
    assert not plt.get_fignums(), "plots must not create pyplot figures"


def test_gaps_are_shaded_on_the_volume_plot():
    data = frames()
    ax = plots.event_volume(data["cleaned"], data["gaps"])
    assert "1 gap shaded" in ax.get_title()
    assert "gap (no events)" in texts(ax)


def test_volume_plot_reads_artifact_csvs_back(tmp_path):
    data = frames()
    data["cleaned"].assign(timestamp=data["cleaned"]["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                           ).to_csv(tmp_path / "cleaned.csv", index=False)
    cleaned = pd.read_csv(tmp_path / "cleaned.csv")
    ax = plots.event_volume(cleaned, data["gaps"])
    assert {"api", "db"} <= set(texts(ax))


def test_latency_percentiles_come_from_the_overall_metrics_row():
    data = frames()
    ax = plots.latency_distribution(data["cleaned"], data["metrics"])
    legend = texts(ax)
    assert "p50 = 20,030.0 ms" in legend and "p99 = 20,058.0 ms" in legend


def test_latency_percentiles_fall_back_to_the_data_without_metrics():
    cleaned = pd.DataFrame({"latency_ms": [1.0, 10.0, 100.0, 0.0, np.nan]})
    legend = texts(plots.latency_distribution(cleaned))
    assert any(t.startswith("p50 = ") for t in legend)
    assert any("1 of 0 ms" in t for t in legend)


def test_sessions_without_a_duration_are_counted_not_plotted():
    ax = plots.session_durations(frames()["sessions"])
    drawn = texts(ax)
    assert any("no duration: 1 missing_stop" in t for t in drawn)
    assert "complete (n=2)" in drawn and "missing_start (n=1)" in drawn


def test_quality_heatmap_shows_each_status_worst_service_first():
    data = frames()
    ax = plots.data_quality(data["checks"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["api", "db"]
    assert {"ok", "warn", "fail"} <= {t.get_text() for t in ax.texts}


def test_inputs_are_not_mutated(tmp_path):
    data = frames()
    before = {k: v.copy() for k, v in data.items()}
    plots.write_plots(tmp_path, **data)
    for key in data:
        pd.testing.assert_frame_equal(data[key], before[key])
