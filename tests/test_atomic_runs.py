"""Atomic runs: a run is built in a hidden staging directory beside `--out` and swapped into place
only when complete; an interrupted run never replaces the previous one and never leaves a
directory that looks complete (issue 7). Outputs are deterministic.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logrecon import cli, pipeline

SMALL = ("timestamp,service,event_type,latency_ms,session_id\n"
         "2024-01-01T00:00:00Z,api,START,,s1\n"
         "2024-01-01T00:00:02Z,api,STOP,2000,s1\n")


def logrecon(*args, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "logrecon.cli", "-q", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` → sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def complete_looking(root: Path) -> list[Path]:
    """Directories under `root` holding a manifest that says complete."""
    found = []
    for manifest in root.rglob("manifest.json"):
        try:
            status = json.loads(manifest.read_text()).get("status")
        except (ValueError, OSError):
            continue  # a half-written manifest does not look complete
        if status == "complete":
            found.append(manifest.parent)
    return found


@pytest.fixture(scope="module")
def big_input(tmp_path_factory) -> Path:
    """300k generated rows: a --no-report run of them takes a few seconds."""
    folder = tmp_path_factory.mktemp("generated")
    result = logrecon("generate", "--out", folder, "--rows", 300_000, "--seed", 5, cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder / "logs.csv"


@pytest.fixture
def previous_run(tmp_path) -> tuple[Path, dict]:
    """A complete run at tmp_path/reports/run, with a snapshot of its files."""
    (tmp_path / "small.csv").write_text(SMALL)
    out = tmp_path / "reports" / "run"
    result = logrecon("run", tmp_path / "small.csv", "--out", out, "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return out, snapshot(out)


def staging_dirs(out: Path) -> list[Path]:
    return [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial-")]


@pytest.mark.parametrize("kill_when", ["staging dir appears", "first artifacts written"])
def test_sigkill_mid_run_leaves_the_previous_run_untouched_and_nothing_complete_looking(
        tmp_path, big_input, previous_run, kill_when):
    out, before = previous_run
    process = subprocess.Popen([sys.executable, "-m", "logrecon.cli", "-q", "run", str(big_input), "--out", str(out),
                                "--no-report"], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    staging = out.parent / f".{out.name}.partial-{process.pid}"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if staging.is_dir() and (kill_when == "staging dir appears" or any(staging.glob("*.csv"))):
                break
            time.sleep(0.002)
        assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read()}"
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()

    assert snapshot(out) == before, "the previous run changed"
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    assert complete_looking(tmp_path) == [out], "a killed run left a directory that looks complete"
    left = staging_dirs(out)
    assert left == [staging]  # SIGKILL cannot clean up: its staging dir stays, hidden
    assert staging.name.startswith(".")
    manifest = staging / "manifest.json"
    assert not manifest.exists() or json.loads(manifest.read_text()).get("status") != "complete"
    # The next run of the same --out removes what the killed one could not.
    result = logrecon("run", tmp_path / "small.csv", "--out", out, "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert staging_dirs(out) == []


def test_a_second_run_replaces_the_first_as_a_whole(tmp_path, previous_run):
    out, before = previous_run
    (tmp_path / "other.csv").write_text(SMALL + "2024-01-01T00:00:05Z,db,ERROR,,\n")
    result = logrecon("run", tmp_path / "other.csv", "--out", out, "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["inputs"][0]["path"].endswith("other.csv")
    assert manifest["row_accounting"]["records_read"] == 3
    assert snapshot(out) != before
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]  # no staging, no previous copy left
    assert complete_looking(tmp_path) == [out]


@pytest.mark.parametrize("crash_at", [1, 2])
def test_publish_interrupted_at_any_rename_leaves_a_complete_run_at_out(tmp_path, monkeypatch, crash_at):
    """The swap of the finished run into place never leaves `--out` without a complete run: a crash
    at the n-th rename (simulated) leaves either the previous run or the new one there."""
    (tmp_path / "probe-a").mkdir()
    (tmp_path / "probe-b").mkdir()
    if not cli._exchange(tmp_path / "probe-a", tmp_path / "probe-b"):
        pytest.skip("no atomic directory exchange here (not Linux, or the file system lacks RENAME_EXCHANGE): "
                    "the two-rename fallback briefly leaves --out empty")
    out = tmp_path / "run"
    for folder, label in ((out, "previous"), (tmp_path / ".run.partial-1", "new")):
        folder.mkdir()
        (folder / "manifest.json").write_text(json.dumps({"status": "complete", "label": label}))
    calls = {"n": 0}
    real_rename = Path.rename

    def crashing_rename(self, target):
        calls["n"] += 1
        if calls["n"] == crash_at:
            raise KeyboardInterrupt("simulated crash")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", crashing_rename)
    try:
        cli._publish(tmp_path / ".run.partial-1", out)
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_the_same_input_twice_gives_byte_identical_csv_artifacts(tmp_path, big_input):
    sample = tmp_path / "sample.csv"
    with open(big_input) as source, open(sample, "w") as target:
        target.writelines(line for _, line in zip(range(20_000), source))
    first = logrecon("run", sample, "--out", tmp_path / "first", "--no-report", cwd=tmp_path)
    second = logrecon("run", sample, "--out", tmp_path / "second", "--no-report", cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    a, b = snapshot(tmp_path / "first"), snapshot(tmp_path / "second")
    csvs = [name for name in pipeline.CSV_ARTIFACTS]
    assert all(name in a for name in csvs)
    assert {n: a[n] for n in csvs} == {n: b[n] for n in csvs}
    assert os.path.getsize(tmp_path / "first" / "cleaned_logs.csv") > 100_000
