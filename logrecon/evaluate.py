"""Score a run against the ground truth written by `logrecon generate`.

Input: a run directory (DESIGN artifacts: reconstructed_sessions.csv, duplicates.csv,
quarantine.csv, gaps.csv, cleaned_logs.csv, manifest.json) and a truth directory (sessions.csv,
records.csv, outages.csv, logs_digest.json). The run must have read exactly one input, the logs
file the truth describes (its sha256 in the manifest equals the truth's); anything else is an
InputError, since scores against another file's truth would be meaningless. Records are then
matched on their record number in that file (source paths are ignored). Output: one row per
measure, `metric, kind, value, numerator, denominator` (value = numerator / denominator for rates;
empty when the denominator is 0):

| metric | kind | right when |
|---|---|---|
| pairing_precision / _recall / _f1 | all | a reconstructed `complete` session's (start_record, stop_record) is a true pair whose expected status is `complete` |
| status_accuracy | all + each expected status | the session holding the true session's STOP record (else its START record) reports the expected status |
| duration_error_median_ms / _p95_ms | all | absolute duration error over correctly paired sessions (denominator = their count) |
| duplicate_precision / _recall | all | a removed record is an injected copy |
| duplicate_of_accuracy | all | a correctly removed copy names its true original |
| quarantine_precision / _recall | all + each timestamp fault | all: a quarantined record has a timestamp fault; per kind: quarantined with that kind's reason code (`QUARANTINE_REASONS`) |
| gap_precision / gap_recall | all | recall: an outage lies inside a reported gap of its service; precision: a reported gap overlaps an outage of its service |
| late_precision / late_recall | all | a record flagged `late` in cleaned_logs is late in truth |
| records_accounted | all | a truth record appears in cleaned_logs, duplicates or quarantine |
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .artifacts import file_sha256
from .errors import InputError

EVALUATION_COLUMNS = ("metric", "kind", "value", "numerator", "denominator")
TIMESTAMP_FAULTS = ("missing_timestamp", "corrupt_timestamp", "out_of_range_timestamp")
# The quarantine reason codes that name each injected timestamp fault.
QUARANTINE_REASONS = {
    "missing_timestamp": ("missing_field",),
    "corrupt_timestamp": ("invalid_timestamp", "ambiguous_timestamp"),
    "out_of_range_timestamp": ("timestamp_out_of_range",),
}
STATUSES = ("complete", "missing_start", "missing_stop", "clock_skew")
LOGS_DIGEST = "logs_digest.json"


# --------------------------------------------------------------------------- reading


NUMERIC = frozenset({
    "record", "start_record", "stop_record", "duplicate_of", "duplicate_of_record", "duration_ms",
})


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """The named columns of a CSV artifact: `NUMERIC` ones as float64, the rest as strings
    (nulls for empty fields), parsed by Arrow."""
    if not path.exists():
        raise InputError(str(path), "missing: evaluation needs this file")
    if path.stat().st_size == 0:
        return pd.DataFrame({c: pd.Series([], dtype=float if c in NUMERIC else "str")
                             for c in columns})
    with path.open("rb") as handle:
        header = handle.readline().decode("utf-8-sig").strip()
    present = [name.strip().strip('"') for name in header.split(",")]
    missing = [c for c in columns if c not in present]
    if missing:
        raise InputError(str(path), f"missing column {missing[0]!r}", line=1)
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            include_columns=list(columns),
            column_types={c: pa.float64() if c in NUMERIC else pa.string() for c in columns},
            strings_can_be_null=True,
            null_values=[""],
        ),
    )
    return table.to_pandas()


def _record_numbers(values: pd.Series) -> np.ndarray:
    """Record numbers as int64, -1 where empty."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan) \
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype) \
        else values.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(numbers), -1, numbers).astype(np.int64)


def _times(values: pd.Series) -> np.ndarray:
    """ISO-8601 times as int64 nanoseconds since the epoch (UTC)."""
    parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    return parsed.astype("datetime64[ns, UTC]").array.asi8


def _labels(faults: pd.Series, label: str) -> np.ndarray:
    """Rows whose `;`-separated fault list contains `label`."""
    text = faults.fillna("")
    return (";" + text + ";").str.contains(f";{label};", regex=False).to_numpy(dtype=bool)


# --------------------------------------------------------------------------- measures


def _row(metric: str, kind: str, numerator, denominator) -> dict:
    value = numerator / denominator if denominator else math.nan
    return {"metric": metric, "kind": kind, "value": value,
            "numerator": numerator, "denominator": denominator}


def _precision_recall(name: str, kind: str, reported: np.ndarray, truth: np.ndarray) -> list[dict]:
    """Precision and recall of a set of reported record numbers against the true ones."""
    reported, truth = np.unique(reported), np.unique(truth)
    hits = int(np.isin(reported, truth, assume_unique=True).sum())
    return [_row(f"{name}_precision", kind, hits, len(reported)),
            _row(f"{name}_recall", kind, hits, len(truth))]


def _pair_keys(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    return start * (1 << 32) + stop


def pairing_measures(sessions: pd.DataFrame, truth: pd.DataFrame) -> list[dict]:
    """Pairing P/R/F1, duration error on the right pairs, status accuracy per expected status."""
    status = sessions["status"].fillna("").to_numpy(dtype=str)
    start = _record_numbers(sessions["start_record"])
    stop = _record_numbers(sessions["stop_record"])
    complete = (status == "complete") & (start >= 0) & (stop >= 0)
    got_keys = _pair_keys(start[complete], stop[complete])

    t_start = _record_numbers(truth["start_record"])
    t_stop = _record_numbers(truth["stop_record"])
    expected = truth["expected_status"].fillna("").to_numpy(dtype=str)
    t_complete = expected == "complete"
    true_keys = _pair_keys(t_start[t_complete], t_stop[t_complete])

    right = np.isin(got_keys, true_keys)
    hits = int(right.sum())
    rows = [
        _row("pairing_precision", "all", hits, len(got_keys)),
        _row("pairing_recall", "all", hits, len(true_keys)),
        _row("pairing_f1", "all", 2 * hits, len(got_keys) + len(true_keys)),
    ]

    true_duration = pd.Series(
        pd.to_numeric(truth["duration_ms"]).to_numpy(dtype=float)[t_complete], index=true_keys
    )
    true_duration = true_duration[~true_duration.index.duplicated()]
    got_duration = pd.to_numeric(sessions["duration_ms"]).to_numpy(dtype=float, na_value=np.nan)
    error = np.abs(got_duration[complete][right] - true_duration.loc[got_keys[right]].to_numpy())
    error = error[~np.isnan(error)]
    for name, q in (("duration_error_median_ms", 0.5), ("duration_error_p95_ms", 0.95)):
        rows.append({"metric": name, "kind": "all",
                     "value": float(np.quantile(error, q)) if len(error) else math.nan,
                     "numerator": None, "denominator": len(error)})

    # status: the reconstructed session holding the STOP record, else the START record
    by_stop = pd.Series(status[stop >= 0], index=stop[stop >= 0])
    by_start = pd.Series(status[start >= 0], index=start[start >= 0])
    by_stop = by_stop[~by_stop.index.duplicated()]
    by_start = by_start[~by_start.index.duplicated()]
    via_stop = pd.Series(t_stop).map(by_stop).astype(object)
    via_start = pd.Series(t_start).map(by_start).astype(object)
    reported = via_stop.where(via_stop.notna(), via_start).fillna("").to_numpy(dtype=str)
    correct = reported == expected
    rows.append(_row("status_accuracy", "all", int(correct.sum()), len(expected)))
    for kind in STATUSES:
        mask = expected == kind
        rows.append(_row("status_accuracy", kind, int(correct[mask].sum()), int(mask.sum())))
    return rows


def duplicate_measures(duplicates: pd.DataFrame, records: pd.DataFrame) -> list[dict]:
    """Duplicate detection P/R, and whether each caught copy names its true original."""
    reported = _record_numbers(duplicates["record"])
    reported_of = _record_numbers(duplicates["duplicate_of_record"])
    copies = _labels(records["faults"], "duplicate")
    truth = _record_numbers(records["record"])[copies]
    truth_of = pd.Series(_record_numbers(records["duplicate_of"])[copies], index=truth)
    rows = _precision_recall("duplicate", "all", reported, truth)
    caught = np.isin(reported, truth)
    same_original = truth_of.loc[reported[caught]].to_numpy() == reported_of[caught]
    rows.append(_row("duplicate_of_accuracy", "all", int(same_original.sum()), int(caught.sum())))
    return rows


def quarantine_measures(quarantine: pd.DataFrame, records: pd.DataFrame) -> list[dict]:
    """Quarantine P/R for timestamp faults, overall and per fault kind (by reason code)."""
    reported = _record_numbers(quarantine["record"])
    reasons = quarantine["reasons"].fillna("")
    numbers = _record_numbers(records["record"])
    faulted = {kind: _labels(records["faults"], kind) for kind in TIMESTAMP_FAULTS}
    any_fault = np.logical_or.reduce(list(faulted.values()))
    rows = _precision_recall("quarantine", "all", reported, numbers[any_fault])
    for kind in TIMESTAMP_FAULTS:
        named = np.logical_or.reduce([_labels(reasons, code) for code in QUARANTINE_REASONS[kind]])
        rows += _precision_recall("quarantine", kind, reported[named], numbers[faulted[kind]])
    return rows


def gap_measures(gaps: pd.DataFrame, outages: pd.DataFrame) -> list[dict]:
    """An outage is found when a gap of its service covers it; a gap is right when it overlaps one."""
    g = pd.DataFrame({
        "service": gaps["service"].fillna("").to_numpy(dtype=str),
        "g_start": _times(gaps["gap_start"]), "g_end": _times(gaps["gap_end"]),
        "gap": np.arange(len(gaps)),
    })
    o = pd.DataFrame({
        "service": outages["service"].fillna("").to_numpy(dtype=str),
        "o_start": _times(outages["outage_start"]), "o_end": _times(outages["outage_end"]),
        "outage": np.arange(len(outages)),
    })
    both = g.merge(o, on="service")
    covers = (both["g_start"] <= both["o_start"]) & (both["g_end"] >= both["o_end"])
    overlaps = (both["g_start"] <= both["o_end"]) & (both["g_end"] >= both["o_start"])
    found = both.loc[covers, "outage"].nunique()
    right = both.loc[overlaps, "gap"].nunique()
    return [_row("gap_precision", "all", int(right), len(g)),
            _row("gap_recall", "all", int(found), len(o))]


def late_measures(cleaned: pd.DataFrame, records: pd.DataFrame) -> list[dict]:
    """Late-event detection P/R: the `late` flag in cleaned_logs against the true lateness."""
    flag = cleaned["late"].fillna("").str.strip().str.lower().isin(["true", "1", "yes"])
    reported = _record_numbers(cleaned["record"])[flag.to_numpy(dtype=bool)]
    truth = _record_numbers(records["record"])[_labels(records["faults"], "late")]
    return _precision_recall("late", "all", reported, truth)


def accounting_measures(cleaned, duplicates, quarantine, records) -> list[dict]:
    """Every true record must come back as an event, a removed duplicate or a quarantined row."""
    seen = np.concatenate([_record_numbers(f["record"]) for f in (cleaned, duplicates, quarantine)])
    truth = _record_numbers(records["record"])
    return [_row("records_accounted", "all", int(np.isin(truth, seen).sum()), len(truth))]


# --------------------------------------------------------------------------- which logs


def _short(digest: str) -> str:
    return f"{digest[:12]}…"


def _described_logs(truth: Path) -> dict:
    """The truth's logs_digest.json: sha256 and records of the logs file it describes."""
    path = truth / LOGS_DIGEST
    if not path.exists():
        raise InputError(str(truth), (
            f"no {LOGS_DIGEST} (written by an older or unfinished `logrecon generate`), so "
            "which logs this truth describes cannot be checked; generate the data again "
            "(options in params.json)"))
    try:
        described = json.loads(path.read_text(encoding="utf-8"))
        return {"sha256": str(described["sha256"]), "records": int(described["records"])}
    except (ValueError, KeyError, TypeError):
        raise InputError(str(path), "expected JSON with the logs' 'sha256' and 'records'") from None


def _run_inputs(run: Path) -> list[dict]:
    """Path, sha256 and records of each input the run read, from its manifest.json."""
    path = run / "manifest.json"
    if not path.exists():
        raise InputError(str(path), "missing: evaluation needs the run's inputs and their sha256")
    try:
        inputs = json.loads(path.read_text(encoding="utf-8"))["inputs"]
        return [{"path": str(i["path"]), "sha256": str(i["sha256"]), "records": int(i["records"])}
                for i in inputs]
    except (ValueError, KeyError, TypeError):
        raise InputError(str(path), "not a logrecon manifest: no inputs with path, sha256, "
                                    "records") from None


def check_truth_describes_run(run_dir: str | Path, truth_dir: str | Path) -> None:
    """InputError unless the run read exactly one input, the logs file the truth describes (same
    sha256). Compares the digests already in the manifest and logs_digest.json: hashes nothing."""
    run, truth = Path(run_dir), Path(truth_dir)
    if not run.is_dir():
        raise InputError(str(run), "no such directory")
    check_truth_describes(_run_inputs(run), truth)


def check_truth_describes_inputs(paths, truth_dir: str | Path) -> None:
    """`check_truth_describes_run` before a run: hashes the inputs (once more), so a wrong truth
    costs seconds, not a whole run."""
    check_truth_describes([{"path": str(p), "sha256": file_sha256(Path(p))} for p in paths], Path(truth_dir))


def check_truth_describes(inputs: list[dict], truth: Path) -> None:
    """InputError unless `inputs` ({path, sha256[, records]}) are exactly the truth's logs file."""
    if not truth.is_dir():
        raise InputError(str(truth), "no such directory")
    described = _described_logs(truth)
    matching = [i["path"] for i in inputs if i["sha256"] == described["sha256"]]
    if len(inputs) == 1 and matching:
        return
    expected = (f"this truth describes logs with sha256 {_short(described['sha256'])} "
                f"({described['records']} records)")
    if len(inputs) == 1:
        (read,) = inputs
        records = f", {read['records']} records" if "records" in read else ""
        raise InputError(str(truth), f"{expected}, but the run read {read['path']} (sha256 "
                                     f"{_short(read['sha256'])}{records})")
    # Record numbers restart in every input, so one truth cannot score a run of several files,
    # even when one of them is its logs file.
    which = f"{matching[0]} among them" if matching else "none of them"
    raise InputError(str(truth), f"{expected}, but the run read {len(inputs)} inputs ({which}); "
                                 "score a run of that logs file alone")


# --------------------------------------------------------------------------- public API


def evaluate(run_dir: str | Path, truth_dir: str | Path) -> pd.DataFrame:
    """Score a run's artifacts against the generator's truth: one row per measure.
    InputError when the truth does not describe the run's input (`check_truth_describes_run`)."""
    check_truth_describes_run(run_dir, truth_dir)
    run, truth = Path(run_dir), Path(truth_dir)
    records = _read(truth / "records.csv", ("record", "faults", "duplicate_of"))
    true_sessions = _read(truth / "sessions.csv", (
        "start_record", "stop_record", "duration_ms", "expected_status"))
    outages = _read(truth / "outages.csv", ("service", "outage_start", "outage_end"))

    sessions = _read(run / "reconstructed_sessions.csv", (
        "status", "start_record", "stop_record", "duration_ms"))
    duplicates = _read(run / "duplicates.csv", ("record", "duplicate_of_record"))
    quarantine = _read(run / "quarantine.csv", ("record", "reasons"))
    gaps = _read(run / "gaps.csv", ("service", "gap_start", "gap_end"))
    cleaned = _read(run / "cleaned_logs.csv", ("record", "late"))

    rows = (
        pairing_measures(sessions, true_sessions)
        + duplicate_measures(duplicates, records)
        + quarantine_measures(quarantine, records)
        + gap_measures(gaps, outages)
        + late_measures(cleaned, records)
        + accounting_measures(cleaned, duplicates, quarantine, records)
    )
    frame = pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))
    frame["value"] = frame["value"].astype(float)
    frame["numerator"] = frame["numerator"].astype("Int64")
    frame["denominator"] = frame["denominator"].astype("Int64")
    return frame


def write_evaluation(run_dir: str | Path, truth_dir: str | Path) -> Path:
    """Evaluate and write `run_dir/evaluation.csv` (atomically); returns its path. A truth of
    other logs is refused (InputError) before anything is written."""
    frame = evaluate(run_dir, truth_dir)
    path = Path(run_dir) / "evaluation.csv"
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    frame.to_csv(partial, index=False, float_format="%.10g")
    os.replace(partial, path)
    return path


def summary(frame: pd.DataFrame) -> str:
    """One line: pairing F1 (P/R), status accuracy, duration error, duplicates, quarantine,
    gaps and late events."""
    values = {
        (str(m), str(k)): v for m, k, v in zip(frame["metric"], frame["kind"], frame["value"])
    }

    def get(metric: str, kind: str = "all") -> str:
        value = values.get((metric, kind))
        if value is None or pd.isna(value):
            return "n/a"
        return f"{float(value):.4f}"

    def ms(metric: str) -> str:
        value = values.get((metric, "all"))
        return "n/a" if value is None or pd.isna(value) else f"{float(value):g}"

    return (
        f"pairing F1 {get('pairing_f1')} (P {get('pairing_precision')} "
        f"R {get('pairing_recall')}) · status {get('status_accuracy')} · "
        f"duration error p50 {ms('duration_error_median_ms')} ms "
        f"p95 {ms('duration_error_p95_ms')} ms · "
        f"duplicates P/R {get('duplicate_precision')}/{get('duplicate_recall')} · "
        f"quarantine P/R {get('quarantine_precision')}/{get('quarantine_recall')} · "
        f"gaps P/R {get('gap_precision')}/{get('gap_recall')} · "
        f"late P/R {get('late_precision')}/{get('late_recall')}"
    )
