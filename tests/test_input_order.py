"""Input order: the files of a glob or directory are read oldest first, as rotated logs were written.

Arrival order drives lateness and which copy of a duplicate is kept, so a directory of rotated
logs must arrive in the order it was written: numbers in names compare as numbers, a logrotate
generation `name.N` is older the higher N is, stamped copies go in stamp order, and the live
file comes last. Files named on the command line keep the order given.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from logrecon import artifacts, pipeline
from logrecon.readers import expand_inputs, format_of


def touch(directory: Path, names) -> Path:
    for name in names:
        (directory / name).write_text("")
    return directory


@pytest.mark.parametrize("oldest_first", [
    ["spark.log.11", "spark.log.10", "spark.log.3.gz", "spark.log.2", "spark.log.1", "spark.log"],
    ["app-2.log", "app-10.log", "app-11.log"],
    ["app-2024-06-01.log", "app-2024-06-02.log", "app-2024-06-10.log"],
    ["app.log-20240531.gz", "app.log-20240601.gz", "app.log-20240602", "app.log"],  # logrotate dateext
    ["app.log.2024-05-31", "app.log.2024-06-01", "app.log"],  # Python's TimedRotatingFileHandler
    ["app.log.20240531", "app.log.20240601", "app.log"],  # eight digits are a date, not a generation
    ["access_log.1717100000", "access_log.1717200000", "access_log"],  # rotatelogs' epoch seconds
    ["app.log.1.csv", "app.log.2.csv", "app.log.10.csv"],  # a number before the extension: plain order
], ids=["logrotate", "numbered", "dated", "dateext", "timed", "yyyymmdd", "epoch", "numbered-extension"])
def test_a_directory_and_a_glob_list_rotated_logs_oldest_first(tmp_path, oldest_first):
    touch(tmp_path, reversed(oldest_first))
    assert [p.name for p in expand_inputs([tmp_path])] == oldest_first
    assert [p.name for p in expand_inputs([str(tmp_path / "*")])] == oldest_first


def test_families_stay_together_each_oldest_first(tmp_path):
    touch(tmp_path, ["worker.log", "api.log", "worker.log.1", "api.log.2", "api.log.1"])
    assert [p.name for p in expand_inputs([tmp_path])] == [
        "api.log.2", "api.log.1", "api.log", "worker.log.1", "worker.log"]


def test_explicit_files_keep_the_order_given(tmp_path):
    touch(tmp_path, ["spark.log", "spark.log.1", "spark.log.2"])
    given = [tmp_path / "spark.log", tmp_path / "spark.log.2", tmp_path / "spark.log.1"]
    assert expand_inputs(given) == given


@pytest.mark.parametrize("name, fmt", [("events.csv.1", "csv"), ("events.csv.2.gz", "csv"),
                                       ("events.jsonl-20240601.gz", "jsonl"), ("events.jsonl.2024-06-01", "jsonl")])
def test_a_rotated_file_has_the_format_of_its_live_name(name, fmt):
    assert format_of(Path(name), None) == fmt


def spark_task(second: int, tid: int) -> str:
    """One Spark task's START and STOP lines, one second apart."""
    start, stop = f"24/01/02 09:{second // 60:02d}:{second % 60:02d}", f"24/01/02 09:{(second + 1) // 60:02d}:{(second + 1) % 60:02d}"
    return (f"{start} INFO executor.Executor: Running task 0.0 in stage 1.0 (TID {tid})\n"
            f"{stop} INFO executor.Executor: Finished task 0.0 in stage 1.0 (TID {tid}). 10 bytes result sent to driver\n")


def test_rotated_logs_in_a_directory_arrive_in_time_order_so_nothing_is_late(tmp_path):
    """Twelve generations (spark.log.11 oldest … spark.log live), each holding the next minute of
    tasks, with the task of each file boundary starting in one file and stopping in the next."""
    logs = tmp_path / "logs"
    logs.mkdir()
    names = [f"spark.log.{n}" for n in range(11, 0, -1)] + ["spark.log"]
    for index, name in enumerate(names):
        second = index * 60
        lines = "".join(spark_task(second + 2 * k, 10 * index + k) for k in range(3))
        lines += spark_task(second + 59, 10 * index + 9)
        (logs / name).write_text(lines)
    for earlier, later in zip(names, names[1:]):  # move each file's last STOP into the next file
        earlier_lines = (logs / earlier).read_text().splitlines(keepends=True)
        (logs / earlier).write_text("".join(earlier_lines[:-1]))
        (logs / later).write_text(earlier_lines[-1] + (logs / later).read_text())
    pipeline.run([logs], tmp_path / "run", profile="spark", plots=False)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert [Path(entry["path"]).name for entry in manifest["inputs"]] == names
    metrics = artifacts.read_csv(tmp_path / "run" / "reliability_metrics.csv").set_index("service")
    assert metrics.loc["spark-executor", "late_events"] == 0
    assert metrics.loc["spark-executor", "events"] == 12 * 4 * 2
    assert metrics.loc["spark-executor", "sessions_complete"] == 12 * 4
    assert metrics.loc["spark-executor", "sessions_missing_stop"] == 0
    assert metrics.loc["spark-executor", "sessions_missing_start"] == 0
