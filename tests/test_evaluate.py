"""Evaluation against ground truth, on tiny hand-made run and truth directories whose
scores can be worked out by hand."""

from __future__ import annotations

import hashlib
import json
import math

import pandas as pd
import pytest

from logrecon import cli, pipeline
from logrecon.errors import InputError
from logrecon.evaluate import EVALUATION_COLUMNS, evaluate, summary, write_evaluation
from logrecon.generate import generate, write_generated

SRC = "data/logs.csv"
# The hand-made truth below describes a logs file with this digest, which the run read.
SHA256 = hashlib.sha256(b"the logs the truth below describes").hexdigest()
OTHER_SHA256 = hashlib.sha256(b"some other logs").hexdigest()

# Six true sessions. Records 1-10 are START/STOP events; 11 is a copy of 1; 12-14 carry the
# three timestamp faults; 7 arrived late; 15 is an ordinary ERROR.
TRUTH_SESSIONS = pd.DataFrame([
    # service, session_id, start_record, stop_record, duration_ms, expected_status
    ("a", "A", 1, 5, 4000, "complete"),
    ("a", "B", 2, 6, 4000, "complete"),
    ("b", "C", 3, 7, 4000, "complete"),
    ("b", "D", 4, None, 9000, "missing_stop"),
    ("b", "E", None, 8, 1000, "missing_start"),
    ("a", "F", 10, 9, 500, "clock_skew"),
], columns=["service", "session_id", "start_record", "stop_record", "duration_ms",
            "expected_status"]).assign(
    start_time="2025-01-01T00:00:00.000Z", stop_time="2025-01-01T00:00:04.000Z")
FAULTS = {7: "late", 11: "duplicate", 12: "missing_timestamp", 13: "corrupt_timestamp",
          14: "out_of_range_timestamp", 9: "clock_skew"}
RECORDS = pd.DataFrame({
    "record": range(1, 16),
    "true_timestamp": "2025-01-01T00:00:00.000Z",
    "service": "a", "event_type": "START", "session_id": "A",
    "faults": [FAULTS.get(r, "") for r in range(1, 16)],
    "duplicate_of": [1 if r == 11 else None for r in range(1, 16)],
    "lateness_ms": [250 if r == 7 else None for r in range(1, 16)],
})
OUTAGES = pd.DataFrame({
    "service": ["a", "b"],
    "outage_start": ["2025-01-01T10:00:00.000Z", "2025-01-01T11:00:00.000Z"],
    "outage_end": ["2025-01-01T10:05:00.000Z", "2025-01-01T11:10:00.000Z"],
})


def _session(service, status, start, stop, duration, sid=""):
    return {"service": service, "session_id": sid, "status": status,
            "start_time": "", "stop_time": "", "duration_ms": duration,
            "start_source": SRC if start else "", "start_record": start,
            "stop_source": SRC if stop else "", "stop_record": stop,
            "start_inferred": "false", "strategy": "keyed", "confidence": 1.0}


def perfect_run() -> dict[str, pd.DataFrame]:
    """What a perfect reconstruction of the truth above writes."""
    sessions = pd.DataFrame([
        _session("a", "complete", 1, 5, 4000, "A"),
        _session("a", "complete", 2, 6, 4000, "B"),
        _session("b", "complete", 3, 7, 4000, "C"),
        _session("b", "missing_stop", 4, None, None, "D"),
        _session("b", "missing_start", None, 8, None, "E"),
        _session("a", "clock_skew", 10, 9, None, "F"),
    ])
    kept = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15]
    cleaned = pd.DataFrame({
        "timestamp": "2025-01-01T00:00:00.000Z", "service": "a", "event_type": "START",
        "latency_ms": None, "session_id": None, "source": SRC, "record": kept,
        "late": ["true" if r == 7 else "false" for r in kept],
        "lateness_ms": [250.0 if r == 7 else 0.0 for r in kept],
    })
    return {
        "reconstructed_sessions": sessions,
        "cleaned_logs": cleaned,
        "duplicates": pd.DataFrame({"source": [SRC], "record": [11],
                                    "duplicate_of_source": [SRC], "duplicate_of_record": [1]}),
        "quarantine": pd.DataFrame({
            "source": SRC, "record": [12, 13, 14],
            "reasons": ["missing_field", "invalid_timestamp", "timestamp_out_of_range"],
        }),
        "gaps": pd.DataFrame({
            "service": ["a", "b"],
            "gap_start": ["2025-01-01T09:59:58.000Z", "2025-01-01T10:59:00.000Z"],
            "gap_end": ["2025-01-01T10:05:01.000Z", "2025-01-01T11:10:00.000Z"],
            "gap_seconds": [303.0, 660.0],
        }),
    }


def write_manifest(run_dir, inputs) -> None:
    """A run manifest listing `inputs`, (path, sha256) pairs of 15 records each."""
    entries = [{"path": path, "sha256": digest, "records": 15} for path, digest in inputs]
    (run_dir / "manifest.json").write_text(json.dumps({"status": "complete", "inputs": entries}))


def write_truth_and_run(tmp_path, run=None, truth_sessions=TRUTH_SESSIONS) -> None:
    """The truth, describing logs with digest SHA256, and a run that read those logs."""
    run_dir, truth_dir = tmp_path / "run", tmp_path / "truth"
    run_dir.mkdir(exist_ok=True)
    truth_dir.mkdir(exist_ok=True)
    for name, frame in (run or perfect_run()).items():
        frame.to_csv(run_dir / f"{name}.csv", index=False)
    write_manifest(run_dir, [(SRC, SHA256)])
    truth_sessions.to_csv(truth_dir / "sessions.csv", index=False)
    RECORDS.to_csv(truth_dir / "records.csv", index=False)
    OUTAGES.to_csv(truth_dir / "outages.csv", index=False)
    (truth_dir / "logs_digest.json").write_text(
        json.dumps({"file": "logs.csv", "sha256": SHA256, "records": 15}))


def score(tmp_path, run=None, truth_sessions=TRUTH_SESSIONS) -> pd.Series:
    """Write the run and truth into tmp_path and return value by (metric, kind)."""
    write_truth_and_run(tmp_path, run, truth_sessions)
    frame = evaluate(tmp_path / "run", tmp_path / "truth")
    return frame.set_index(["metric", "kind"])["value"]


def test_perfect_run_scores_one_on_every_measure(tmp_path):
    values = score(tmp_path)
    rates = values.drop(["duration_error_median_ms", "duration_error_p95_ms"], level=0)
    assert rates.dropna().eq(1.0).all(), rates[rates != 1.0]
    assert values["duration_error_median_ms", "all"] == 0
    assert values["duration_error_p95_ms", "all"] == 0
    assert values["pairing_f1", "all"] == 1.0


def test_evaluation_has_the_contract_columns(tmp_path):
    run_dir = tmp_path / "run"
    score(tmp_path)
    path = write_evaluation(run_dir, tmp_path / "truth")
    written = pd.read_csv(path)
    assert tuple(written.columns) == EVALUATION_COLUMNS
    f1 = written[(written["metric"] == "pairing_f1")].iloc[0]
    assert (f1["numerator"], f1["denominator"]) == (6, 6)


def test_swapped_stops_make_those_pairs_wrong(tmp_path):
    run = perfect_run()
    sessions = run["reconstructed_sessions"]
    sessions.loc[0, "stop_record"], sessions.loc[1, "stop_record"] = 6, 5
    values = score(tmp_path, run)
    assert values["pairing_precision", "all"] == pytest.approx(1 / 3)
    assert values["pairing_recall", "all"] == pytest.approx(1 / 3)
    assert values["pairing_f1", "all"] == pytest.approx(1 / 3)
    # each STOP still sits in a complete session, so the statuses stay right
    assert values["status_accuracy", "all"] == 1.0


def test_a_fabricated_pair_costs_precision_and_both_statuses(tmp_path):
    run = perfect_run()
    sessions = run["reconstructed_sessions"]
    sessions = sessions[~sessions["session_id"].isin(["D", "E"])]
    run["reconstructed_sessions"] = pd.concat(
        [sessions, pd.DataFrame([_session("b", "complete", 4, 8, 7000)])], ignore_index=True)
    values = score(tmp_path, run)
    assert values["pairing_precision", "all"] == pytest.approx(3 / 4)
    assert values["pairing_recall", "all"] == 1.0
    assert values["pairing_f1", "all"] == pytest.approx(2 * 3 / (4 + 3))
    assert values["status_accuracy", "all"] == pytest.approx(4 / 6)
    assert values["status_accuracy", "missing_stop"] == 0.0
    assert values["status_accuracy", "missing_start"] == 0.0
    assert values["status_accuracy", "complete"] == 1.0


def test_a_session_found_nowhere_counts_as_a_wrong_status(tmp_path):
    run = perfect_run()
    run["reconstructed_sessions"] = run["reconstructed_sessions"].iloc[:5]   # no clock_skew
    values = score(tmp_path, run)
    assert values["status_accuracy", "clock_skew"] == 0.0
    assert values["status_accuracy", "all"] == pytest.approx(5 / 6)


def test_duration_error_is_measured_on_right_pairs_only(tmp_path):
    run = perfect_run()
    run["reconstructed_sessions"]["duration_ms"] = [4010, 4030, 4000, None, None, None]
    values = score(tmp_path, run)
    assert values["duration_error_median_ms", "all"] == 10
    assert values["duration_error_p95_ms", "all"] == pytest.approx(28)  # between 10 and 30


def test_duplicate_precision_counts_removed_originals_as_false(tmp_path):
    run = perfect_run()
    run["duplicates"] = pd.DataFrame({
        "source": SRC, "record": [11, 15], "duplicate_of_source": SRC,
        "duplicate_of_record": [2, 3]})
    values = score(tmp_path, run)
    assert values["duplicate_precision", "all"] == 0.5
    assert values["duplicate_recall", "all"] == 1.0
    assert values["duplicate_of_accuracy", "all"] == 0.0     # 11 copies 1, not 2


def test_quarantine_is_scored_per_timestamp_fault_by_reason_code(tmp_path):
    run = perfect_run()
    run["quarantine"]["reasons"] = ["missing_field", "invalid_timestamp", "invalid_timestamp"]
    run["quarantine"] = pd.concat([run["quarantine"], pd.DataFrame(
        {"source": [SRC], "record": [15], "reasons": ["malformed_row;invalid_timestamp"]})])
    values = score(tmp_path, run)
    assert values["quarantine_precision", "all"] == 0.75
    assert values["quarantine_recall", "all"] == 1.0
    assert values["quarantine_precision", "missing_timestamp"] == 1.0
    assert values["quarantine_precision", "corrupt_timestamp"] == pytest.approx(1 / 3)
    assert values["quarantine_recall", "corrupt_timestamp"] == 1.0
    assert values["quarantine_recall", "out_of_range_timestamp"] == 0.0
    assert math.isnan(values["quarantine_precision", "out_of_range_timestamp"])


def test_an_outage_is_found_only_when_a_gap_covers_it(tmp_path):
    run = perfect_run()
    run["gaps"] = pd.DataFrame({
        "service": ["a", "b", "c"],
        "gap_start": ["2025-01-01T09:59:58.000Z", "2025-01-01T11:00:05.000Z",
                      "2025-01-01T12:00:00.000Z"],
        "gap_end": ["2025-01-01T10:05:01.000Z", "2025-01-01T11:10:00.000Z",
                    "2025-01-01T12:05:00.000Z"],
        "gap_seconds": [303.0, 595.0, 300.0],
    })
    values = score(tmp_path, run)
    assert values["gap_recall", "all"] == 0.5            # b's gap starts after its outage
    assert values["gap_precision", "all"] == pytest.approx(2 / 3)   # c has no outage


def test_a_gap_of_another_service_does_not_find_an_outage(tmp_path):
    run = perfect_run()
    run["gaps"]["service"] = ["b", "a"]
    values = score(tmp_path, run)
    assert values["gap_recall", "all"] == 0.0
    assert values["gap_precision", "all"] == 0.0


def test_late_flags_are_scored_against_true_lateness(tmp_path):
    run = perfect_run()
    run["cleaned_logs"]["late"] = ["true" if r in (1, 7) else "false"
                                   for r in run["cleaned_logs"]["record"]]
    values = score(tmp_path, run)
    assert values["late_precision", "all"] == 0.5
    assert values["late_recall", "all"] == 1.0


def test_a_record_missing_from_every_artifact_is_not_accounted(tmp_path):
    run = perfect_run()
    run["cleaned_logs"] = run["cleaned_logs"][run["cleaned_logs"]["record"] != 15]
    values = score(tmp_path, run)
    assert values["records_accounted", "all"] == pytest.approx(14 / 15)


def test_empty_artifacts_give_zero_recall_and_undefined_precision(tmp_path):
    run = {name: frame.iloc[:0] for name, frame in perfect_run().items()}
    values = score(tmp_path, run)
    assert values["pairing_recall", "all"] == 0.0
    assert math.isnan(values["pairing_precision", "all"])
    assert values["pairing_f1", "all"] == 0.0
    assert values["duplicate_recall", "all"] == 0.0
    assert math.isnan(values["duration_error_median_ms", "all"])


def test_a_missing_artifact_or_column_is_an_input_error(tmp_path):
    score(tmp_path)
    (tmp_path / "run" / "gaps.csv").unlink()
    with pytest.raises(InputError, match="gaps.csv"):
        evaluate(tmp_path / "run", tmp_path / "truth")
    perfect_run()["gaps"].drop(columns="gap_end").to_csv(tmp_path / "run" / "gaps.csv",
                                                         index=False)
    with pytest.raises(InputError, match="gap_end"):
        evaluate(tmp_path / "run", tmp_path / "truth")


def test_summary_is_one_line_with_the_headline_numbers(tmp_path):
    score(tmp_path)
    path = write_evaluation(tmp_path / "run", tmp_path / "truth")
    line = summary(pd.read_csv(path, dtype_backend="pyarrow", engine="pyarrow"))
    assert "\n" not in line
    assert line.startswith("pairing F1 1.0000 (P 1.0000 R 1.0000) · status 1.0000")
    assert "gaps P/R 1.0000/1.0000" in line


# --------------------------------------------------------------------------- which logs


def test_a_run_of_other_logs_is_refused_naming_both_digests(tmp_path):
    write_truth_and_run(tmp_path)
    write_manifest(tmp_path / "run", [("other/logs.csv", OTHER_SHA256)])
    with pytest.raises(InputError) as caught:
        write_evaluation(tmp_path / "run", tmp_path / "truth")
    assert str(caught.value) == (
        f"{tmp_path / 'truth'}: this truth describes logs with sha256 {SHA256[:12]}… "
        f"(15 records), but the run read other/logs.csv "
        f"(sha256 {OTHER_SHA256[:12]}…, 15 records)")
    assert not (tmp_path / "run" / "evaluation.csv").exists()


@pytest.mark.parametrize("inputs, which", [
    ([(SRC, SHA256), ("more/logs.csv", OTHER_SHA256)], f"{SRC} among them"),
    ([("a.csv", OTHER_SHA256), ("b.csv", OTHER_SHA256)], "none of them"),
])
def test_a_run_of_several_inputs_is_refused_even_when_one_is_the_truths(tmp_path, inputs, which):
    """Record numbers restart in every input, so the other files' records would be scored too."""
    write_truth_and_run(tmp_path)
    write_manifest(tmp_path / "run", inputs)
    with pytest.raises(InputError, match=rf"read 2 inputs \({which}\); score a run of that logs "
                                         r"file alone$"):
        evaluate(tmp_path / "run", tmp_path / "truth")


def test_a_truth_without_its_logs_digest_cannot_be_checked_and_is_refused(tmp_path):
    write_truth_and_run(tmp_path)
    (tmp_path / "truth" / "logs_digest.json").unlink()
    with pytest.raises(InputError, match=r"truth: no logs_digest.json \(written by an older or "
                                         r"unfinished `logrecon generate`\), so which logs this "
                                         r"truth describes cannot be checked"):
        evaluate(tmp_path / "run", tmp_path / "truth")


@pytest.mark.parametrize("absent", ["run", "truth"])
def test_a_directory_that_does_not_exist_is_named(tmp_path, absent):
    write_truth_and_run(tmp_path)
    with pytest.raises(InputError, match=rf"{absent}-typo: no such directory$"):
        evaluate(*(tmp_path / (f"{d}-typo" if d == absent else d) for d in ("run", "truth")))


def test_a_run_without_its_manifest_is_refused(tmp_path):
    write_truth_and_run(tmp_path)
    (tmp_path / "run" / "manifest.json").unlink()
    with pytest.raises(InputError, match=r"run/manifest.json: missing: evaluation needs the "
                                         r"run's inputs and their sha256$"):
        evaluate(tmp_path / "run", tmp_path / "truth")


@pytest.fixture(scope="module")
def generated_run(tmp_path_factory):
    """Logs of seed 3 and their truth, a --no-report run of them, and the truth of seed 4."""
    root = tmp_path_factory.mktemp("generated")
    write_generated(root / "seed3", generate(2000, seed=3))
    write_generated(root / "seed4", generate(2000, seed=4))
    pipeline.run([root / "seed3" / "logs.csv"], root / "run", plots=False)
    return root


def test_the_truth_of_the_logs_the_run_read_scores_it(generated_run):
    frame = evaluate(generated_run / "run", generated_run / "seed3" / "truth")
    values = frame.set_index(["metric", "kind"])["value"]
    assert values["records_accounted", "all"] == 1.0
    assert values["pairing_f1", "all"] == 1.0
    assert values["quarantine_recall", "all"] == 1.0


def test_cli_refuses_another_seeds_truth_with_one_line_and_exit_2(generated_run, capsys):
    run, truth = generated_run / "run", generated_run / "seed4" / "truth"
    logs = generated_run / "seed3" / "logs.csv"
    described = json.loads((truth / "logs_digest.json").read_text())["sha256"]
    read = hashlib.sha256(logs.read_bytes()).hexdigest()
    assert cli.main(["evaluate", str(run), "--truth", str(truth)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"logrecon: error: {truth}: this truth describes logs with sha256 "
                   f"{described[:12]}… (2000 records), but the run read {logs} "
                   f"(sha256 {read[:12]}…, 2000 records)\n")


def test_run_with_another_seeds_truth_exits_2_and_publishes_nothing(generated_run, capsys):
    out_dir = generated_run / "refused"
    assert cli.main(["run", str(generated_run / "seed3" / "logs.csv"), "--out", str(out_dir),
                     "--no-report", "--truth", str(generated_run / "seed4" / "truth")]) == 2
    err = capsys.readouterr().err
    logs = generated_run / "seed3" / "logs.csv"
    read = hashlib.sha256(logs.read_bytes()).hexdigest()
    # Refused before the run (its input was hashed, not yet read: no record count).
    assert err.count("\n") == 1 and err.endswith(f"but the run read {logs} (sha256 {read[:12]}…)\n")
    assert not out_dir.exists() and not list(generated_run.glob(".refused*"))
