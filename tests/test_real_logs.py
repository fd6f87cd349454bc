"""Every built-in profile on the shared real logs reproduces ../shared/data/real/CATALOG.md exactly.

The loghub files may not be copied into this repository (license), so these tests read them from
`../shared/data/real/` (relative to the repository root) or from `$LOGRECON_REAL_DATA`, and skip
with a clear message when the folder is absent. Counts are asserted at the reader/profile level
(events per kind, skipped lines) and end to end through `logrecon.pipeline.run` (sessions).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest

from logrecon.profiles import load_profile
from logrecon.readers import read_input


def real_data_dir() -> Path:
    configured = os.environ.get("LOGRECON_REAL_DATA")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared/data/real"


REAL = real_data_dir()


def real_file(relative: str) -> Path:
    path = REAL / relative
    if not path.is_file():
        pytest.skip(f"real log {relative} not found under {REAL} (shared data absent; set LOGRECON_REAL_DATA "
                    f"to the folder holding loghub/ and zipkin/ to run these tests)")
    return path


@lru_cache(maxsize=None)
def read(profile: str, relative: str):
    return read_input(real_file(relative), load_profile(profile))


def by(records: pd.DataFrame, *columns) -> dict:
    return records.groupby(list(columns), dropna=False).size().to_dict()


@lru_cache(maxsize=None)
def pipeline_run(profile: str, relative: str, out: str) -> tuple[pd.DataFrame, dict]:
    from logrecon.pipeline import run
    run([str(real_file(relative))], Path(out), profile=profile)
    sessions = pd.read_csv(Path(out) / "reconstructed_sessions.csv", dtype={"session_id": "str"})
    manifest = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
    return sessions, manifest


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("real_runs")


def sessions_of(profile, relative, run_dir):
    return pipeline_run(profile, relative, str(run_dir / profile / Path(relative).stem))


# --------------------------------------------------------------------------- OpenStack

OPENSTACK = "loghub/OpenStack_2k.log"


def test_openstack_events_per_correlation_kind():
    result = read("openstack", OPENSTACK)
    out = result.records
    assert by(out, "rule", "event_type") == {
        ("vm_start", "START"): 22, ("vm_stop", "STOP"): 21,
        ("terminate_start", "START"): 22, ("terminate_stop", "STOP"): 22,
        ("api_request", "STOP"): 976, ("api_error", "ERROR"): 41,
    }
    assert result.skipped == 2000 - len(out) == 896
    assert out["record"].between(1, 2000).all() and out["record"].is_unique
    assert set(out["service"]) == {"nova-api", "nova-compute"}


def test_openstack_vm_and_terminate_sessions_are_kept_apart():
    out = read("openstack", OPENSTACK).records
    vm = out[out["session_id"].str.startswith("vm:", na=False)]
    terminate = out[out["session_id"].str.startswith("terminate:", na=False)]
    assert vm["session_id"].nunique() == 22 and terminate["session_id"].nunique() == 22
    assert set(vm["session_id"].str[3:]) == set(terminate["session_id"].str[10:])  # same instances, two kinds


def test_openstack_api_requests_carry_their_latency_and_request_id():
    out = read("openstack", OPENSTACK).records
    api = out[out["rule"].isin(["api_request", "api_error"])]
    assert (api["service"] == "nova-api").all()
    latency = api["latency_ms"].astype(float)
    assert round(latency.min(), 1) == 0.5 and round(latency.max(), 1) == 711.7
    assert api["session_id"].isna().sum() == 89  # logged with [-]
    assert api["session_id"].dropna().str.fullmatch(r"req-[0-9a-f-]{36}").all()
    assert (api.loc[api["rule"] == "api_error", "message"].str.contains(r"status: 4\d\d")).all()


def test_openstack_end_to_end_sessions(run_dir):
    sessions, manifest = sessions_of("openstack", OPENSTACK, run_dir)
    kind = sessions["session_id"].str.extract(r"^(vm|terminate|req)")[0].fillna("no id")
    table = sessions.assign(kind=kind)
    assert by(table[table["kind"] == "vm"], "status") == {"complete": 21, "missing_stop": 1}
    vm = table[(table["kind"] == "vm") & (table["status"] == "complete")]["duration_ms"]
    assert 28_000 <= vm.min() and vm.max() <= 30_500
    assert by(table[table["kind"] == "terminate"], "status") == {"complete": 22}
    terminate = table[(table["kind"] == "terminate")]["duration_ms"]
    assert terminate.min() == 213 and terminate.max() == 293
    api = table[table["service"] == "nova-api"]
    assert len(api) == 976 and (api["status"] == "missing_start").all()
    assert manifest["row_accounting"]["records_read"] == 2000
    assert manifest["row_accounting"]["skipped"] == 896 and manifest["row_accounting"]["quarantined"] == 0


def test_openstack_request_sessions_have_inferred_starts(run_dir):
    """A STOP that carries its duration yields a session whose start is inferred, never observed."""
    sessions, _ = sessions_of("openstack", OPENSTACK, run_dir)
    api = sessions[sessions["service"] == "nova-api"]
    assert api["start_inferred"].astype(str).str.lower().eq("true").all()
    assert api["start_record"].isna().all()  # no observed START behind any of them
    assert api["duration_ms"].notna().all()
    assert round(api["duration_ms"].min(), 1) == 0.5 and round(api["duration_ms"].max(), 1) == 711.7


# --------------------------------------------------------------------------- Spark

SPARK = "loghub/Spark_2k.log"


def test_spark_tasks_by_tid():
    result = read("spark", SPARK)
    out = result.records
    assert by(out, "event_type") == {"START": 305, "STOP": 300}
    assert result.skipped == 1395
    starts = out[out["event_type"] == "START"]["session_id"]
    assert starts.is_unique and starts.str.fullmatch(r"\d+").all()


def test_spark_end_to_end_sessions(run_dir):
    sessions, _ = sessions_of("spark", SPARK, run_dir)
    assert by(sessions, "status") == {"complete": 300, "missing_stop": 5}
    assert (sessions["duration_ms"].dropna() >= 0).all()


# --------------------------------------------------------------------------- Hadoop

HADOOP = "loghub/Hadoop_2k.log"


def test_hadoop_task_attempts():
    out = read("hadoop", HADOOP).records
    assert by(out, "event_type") == {"START": 10, "STOP": 1, "ERROR": 2}
    assert out["session_id"].str.startswith("attempt_").all()


def test_hadoop_end_to_end_sessions(run_dir):
    sessions, _ = sessions_of("hadoop", HADOOP, run_dir)
    assert by(sessions, "status") == {"complete": 1, "missing_stop": 9}
    assert round(sessions.loc[sessions["status"] == "complete", "duration_ms"].iloc[0] / 1000, 1) == 122.9
    assert sessions["errors"].sum() == 2


# --------------------------------------------------------------------------- HDFS

HDFS = "loghub/HDFS_2k.log"


def test_hdfs_blocks():
    out = read("hdfs", HDFS).records
    assert by(out, "event_type") == {"START": 292, "STOP": 311}
    starts = set(out.loc[out["event_type"] == "START", "session_id"])
    stops = set(out.loc[out["event_type"] == "STOP", "session_id"])
    assert len(starts) == 292 and len(stops) == 311 and not starts & stops
    assert out["session_id"].str.startswith("blk_-").any()  # negative block ids kept whole


def test_hdfs_end_to_end_invents_no_pairs(run_dir):
    sessions, _ = sessions_of("hdfs", HDFS, run_dir)
    assert by(sessions, "status") == {"missing_stop": 292, "missing_start": 311}


# --------------------------------------------------------------------------- Zipkin

MOBILE = "zipkin/smartthings-mobile-web-install.json"


def test_zipkin_mobile_trace_spans():
    out = read("zipkin", MOBILE).records
    assert out["record"].nunique() == 1041 and out["record"].max() == 1041
    assert by(out, "event_type") == {"START": 1041, "STOP": 866, "ERROR": 2}
    starts = out[out["event_type"] == "START"]
    assert starts["timestamp"].notna().sum() == 957
    assert out["service"].nunique() == 16
    errors = out[out["event_type"] == "ERROR"]
    assert set(errors["kind"]) == {"CLIENT", "SERVER"} and errors["span_id"].nunique() == 1
    stop = out[out["event_type"] == "STOP"]
    assert (stop["latency_ms"] >= 0).all()


def test_zipkin_mobile_end_to_end_sessions(run_dir):
    sessions, manifest = sessions_of("zipkin", MOBILE, run_dir)
    assert by(sessions, "status") == {"complete": 866, "missing_stop": 91}
    assert sessions["errors"].sum() == 2
    assert manifest["row_accounting"]["quarantined"] == 1041 - 957  # spans without a timestamp, surfaced


@pytest.mark.parametrize("relative,spans,services", [("zipkin/yelp.json", 16, 6), ("zipkin/skew.json", 4, 2)])
def test_zipkin_small_traces_are_all_complete(relative, spans, services, run_dir):
    out = read("zipkin", relative).records
    assert by(out, "event_type") == {"START": spans, "STOP": spans}
    assert out["service"].nunique() == services
    sessions, _ = sessions_of("zipkin", relative, run_dir)
    assert by(sessions, "status") == {"complete": spans}


# --------------------------------------------------------------------------- the command of issue 4


def test_logrecon_run_openstack_from_the_command_line(tmp_path):
    """`logrecon run …/OpenStack_2k.log --profile openstack` writes every CSV artifact with 21 + 1 VM sessions."""
    from logrecon.cli import main
    from logrecon.pipeline import CSV_ARTIFACTS
    out = tmp_path / "openstack"
    assert main(["-q", "run", str(real_file(OPENSTACK)), "--profile", "openstack", "--out", str(out),
                 "--no-report"]) == 0
    assert all((out / name).is_file() for name in CSV_ARTIFACTS) and (out / "manifest.json").is_file()
    sessions = pd.read_csv(out / "reconstructed_sessions.csv", dtype={"session_id": "str"})
    vm = sessions[sessions["session_id"].str.startswith("vm:", na=False)]
    assert by(vm, "status") == {"complete": 21, "missing_stop": 1}
