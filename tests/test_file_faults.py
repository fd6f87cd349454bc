"""File-level faults through the command line: a specific exit code, one line on stderr naming the
file and the problem, and nothing half-written (issue 7; the CLI checks of issue 2).

Every run here is a real `logrecon` process (`python -m logrecon.cli`), so stderr is exactly what a
user or a CI job sees. Runs use `--no-report` (the report path is tested by the report's tests;
`test_report_path_input_error_is_one_clean_line` covers a file fault there).

Policy decided here for non-UTF-8 bytes: the record is quarantined as `malformed_row` with detail
"bytes that are not UTF-8" (the rest of the file is kept); the file is not failed.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from logrecon import artifacts, pipeline

HEADER = "timestamp,service,event_type,latency_ms,session_id\n"
ROWS = ("2024-01-01T00:00:00Z,api,START,,s1\n"
        "2024-01-01T00:00:02Z,api,STOP,2000,s1\n"
        "2024-01-01T00:00:03Z,db,ERROR,,\n")


def logrecon(*args, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real CLI in `cwd`; a hang fails the test instead of the suite."""
    env = {**os.environ, "LOGRECON_DEBUG": ""}
    return subprocess.run([sys.executable, "-m", "logrecon.cli", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def error_line(result: subprocess.CompletedProcess, code: int = 2) -> str:
    """The one stderr line of a refused run (after asserting the exit code and that it is one line)."""
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("logrecon: error: "), lines[0]
    return lines[0]


def assert_nothing_written(out: Path) -> None:
    """No run directory and no staging or failed leftovers beside it."""
    assert not out.exists()
    if out.parent.exists():
        leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")
                     or p.name.startswith(f"{out.name}.")]
        assert leftovers == []


def assert_complete(out: Path) -> dict:
    """A published run: manifest complete, every CSV artifact present, no staging left."""
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    for name in pipeline.CSV_ARTIFACTS:
        assert (out / name).exists(), name
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial")]
    return manifest


# ----------------------------------------------------------------------------- not errors
@pytest.mark.parametrize("name", ["empty.csv", "empty.jsonl"])
def test_empty_file_is_a_complete_empty_run_that_says_empty_input(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    result = logrecon("run", name, "--out", "run", "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = assert_complete(tmp_path / "run")
    assert manifest["inputs"][0]["file_issues"] == ["empty_input"]
    assert manifest["row_accounting"]["records_read"] == 0 and manifest["row_accounting"]["events"] == 0
    assert manifest["empty_run"] is True
    assert "no records" in result.stdout


def test_header_only_file_is_a_complete_run_with_zero_events(tmp_path):
    (tmp_path / "header.csv").write_text(HEADER)
    result = logrecon("run", "header.csv", "--out", "run", "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = assert_complete(tmp_path / "run")
    assert manifest["row_accounting"]["records_read"] == 0 and manifest["row_accounting"]["events"] == 0
    assert manifest["empty_run"] is True
    assert len(artifacts.read_csv(tmp_path / "run" / "cleaned_logs.csv")) == 0


def test_extra_columns_are_kept_and_travel_with_their_events(tmp_path):
    (tmp_path / "extra.csv").write_text("host,timestamp,service,event_type,note\n"
                                        "h1,2024-01-01T00:00:00Z,api,START,first\n"
                                        "h2,2024-01-01T00:00:01Z,api,STOP,\"a, b\"\n")
    result = logrecon("run", "extra.csv", "--out", "run", "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_complete(tmp_path / "run")
    cleaned = artifacts.read_csv(tmp_path / "run" / "cleaned_logs.csv")
    assert list(cleaned["host"]) == ["h1", "h2"] and list(cleaned["note"]) == ["first", "a, b"]
    assert list(cleaned.columns[:7]) == ["timestamp", "service", "event_type", "latency_ms", "session_id",
                                         "source", "record"]


@pytest.mark.parametrize("name, content", [
    ("bytes.csv", HEADER.encode() + b"2024-01-01T00:00:00Z,api,START,,s1\n2024-01-01T00:00:01Z,a\xffpi,STOP,,s1\n"),
    ("bytes.jsonl", (b'{"timestamp": "2024-01-01T00:00:00Z", "service": "api", "event_type": "START"}\n'
                     b'{"timestamp": "2024-01-01T00:00:01Z", "service": "a\xffpi", "event_type": "STOP"}\n')),
])
def test_non_utf8_bytes_quarantine_their_record_as_malformed_and_keep_the_rest(tmp_path, name, content):
    """Decided policy: a record with bytes that are not UTF-8 is a malformed record, not a failed file."""
    (tmp_path / name).write_bytes(content)
    result = logrecon("run", name, "--out", "run", "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = assert_complete(tmp_path / "run")
    quarantine = artifacts.read_csv(tmp_path / "run" / "quarantine.csv")
    assert list(quarantine["record"]) == [2]
    assert list(quarantine["reasons"]) == ["malformed_row"]
    assert list(quarantine["detail"]) == ["bytes that are not UTF-8"]
    assert "a\ufffdpi" in quarantine["raw"][0]  # the raw line, bad byte shown as U+FFFD
    assert manifest["row_accounting"]["events"] == 1 and manifest["row_accounting"]["quarantined"] == 1


def test_a_single_100_mb_line_is_quarantined_quickly_not_a_crash_or_a_hang(tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "w") as handle:
        handle.write(HEADER)
        handle.write("2024-01-01T00:00:00Z,api,START,,s1\n")
        handle.write("2024-01-01T00:00:01Z," + "x" * 100_000_000 + ",STOP,,s1\n")
        handle.write("2024-01-01T00:00:02Z,api,STOP,,s1\n")
    started = time.monotonic()
    result = logrecon("run", "huge.csv", "--out", "run", "--no-report", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 60
    assert_complete(tmp_path / "run")
    quarantine = artifacts.read_csv(tmp_path / "run" / "quarantine.csv")
    assert list(quarantine["record"]) == [2] and list(quarantine["reasons"]) == ["malformed_row"]
    assert "more than the" in quarantine["detail"][0] and "limit" in quarantine["detail"][0]
    assert len(quarantine["service"][0]) <= 1000  # a preview, not 100 MB copied into every artifact
    assert sum(f.stat().st_size for f in (tmp_path / "run").iterdir()) < 1_000_000
    sessions = artifacts.read_csv(tmp_path / "run" / "reconstructed_sessions.csv")
    assert list(sessions["status"]) == ["complete"]


# -------------------------------------------------------------------------------- errors
def test_missing_required_column_exits_2_naming_the_file_and_the_column(tmp_path):
    (tmp_path / "nocol.csv").write_text("timestamp,service\n2024-01-01T00:00:00Z,api\n")
    line = error_line(logrecon("run", "nocol.csv", "--out", "run", "--no-report", cwd=tmp_path))
    assert "nocol.csv" in line and "missing required column 'event_type'" in line
    assert_nothing_written(tmp_path / "run")


def test_wrong_delimiter_exits_2_with_a_delimiter_hint(tmp_path):
    (tmp_path / "semi.csv").write_text("timestamp;service;event_type\n2024-01-01T00:00:00Z;api;START\n")
    line = error_line(logrecon("run", "semi.csv", "--out", "run", "--no-report", cwd=tmp_path))
    assert "semi.csv" in line and "missing required column" in line and "delimiter" in line
    assert_nothing_written(tmp_path / "run")


@pytest.mark.parametrize("name", ["logs.csv.gz", "logs.jsonl.gz"])
def test_truncated_gzip_exits_2_corrupt_or_truncated(tmp_path, name):
    if name.endswith(".csv.gz"):
        content = (HEADER + ROWS * 2000).encode()
    else:
        content = b'{"timestamp": "2024-01-01T00:00:00Z", "service": "api", "event_type": "START"}\n' * 2000
    packed = gzip.compress(content, mtime=0)
    (tmp_path / name).write_bytes(packed[: len(packed) // 2])
    line = error_line(logrecon("run", name, "--out", "run", "--no-report", cwd=tmp_path))
    assert name in line and "corrupt or truncated gzip" in line
    assert_nothing_written(tmp_path / "run")


def test_json_array_file_exits_2_saying_json_lines_needs_one_object_per_line(tmp_path):
    (tmp_path / "export.json").write_text('[{"timestamp": "2024-01-01T00:00:00Z", "service": "api",\n'
                                          '  "event_type": "START"}]\n')
    line = error_line(logrecon("run", "export.json", "--out", "run", "--no-report", cwd=tmp_path))
    assert "export.json: no line is a JSON object" in line and "JSON Lines needs one object per line" in line
    assert_nothing_written(tmp_path / "run")


def test_nonexistent_path_exits_2_no_such_file(tmp_path):
    line = error_line(logrecon("run", "nowhere.csv", "--out", "run", "--no-report", cwd=tmp_path))
    assert line == "logrecon: error: nowhere.csv: no such file"
    assert_nothing_written(tmp_path / "run")


def test_path_whose_parent_is_a_file_exits_2_saying_so(tmp_path):
    (tmp_path / "plain").write_text("not a directory")
    line = error_line(logrecon("run", "plain/logs.csv", "--out", "run", "--no-report", cwd=tmp_path))
    assert "plain/logs.csv" in line and "no such file" in line and "plain is a file, not a directory" in line
    assert_nothing_written(tmp_path / "run")


def test_directory_without_input_files_exits_2_not_an_empty_run(tmp_path):
    """A directory given where a file was meant (or an empty log folder) is refused, like a glob
    that matches nothing, rather than published as a run of nothing."""
    (tmp_path / "logs.csv").mkdir()
    (tmp_path / "logs.csv" / "nested").mkdir()
    line = error_line(logrecon("run", "logs.csv", "--out", "run", "--no-report", cwd=tmp_path))
    assert "logs.csv" in line and "directory holds no input files" in line
    assert_nothing_written(tmp_path / "run")


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_unreadable_file_exits_2_cannot_read_even_as_root(tmp_path):
    """/proc/self/mem opens but cannot be read from offset 0 (EIO): unreadable whatever the user."""
    (tmp_path / "mem.csv").symlink_to("/proc/self/mem")
    line = error_line(logrecon("run", "mem.csv", "--out", "run", "--no-report", cwd=tmp_path))
    assert "mem.csv" in line and "cannot read" in line
    assert_nothing_written(tmp_path / "run")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads a chmod-000 file anyway (CI runs as root); the /proc/self/mem test covers it")
def test_permission_denied_file_exits_2_naming_it(tmp_path):
    path = tmp_path / "locked.csv"
    path.write_text(HEADER + ROWS)
    path.chmod(0)
    try:
        line = error_line(logrecon("run", "locked.csv", "--out", "run", "--no-report", cwd=tmp_path))
    finally:
        path.chmod(0o644)
    assert "locked.csv" in line and "permission denied" in line
    assert_nothing_written(tmp_path / "run")


def test_output_directory_under_a_regular_file_exits_2_naming_it(tmp_path):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    (tmp_path / "occupied").write_text("a file, not a directory")
    line = error_line(logrecon("run", "logs.csv", "--out", "occupied/run", "--no-report", cwd=tmp_path))
    assert "occupied" in line and "cannot create the output directory" in line
    assert (tmp_path / "occupied").read_text() == "a file, not a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs.csv", "occupied"]


def test_output_path_that_is_a_regular_file_exits_2_and_leaves_it_alone(tmp_path):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    (tmp_path / "run").write_text("precious")
    line = error_line(logrecon("run", "logs.csv", "--out", "run", "--no-report", cwd=tmp_path))
    assert line == "logrecon: error: run: exists and is not a directory; refusing to replace it"
    assert (tmp_path / "run").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs.csv", "run"]


def test_output_directory_of_other_things_is_not_replaced(tmp_path):
    """Publishing swaps the run into place and deletes what was there: only a previous run (it has
    a manifest.json) or an empty directory may be replaced, never e.g. a home folder."""
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    (tmp_path / "documents").mkdir()
    (tmp_path / "documents" / "thesis.txt").write_text("years of work")
    line = error_line(logrecon("run", "logs.csv", "--out", "documents", "--no-report", cwd=tmp_path))
    assert "documents: exists and is not a logrecon run (no manifest.json)" in line
    assert (tmp_path / "documents" / "thesis.txt").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["documents", "logs.csv"]


@pytest.mark.parametrize("out", [".", ".."])
def test_output_that_names_no_directory_exits_2(tmp_path, out):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "logs.csv").write_text(HEADER + ROWS)
    line = error_line(logrecon("run", "logs.csv", "--out", out, "--no-report", cwd=tmp_path / "work"))
    assert "not a run directory name" in line
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["logs.csv"]


def test_report_path_input_error_is_one_clean_line(tmp_path):
    """Without --no-report the input is read inside the ingest notebook: a file fault there is still
    exit 2 with one line (under -q, no progress bars) and leaves no `<out>.failed` behind."""
    (tmp_path / "nocol.csv").write_text("timestamp,service\n2024-01-01T00:00:00Z,api\n")
    line = error_line(logrecon("-q", "run", "nocol.csv", "--out", "run", cwd=tmp_path))
    assert line == "logrecon: error: nocol.csv: missing required column 'event_type' (found 'timestamp', 'service')"
    assert_nothing_written(tmp_path / "run")


# ------------------------------------------------------------------------ --fail-on, config
def test_fail_on_breach_exits_1_with_the_run_complete(tmp_path):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    result = logrecon("run", "logs.csv", "--out", "run", "--no-report", "--fail-on", "ALL:error_rate>0.1",
                      "--fail-on", "events>100", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert_complete(tmp_path / "run")
    breaches = [line for line in result.stderr.splitlines() if "--fail-on breached" in line]
    assert breaches == ["logrecon: --fail-on breached: ALL:error_rate>0.1: ALL=0.333333"]


def test_a_service_named_all_is_gated_and_summarised_apart_from_the_run(tmp_path):
    (tmp_path / "logs.csv").write_text(
        "timestamp,service,event_type\n"
        "2024-01-01T00:00:00Z,ALL,START\n2024-01-01T00:00:01Z,ALL,ERROR\n"
        "2024-01-01T00:00:02Z,api,START\n2024-01-01T00:00:03Z,api,STOP\n"
        "2024-01-01T00:00:04Z,api,START\n2024-01-01T00:00:05Z,api,STOP\n")
    result = logrecon("run", "logs.csv", "--out", "run", "--no-report", "--fail-on", "ALL:error_rate>0.4",
                      "--fail-on", "error_rate>0.4", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "  6 events," in result.stdout                     # the summary is the run's, not the service's
    breaches = [line for line in result.stderr.splitlines() if "--fail-on breached" in line]
    assert breaches == ["logrecon: --fail-on breached: error_rate>0.4: ALL (service)=0.5"]  # run: 1/6


@pytest.mark.parametrize("rows, expression, says", [
    (ROWS, "nosuch:error_rate>0", "no service 'nosuch' in this run; services: api, db, and ALL"),
    (ROWS.replace(",2000,", ",,"), "latency_p99_ms>0",   # no latency at all
     "latency_p99_ms is empty in this run (e.g. no latencies): nothing to judge"),
])
def test_a_fail_on_gate_that_cannot_judge_exits_2_and_publishes_nothing(tmp_path, rows, expression, says):
    (tmp_path / "logs.csv").write_text(HEADER + rows)
    line = error_line(logrecon("-q", "run", "logs.csv", "--out", "run", "--no-report", "--fail-on", expression,
                               cwd=tmp_path))
    assert line == f"logrecon: error: --fail-on: {expression}: {says}"
    assert_nothing_written(tmp_path / "run")


def test_a_fail_on_metric_empty_for_some_rows_is_judged_where_it_exists_with_a_warning(tmp_path):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)   # api has a latency, db has none
    result = logrecon("-q", "run", "logs.csv", "--out", "run", "--no-report", "--fail-on", "latency_p99_ms>1000",
                      cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "logrecon: warning: --fail-on latency_p99_ms>1000: latency_p99_ms is empty for db; not judged there",
        "logrecon: --fail-on breached: latency_p99_ms>1000: api=2000, ALL=2000"]


def test_fail_on_not_breached_exits_0(tmp_path):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    result = logrecon("run", "logs.csv", "--out", "run", "--no-report", "--fail-on", "api:error_rate>0",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_complete(tmp_path / "run")


@pytest.mark.parametrize("expression, says", [
    ("error_rate>>0.1", "expected [service:]metric<op>number"),
    ("error_rate>1.2.3", "expected [service:]metric<op>number"),
    ("error_rate", "expected [service:]metric<op>number"),
    ("eror_rate>0.1", "eror_rate: unknown metric; known: events, start, stop, error, error_rate"),
    ("verdict>0", "verdict: unknown metric"),
    ("verdict_reason>0", "verdict_reason: unknown metric"),
])
def test_bad_fail_on_exits_2_before_anything_runs(tmp_path, expression, says):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    line = error_line(logrecon("run", "logs.csv", "--out", "run", "--no-report", "--fail-on", expression,
                               cwd=tmp_path))
    assert line.startswith("logrecon: error: --fail-on: ") and says in line
    assert_nothing_written(tmp_path / "run")


@pytest.mark.parametrize("yaml_text, says", [
    ("sessions:\n  stratgy: fifo\n", ("sessions.stratgy: unknown key; known: infer_start_from_latency, "
                                      "max_session_s, strategy")),
    ("sesions:\n  strategy: fifo\n", "sesions: unknown section; known: ingest, normalize, validate, sessions, metrics"),
    ("sessions:\n  strategy: newest\n", "sessions.strategy: unknown strategy 'newest'; known: auto, fifo, lifo, latency"),
    ("validate: [1, 2\n", "invalid YAML"),
])
def test_bad_config_exits_2_naming_the_file_and_listing_known_keys(tmp_path, yaml_text, says):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    (tmp_path / "bad.yaml").write_text(yaml_text)
    line = error_line(logrecon("run", "logs.csv", "--out", "run", "--no-report", "--config", "bad.yaml",
                               cwd=tmp_path))
    assert "bad.yaml" in line and says in line
    assert_nothing_written(tmp_path / "run")


def test_an_input_inside_the_output_directory_is_refused_and_kept(tmp_path):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    assert logrecon("run", "logs.csv", "--out", "run", "--no-report", cwd=tmp_path).returncode == 0
    (tmp_path / "run" / "mine.csv").write_text(HEADER + ROWS)
    line = error_line(logrecon("run", "run/mine.csv", "--out", "run", "--no-report", cwd=tmp_path))
    assert line == ("logrecon: error: run: holds the input run/mine.csv, which replacing the run would delete; "
                    "choose another --out or move the input")
    assert (tmp_path / "run" / "mine.csv").read_text() == HEADER + ROWS


def test_a_profile_that_matches_nothing_warns_and_counts_the_skipped_lines(tmp_path):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    result = logrecon("run", "logs.csv", "--profile", "spark", "--out", "run", "--no-report", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "  skipped lines: 4 no_pattern_match" in result.stdout.splitlines()
    assert result.stderr.splitlines()[-1] == ("logrecon: warning: 4 records read and none is an event "
                                              "(is the --profile right for these logs?)")


@pytest.mark.parametrize("options, says", [
    (["--out", "gen", "--seed", "-1"], "logrecon: error: generate: seed: must be an integer >= 0, got -1"),
    (["--out", "taken.csv"], "logrecon: error: taken.csv: exists and is not a directory"),
    (["--out", "taken.csv/gen"], "logrecon: error: taken.csv/gen/truth: cannot write: Not a directory"),
    (["--out", "."], "logrecon: error: .: holds other files, not an earlier `logrecon generate` output (no "
                     "truth/params.json); refusing to overwrite them"),
])
def test_generate_refuses_bad_options_and_outputs_with_one_line(tmp_path, options, says):
    (tmp_path / "taken.csv").write_text("mine\n")
    assert error_line(logrecon("generate", "--rows", "100", *options, cwd=tmp_path)) == says
    assert (tmp_path / "taken.csv").read_text() == "mine\n"


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_works_before_or_after_the_command(tmp_path, where):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    args = ["run", "logs.csv", "--out", "run", "--no-report"]
    result = logrecon(*(["-q", *args] if where == "before" else [*args, "-q"]), cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""


def test_the_default_out_replaces_a_run_of_the_same_input_but_not_of_another_with_its_name(tmp_path):
    for day in ("day1", "day2"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "app.csv").write_text(HEADER + ROWS)
    assert logrecon("run", "day1/app.csv", "--no-report", cwd=tmp_path).returncode == 0
    assert logrecon("run", "day1/app.csv", "--no-report", cwd=tmp_path).returncode == 0  # a re-run replaces
    line = error_line(logrecon("run", "day2/app.csv", "--no-report", cwd=tmp_path))
    assert line == ("logrecon: error: reports/app: holds a run of day1/app.csv; pass --out to replace it "
                    "or to name this run")
    assert json.loads((tmp_path / "reports" / "app" / "manifest.json").read_text())["parameters"]["inputs"] == \
        ["day1/app.csv"]



def test_a_closed_or_full_stdout_after_publishing_keeps_the_runs_exit_code(tmp_path):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "logrecon.cli", "-q", "run", "logs.csv", "--out", "run",
                                 "--no-report", "--fail-on", "events>0"], cwd=tmp_path, stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stderr == "logrecon: --fail-on breached: events>0: api=2, db=1, ALL=3\n"
    assert_complete(tmp_path / "run")


def test_a_scheduler_without_the_dask_engine_is_refused(tmp_path):
    (tmp_path / "logs.csv").write_text(HEADER + ROWS)
    line = error_line(logrecon("run", "logs.csv", "--out", "run", "--scheduler", "tcp://h:8786", cwd=tmp_path))
    assert line == "logrecon: error: --scheduler: tcp://h:8786: needs --engine dask (the pandas engine runs here)"
    assert_nothing_written(tmp_path / "run")


def test_generate_replaces_its_own_earlier_output(tmp_path):
    for seed in ("1", "2"):
        result = logrecon("generate", "--out", "gen", "--rows", "50", "--seed", seed, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "gen" / "truth" / "params.json").read_text())["seed"] == 2

