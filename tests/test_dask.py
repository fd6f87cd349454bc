"""The dask engine: the same stage functions, partitioned by service on a 2-worker local
cluster, give the pandas engine's artifacts for the same inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from logrecon import artifacts, pipeline
from logrecon.cli import main
from logrecon.engines.dask import run_dask, service_partitions
from logrecon.errors import ConfigError
from logrecon.generate import FaultRates, generate, write_generated

CSV_ARTIFACTS = pipeline.CSV_ARTIFACTS
RATES = FaultRates(outage=20.0, outage_min_s=60, outage_max_s=120)  # outages every few minutes: gaps


def split_csv(source, folder, parts: int) -> list:
    """The CSV cut into `parts` files, each with the header (rotated logs, in order)."""
    header, *body = source.read_text(encoding="utf-8").splitlines(keepends=True)
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(body) // parts)
    paths = []
    for index in range(parts):
        path = folder / f"app-{index + 1}.csv"
        path.write_text(header + "".join(body[index * size:(index + 1) * size]), encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as local:
        yield local


@pytest.fixture(scope="module")
def split_logs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask")
    write_generated(folder / "generated", generate(30_000, seed=11, rates=RATES))
    return split_csv(folder / "generated" / "logs.csv", folder / "inputs", 3)


def same_artifacts(left, right) -> None:
    for name in CSV_ARTIFACTS:
        assert (left / name).read_bytes() == (right / name).read_bytes(), f"{name} differs between engines"
    ours, theirs = (json.loads((d / "manifest.json").read_text()) for d in (left, right))
    assert ours["row_accounting"] == theirs["row_accounting"] and ours["inputs"] == theirs["inputs"]
    assert ours["stats"] == theirs["stats"]


def test_dask_engine_gives_the_pandas_engines_sessions_gaps_and_metrics(split_logs, cluster, tmp_path):
    """Three rotated files, 2 workers: sessions, gaps and metrics equal the pandas engine's."""
    folder = split_logs[0].parent
    assert main(["-q", "run", str(folder), "--no-report", "--gap-threshold", "60",
                 "--out", str(tmp_path / "pandas")]) == 0
    assert main(["-q", "run", str(folder), "--no-report", "--gap-threshold", "60", "--engine", "dask",
                 "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "dask")]) == 0
    for name in ("reconstructed_sessions.csv", "gaps.csv", "reliability_metrics.csv"):
        expected = artifacts.read_csv(tmp_path / "pandas" / name)
        pd.testing.assert_frame_equal(artifacts.read_csv(tmp_path / "dask" / name), expected, check_exact=True)
    assert len(artifacts.read_csv(tmp_path / "dask" / "gaps.csv")) > 0
    same_artifacts(tmp_path / "pandas", tmp_path / "dask")   # and every other artifact, byte for byte
    manifest = json.loads((tmp_path / "dask" / "manifest.json").read_text())
    assert manifest["parameters"]["engine"] == "dask" and manifest["parameters"]["workers"] == 2
    assert manifest["parameters"]["partitions"] >= 2 and manifest["row_accounting"]["balanced"]


def test_sessions_time_out_against_the_end_of_all_the_data(split_logs, cluster, tmp_path):
    """max_session_s judges open STARTs at the end of the whole input, not of their partition."""
    pipeline.run(split_logs, tmp_path / "pandas", plots=False, max_session_s=20)
    run_dask(split_logs, tmp_path / "dask", scheduler=cluster.scheduler_address, max_session_s=20)
    assert "timed_out" in set(artifacts.read_csv(tmp_path / "dask" / "reconstructed_sessions.csv")["status"])
    same_artifacts(tmp_path / "pandas", tmp_path / "dask")


def test_default_local_cluster_pairs_unkeyed_streams_like_pandas(tmp_path):
    """No --scheduler: a local cluster of 2 workers; without session ids, per-service strategies."""
    write_generated(tmp_path / "generated", generate(8_000, seed=5, session_ids=False))
    inputs = split_csv(tmp_path / "generated" / "logs.csv", tmp_path / "inputs", 2)
    pipeline.run(inputs, tmp_path / "pandas", plots=False)
    results = run_dask(inputs, tmp_path / "dask", workers=2)
    assert results["sessions"].stats["unkeyed_strategy"]
    same_artifacts(tmp_path / "pandas", tmp_path / "dask")


def test_an_unusable_input_is_exit_2_with_the_pandas_engines_message(split_logs, cluster, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,service,latency_ms\n2024-01-01T00:00:00Z,api,5\n")
    code = main(["-q", "run", str(split_logs[0]), str(bad), "--no-report", "--engine", "dask",
                 "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "run")])
    assert code == 2
    assert f"{bad}: missing required column 'event_type'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_dedup_key_without_service_is_refused(split_logs, tmp_path):
    """Partitions are services: a key without the service could hide duplicates across them."""
    with pytest.raises(ConfigError, match="dedup_key"):
        run_dask(split_logs, tmp_path / "run", dedup_key=["timestamp", "event_type"])


@pytest.mark.parametrize("counts, wanted, expected", [
    ([10, 10, 10, 10], 2, [0, 0, 1, 1]),
    ([100, 1, 1, 1], 2, [0, 1, 1, 1]),        # a big service alone, the rest together
    ([5, 5, 5], 8, [0, 1, 2]),                # never more partitions than services
    ([7], 4, [0]),
])
def test_services_go_to_contiguous_balanced_partitions(counts, wanted, expected):
    parts = service_partitions(np.array(counts), wanted)
    assert parts.tolist() == expected
    assert (np.diff(parts) >= 0).all()        # contiguous runs: service order is partition order


def test_dask_run_with_truth_is_evaluated_and_says_it_writes_no_report(cluster, tmp_path, capsys):
    write_generated(tmp_path / "gen", generate(3_000, seed=5))
    code = main(["run", str(tmp_path / "gen" / "logs.csv"), "--out", str(tmp_path / "run"), "--engine", "dask",
                 "--scheduler", cluster.scheduler_address, "--truth", str(tmp_path / "gen" / "truth")])
    assert code == 0
    evaluation = artifacts.read_csv(tmp_path / "run" / "evaluation.csv").set_index(["metric", "kind"])["value"]
    assert evaluation["pairing_f1", "all"] == 1.0
    assert "no report: the Dask engine writes the CSV artifacts" in capsys.readouterr().out



def test_a_scheduler_address_it_cannot_use_is_one_config_error(tmp_path, capsys):
    write_generated(tmp_path / "gen", generate(200, seed=5))
    code = main(["-q", "run", str(tmp_path / "gen" / "logs.csv"), "--out", str(tmp_path / "run"), "--engine", "dask",
                 "--scheduler", "bogus://x"])
    assert code == 2 and not (tmp_path / "run").exists()
    assert capsys.readouterr().err.startswith("logrecon: error: --scheduler: bogus://x: cannot reach the Dask "
                                              "scheduler: unknown address scheme 'bogus'")
