"""Pipeline: row accounting per input and in total, manifest, multi-file arrival order."""

from __future__ import annotations

import json

from logrecon import artifacts, pipeline


def write(path, lines):
    path.write_text("timestamp,service,event_type,latency_ms,session_id\n" + "\n".join(lines) + "\n")
    return path


def test_row_accounting_adds_up_for_every_input_and_in_total(tmp_path):
    first = write(tmp_path / "a.csv", ["2024-01-01T00:00:00Z,s,START,,k", "2024-01-01T00:00:00Z,s,START,,k",
                                       "bad,s,STOP,,k"])
    second = write(tmp_path / "b.csv", ["2024-01-01T00:00:05Z,s,STOP,,k", "2024-01-01T00:00:06Z,,STOP,,k"])
    pipeline.run([first, second], tmp_path / "run", plots=False)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    accounting = manifest["row_accounting"]
    assert accounting == {"records_read": 5, "events": 2, "duplicates": 1, "quarantined": 2, "skipped": 0,
                          "balanced": True}
    per_input = {entry["path"]: entry for entry in manifest["inputs"]}
    assert per_input[str(first)]["records_read"] == 3 and per_input[str(first)]["duplicates"] == 1
    assert per_input[str(second)]["quarantined"] == 1
    assert manifest["status"] == "complete" and set(manifest["timings_s"]) >= {"ingest", "sessions"}
    assert len(per_input[str(first)]["sha256"]) == 64


def test_sessions_span_files_in_arrival_order(tmp_path):
    first = write(tmp_path / "app.log.1.csv", ["2024-01-01T00:00:00Z,s,START,,k"])
    second = write(tmp_path / "app.log.2.csv", ["2024-01-01T00:00:03Z,s,STOP,,k"])
    pipeline.run([str(tmp_path / "app.log.*.csv")], tmp_path / "run", plots=False)
    sessions = artifacts.read_csv(tmp_path / "run" / "reconstructed_sessions.csv")
    assert sessions["status"].tolist() == ["complete"]
    assert (sessions["start_source"][0], sessions["stop_source"][0]) == (str(first), str(second))


def test_stage_notebook_path_reopens_a_run_from_its_checkpoints(tmp_path):
    source = write(tmp_path / "a.csv", ["2024-01-01T00:00:00Z,s,START,,k", "2024-01-01T00:00:01Z,s,STOP,,k"])
    run = pipeline.RunContext.create(tmp_path / "run", [source], params={"gap_threshold": 30}, plots=False)
    pipeline.ingest_step(run)
    reopened = pipeline.RunContext.open(tmp_path / "run")
    assert reopened.config.validate.gap_threshold == 30.0
    for step in (pipeline.normalize_step, pipeline.validate_step, pipeline.sessions_step, pipeline.metrics_step):
        step(reopened)
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["row_accounting"]["balanced"]


def test_a_run_rebuilt_in_place_does_not_look_complete_until_its_last_step(tmp_path):
    """A notebook re-run over an earlier run's directory: no complete manifest, report or
    evaluation of the earlier data while the steps run."""
    source = write(tmp_path / "a.csv", ["2024-01-01T00:00:00Z,s,START,,k", "2024-01-01T00:00:01Z,s,STOP,,k"])
    pipeline.run([source], tmp_path / "run", plots=False)
    (tmp_path / "run" / "report.html").write_text("<p>the earlier data</p>")
    (tmp_path / "run" / "evaluation.csv").write_text("metric\n")
    run = pipeline.RunContext.create(tmp_path / "run", [source], plots=False)
    pipeline.ingest_step(run)
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "running"
    assert not (tmp_path / "run" / "report.html").exists() and not (tmp_path / "run" / "evaluation.csv").exists()
    for step in (pipeline.normalize_step, pipeline.validate_step, pipeline.sessions_step, pipeline.metrics_step):
        step(run)
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "complete"
