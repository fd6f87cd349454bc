"""Names from the logs and from input files never become paths outside the run directory, and
log strings reach the artifacts verbatim, as data (issue 7, "safe to share").

The report's escaping of these names is tested with the report (tests/test_report.py).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from logrecon import pipeline
from logrecon.cli import _default_out

HOSTILE = ["../../x", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "/etc/passwd", "..",
           "a\\..\\..\\b", "=cmd|' /C calc'!A0", "x\"; rm -rf /; \""]


def hostile_log(path: Path) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "service", "event_type", "latency_ms", "session_id"])
        for i, name in enumerate(HOSTILE):
            writer.writerow([f"2024-01-01T00:00:{i:02d}Z", name, "START", "", name])
            writer.writerow([f"2024-01-01T00:01:{i:02d}Z", name, "STOP", "60000", name])
            writer.writerow([f"2024-01-01T00:01:{i:02d}Z", name, "ERROR", "", name])
    return path


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def column(path: Path, name: str) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [row[name] for row in csv.DictReader(handle)]


def test_hostile_service_names_give_a_normal_run_with_no_file_outside_it(tmp_path):
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)
    hostile_log(work / "logs.csv")
    before = tree(tmp_path)
    out = work / "reports" / "run"
    result = subprocess.run([sys.executable, "-m", "logrecon.cli", "-q", "run", "logs.csv", "--out", str(out),
                             "--no-report"], cwd=work, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    created = tree(tmp_path) - before
    assert all(name.startswith("deep/er/reports") for name in created), created
    outside_run = {c for c in created if not c.startswith("deep/er/reports/run/")}
    assert outside_run == {"deep/er/reports", "deep/er/reports/run"}
    assert sorted(p.name for p in (work / "reports").iterdir()) == ["run"]
    assert not (tmp_path / "x").exists() and not (work / "x").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["row_accounting"]["quarantined"] == 0

    # Verbatim, as data: every artifact naming services holds exactly the names from the log.
    assert set(column(out / "cleaned_logs.csv", "service")) == set(HOSTILE)
    assert set(column(out / "reconstructed_sessions.csv", "service")) == set(HOSTILE)
    assert set(column(out / "reconstructed_sessions.csv", "session_id")) == set(HOSTILE)
    assert set(column(out / "reconstructed_sessions.csv", "status")) == {"complete"}
    assert set(column(out / "reliability_metrics.csv", "service")) == set(HOSTILE) | {"ALL"}
    assert set(column(out / "validation_report.csv", "service")) == set(HOSTILE) | {"ALL"}


def test_plots_never_use_service_names_in_paths(tmp_path):
    """The Python API with plots on: plot files have fixed names inside the run directory."""
    hostile_log(tmp_path / "logs.csv")
    before = tree(tmp_path)
    pipeline.run([tmp_path / "logs.csv"], tmp_path / "run", plots=True)
    created = tree(tmp_path) - before
    assert created and all(c == "run" or c.startswith("run/") for c in created), created
    names = {Path(c).name for c in created}
    assert not any(h.strip("./\\") and h.strip("./\\") in n for n in names for h in HOSTILE if len(h) > 3)


@pytest.mark.parametrize("input_name, run_name", [
    ("..csv", "run"), ("-x.csv", "-x"), (".hidden.csv", "run"), ("../../etc/passwd.csv", "passwd"),
    ("a/../../b.csv", "b"), ("....csv", "run"), ("<script>.csv", "_script_"), ("run name.csv", "run_name"),
    ("/", "run"), ("..", "run"), (".", "run"), ("logs.2024-01-01.csv", "logs"), ("x\\..\\..\\y.csv", "x_"),
])
def test_run_names_from_input_file_names_stay_inside_reports(input_name, run_name):
    out = _default_out([input_name])
    assert out.parent == Path("reports")
    assert out.name == run_name
    assert out.name not in ("", ".", "..") and "/" not in out.name and "\\" not in out.name
    assert (Path("/base") / out).resolve().parent == Path("/base/reports")


@pytest.mark.parametrize("input_name, run_name", [("..csv", "run"), ("-x.csv", "-x")])
def test_default_run_directory_for_odd_input_names_is_created_under_reports(tmp_path, input_name, run_name):
    (tmp_path / input_name).write_text("timestamp,service,event_type\n2024-01-01T00:00:00Z,api,START\n")
    result = subprocess.run([sys.executable, "-m", "logrecon.cli", "-q", "run", "--no-report", "--", input_name],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([input_name, "reports"])
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [run_name]
    assert json.loads((tmp_path / "reports" / run_name / "manifest.json").read_text())["status"] == "complete"
