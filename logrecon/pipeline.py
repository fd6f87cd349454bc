"""Compose the stages into a run: one step per stage, each writing its artifacts.

A run lives in a directory. `RunContext.create` starts one (inputs, profile, config);
`RunContext.open` reopens it, so each stage notebook can run in its own kernel: with
`persist=True` every step leaves its frames in `stages/` for the next. In one process
(`run(...)`, the CLI's `--no-report` path) the frames stay in memory.
The CLI builds a run in a temporary directory and moves it into place when complete.
"""

from __future__ import annotations

import logging
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from . import artifacts
from .config import Config
from .errors import ConfigError, InputError
from .ingest import ingest
from .metrics import metrics
from .normalize import normalize
from .readers import expand_inputs, read_input, require_columns
from .schema import ISSUE_COLUMNS, StageResult, as_events, empty_frame
from .sessions import sessions
from .validate import duplicated_services, quarantined_services, validate

log = logging.getLogger("logrecon")

STAGES_DIR = "stages"
EVENT_FRAMES = ("events", "ordered")
RUN_FILE = "run.json"
STATE_FILE = "state.json"
CSV_ARTIFACTS = ("cleaned_logs.csv", "quarantine.csv", "issues.csv", "duplicates.csv", "validation_report.csv",
                 "gaps.csv", "reconstructed_sessions.csv", "reliability_metrics.csv")
VERSIONED_PACKAGES = ("logrecon", "pandas", "numpy", "pyarrow", "seaborn", "matplotlib", "papermill", "nbconvert")


def _load_profile(profile):
    if profile is None:
        return None
    from .profiles import load_profile
    return load_profile(profile)


def build_config(config: str | Path | None = None, profile=None, **params) -> Config:
    """Defaults ← profile overrides ← config YAML ← explicit parameters (later wins)."""
    cfg = Config()
    loaded = _load_profile(profile)
    if loaded is not None:
        cfg = Config.from_mapping(loaded.config_overrides(), base=cfg, where=f"profile {loaded.name}")
    if config:
        cfg = Config.from_yaml(config, base=cfg)
    return Config.from_params(base=cfg, **params)


@dataclass
class RunContext:
    """One run directory under construction: its parameters, stage frames and bookkeeping."""

    run_dir: Path
    inputs: list[str]
    profile: str | None
    config: Config
    persist: bool = True
    plots: bool = True
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    state: dict = field(default_factory=lambda: {"timings_s": {}, "stats": {}, "inputs": []})
    _writer: ThreadPoolExecutor | None = field(default=None, repr=False)
    _pending: list = field(default_factory=list, repr=False)

    @classmethod
    def create(cls, run_dir, inputs, profile=None, config=None, params=None, persist=True,
               plots=True) -> "RunContext":
        """Start a run: resolve inputs, build the config once, remember both in the run dir."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        cfg = build_config(config, profile, **params)
        inputs = [str(p) for p in expand_inputs(inputs)]
        run = cls(Path(run_dir), inputs, str(profile) if profile else None, cfg, persist, plots)
        run.state["parameters"] = {"inputs": inputs, "profile": run.profile, "config_file": str(config) if config else None,
                                   **params, "config": cfg.to_dict()}
        run.run_dir.mkdir(parents=True, exist_ok=True)
        # Rebuilding a directory in place (a notebook re-run): until the last step it must not look
        # complete, nor keep a report or an evaluation of the data it held before.
        for stale in ("report.html", "evaluation.csv"):
            (run.run_dir / stale).unlink(missing_ok=True)
        if (run.run_dir / "manifest.json").exists():
            write_manifest(run, status="running")
        if persist:
            artifacts.write_json({"inputs": inputs, "profile": run.profile, "config": cfg.to_dict(),
                                  "plots": plots}, run.run_dir / STAGES_DIR / RUN_FILE)
            run.save_state()
        return run

    @classmethod
    def open(cls, run_dir) -> "RunContext":
        """Reopen a run started with `persist=True` (e.g. from the next stage notebook)."""
        run_dir = Path(run_dir)
        spec_path = run_dir / STAGES_DIR / RUN_FILE
        if not spec_path.exists():
            raise InputError(run_dir, "not a run directory with stage checkpoints (run the ingest step first, "
                                      "or `logrecon run` without --no-report)")
        spec = pd.read_json(spec_path, typ="series").to_dict()
        cfg = Config.from_mapping(spec["config"], where=str(spec_path))
        run = cls(run_dir, list(spec["inputs"]), spec["profile"], cfg, True, bool(spec.get("plots", True)))
        state_path = run_dir / STAGES_DIR / STATE_FILE
        if state_path.exists():
            import json
            run.state = json.loads(state_path.read_text(encoding="utf-8"))
        return run

    # ---------------------------------------------------------------- frames and bookkeeping
    def put(self, name: str, frame: pd.DataFrame) -> None:
        self.frames[name] = frame
        if self.persist:
            path = self.run_dir / STAGES_DIR / f"{name}.parquet"
            partial = artifacts.atomic_path(path)
            frame.to_parquet(partial, index=False)
            partial.replace(path)

    def get(self, name: str) -> pd.DataFrame:
        if name not in self.frames:
            path = self.run_dir / STAGES_DIR / f"{name}.parquet"
            if not path.exists():
                raise InputError(self.run_dir, f"stage output {name!r} is missing: run the earlier steps first")
            frame = pd.read_parquet(path)
            self.frames[name] = as_events(frame) if name in EVENT_FRAMES else frame
        return self.frames[name]

    def save_state(self) -> None:
        if self.persist:
            artifacts.write_json(self.state, self.run_dir / STAGES_DIR / STATE_FILE)

    def record(self, stage: str, seconds: float, result: StageResult) -> None:
        self.state["timings_s"][stage] = round(seconds, 4)
        self.state["stats"][stage] = {k: v for k, v in result.stats.items()}
        self.put(f"issues_{stage}", result.issues)
        self.save_state()
        counts = ", ".join(f"{k}={v}" for k, v in result.stats.items() if isinstance(v, (int, float)))
        log.info("%s: %s%.2f s", stage, f"{counts} in " if counts else "", seconds)

    def write(self, frame: pd.DataFrame, name: str) -> None:
        """Write an artifact CSV. In one process it is written by a background thread while the
        next stage computes (Arrow's CSV writer releases the GIL); `flush` waits for it."""
        digits = artifacts.precision_digits(max(self.state["stats"].get("ingest", {}).get("timestamp_digits", 3),
                                                artifacts.inferred_start_digits(frame)))
        if self.persist:  # a notebook kernel may end right after its step: write now
            artifacts.write_csv(frame, self.run_dir / name, digits)
            return
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logrecon-writer")
        self._pending.append(self._writer.submit(artifacts.write_csv, frame, self.run_dir / name, digits))

    def flush(self, raise_errors: bool = True) -> None:
        """Wait for every artifact being written; then re-raise the first failure (if asked)."""
        pending, self._pending = self._pending, []
        errors = [error for error in (future.exception() for future in pending) if error is not None]
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        if errors and raise_errors:
            raise errors[0]


def _timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


# ------------------------------------------------------- per-input helpers (shared with engines/)
def input_entry(path: Path, digest: str, read) -> dict:
    """The manifest's entry for one input, before row accounting is added to it."""
    return {"path": str(path), "sha256": digest, "records": int(len(read.records)) + read.skipped,
            "skipped": read.skipped, "skipped_by_reason": dict(read.skipped_by_reason),
            "file_issues": list(read.file_issues)}


# -------------------------------------------------------------------------------- the steps
def ingest_step(run: RunContext) -> StageResult:
    """Read every input, validate and type it; writes quarantine.csv."""
    started = time.perf_counter()
    profile = _load_profile(run.profile)
    paths = [Path(p) for p in run.inputs]
    with ThreadPoolExecutor(max_workers=2) as pool:
        digests = pool.map(artifacts.file_sha256, paths)  # hashing overlaps reading
        reads = [read_input(path, profile) for path in paths]
        digests = list(digests)
    for path, read in zip(paths, reads):
        require_columns(path, read)
    run.state["inputs"] = [input_entry(path, digest, read) for path, digest, read in zip(paths, digests, reads)]
    records = pd.concat([r.records for r in reads], ignore_index=True) if len(reads) > 1 else \
        reads[0].records if reads else pd.DataFrame()
    del reads  # the raw text is the largest thing in memory: let it go as soon as it is copied
    if not len(records.columns):
        records = pd.DataFrame({"source": pd.Series([], dtype="str"), "record": pd.Series([], dtype="int64")})
    result = ingest(records, run.config.ingest)
    del records
    run.put("events", result.frame)
    run.put("quarantine", result.tables["quarantine"])
    run.write(result.tables["quarantine"], "quarantine.csv")
    run.record("ingest", time.perf_counter() - started, result)
    return result


def normalize_step(run: RunContext) -> StageResult:
    """Dedup, lateness, analysis order; writes cleaned_logs.csv and duplicates.csv."""
    events = run.get("events")
    unknown = [c for c in run.config.normalize.dedup_key if c not in events.columns]
    if unknown:
        raise ConfigError("config", "normalize.dedup_key", f"no column {', '.join(map(repr, unknown))} in the "
                          f"events; columns: {', '.join(c for c in events.columns if c != 'arrival')}")
    result, seconds = _timed(normalize, events, run.config.normalize)
    del events
    run.frames.pop("events")  # superseded by the ordered frame (a checkpoint stays on disk if persisted)
    run.put("ordered", result.frame)
    run.put("duplicates", result.tables["duplicates"])
    run.write(result.frame.drop(columns="arrival"), "cleaned_logs.csv")
    run.write(result.tables["duplicates"], "duplicates.csv")
    run.record("normalize", seconds, result)
    return result


def validate_step(run: RunContext) -> StageResult:
    """Per-service checks and gaps; writes validation_report.csv and gaps.csv."""
    result, seconds = _timed(validate, run.get("ordered"), run.get("duplicates"), run.get("quarantine"),
                             run.config.validate)
    run.put("checks", result.frame)
    run.put("gaps", result.tables["gaps"])
    run.write(result.frame, "validation_report.csv")
    run.write(result.tables["gaps"], "gaps.csv")
    run.record("validate", seconds, result)
    return result


def sessions_step(run: RunContext) -> StageResult:
    """START/STOP pairing; writes reconstructed_sessions.csv."""
    result, seconds = _timed(sessions, run.get("ordered"), run.config.sessions)
    frame = result.frame
    run.put("sessions", frame)
    run.write(frame, "reconstructed_sessions.csv")
    run.record("sessions", seconds, result)
    return result


def metrics_step(run: RunContext) -> StageResult:
    """Reliability metrics, all issues, plots and the manifest."""
    ordered = run.get("ordered")
    quarantine = run.get("quarantine")
    result, seconds = _timed(
        metrics, ordered, run.get("sessions"), run.get("checks"),
        duplicates_by_service=duplicated_services(ordered, run.get("duplicates")),
        quarantined_by_service=quarantined_services(quarantine), gaps=run.get("gaps"),
        cfg=run.config.metrics)
    run.put("metrics", result.frame)
    run.write(result.frame, "reliability_metrics.csv")
    run.write(all_issues(run), "issues.csv")
    run.record("metrics", seconds, result)
    if run.plots:
        from . import plots
        started = time.perf_counter()
        plots.write_plots(run.run_dir / "plots", cleaned=ordered, gaps=run.get("gaps"), metrics=result.frame,
                          sessions=run.get("sessions"), checks=run.get("checks"))
        run.state["timings_s"]["plots"] = round(time.perf_counter() - started, 4)
    write_manifest(run, status="complete")
    return result


STEPS = (("ingest", ingest_step), ("normalize", normalize_step), ("validate", validate_step),
         ("sessions", sessions_step), ("metrics", metrics_step))


def all_issues(run: RunContext) -> pd.DataFrame:
    frames = [run.get(f"issues_{stage}") for stage, _ in STEPS if stage != "metrics"]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True).loc[:, list(ISSUE_COLUMNS)] if frames else empty_frame(ISSUE_COLUMNS)


def row_accounting(run: RunContext) -> dict:
    """records read = events + duplicates + quarantined + skipped, per input and in total."""
    ordered, duplicates, quarantine = run.get("ordered"), run.get("duplicates"), run.get("quarantine")
    events = ordered["source"].value_counts()
    removed = duplicates["source"].value_counts()
    held = quarantine["source"].value_counts()
    per_input = {}
    for entry in run.state["inputs"]:
        path = entry["path"]
        per_input[path] = {"records_read": entry["records"], "events": int(events.get(path, 0)),
                           "duplicates": int(removed.get(path, 0)), "quarantined": int(held.get(path, 0)),
                           "skipped": entry["skipped"]}
    total = {key: sum(v[key] for v in per_input.values()) for key in
             ("records_read", "events", "duplicates", "quarantined", "skipped")}
    balanced = all(v["records_read"] == v["events"] + v["duplicates"] + v["quarantined"] + v["skipped"]
                   for v in [*per_input.values(), total])
    return {**total, "balanced": balanced, "per_input": per_input}


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def write_manifest(run: RunContext, status: str, error: str | None = None) -> Path:
    if status == "complete":
        run.flush()  # "complete" only once every artifact is on disk
    accounting = row_accounting(run) if status == "complete" else None
    inputs = [{**entry, **({k: v for k, v in accounting["per_input"][entry["path"]].items()} if accounting else {})}
              for entry in run.state.get("inputs", [])]
    manifest = {
        "status": status, "error": error, "inputs": inputs,
        "parameters": run.state.get("parameters", {"config": run.config.to_dict()}),
        "versions": versions(),
        "row_accounting": {k: v for k, v in (accounting or {}).items() if k != "per_input"},
        "timings_s": run.state["timings_s"],
        "stats": run.state["stats"],
        "empty_run": bool(accounting and accounting["records_read"] == 0),
    }
    return artifacts.write_json(manifest, run.run_dir / "manifest.json")


def run_all(run: RunContext) -> dict[str, StageResult]:
    """Every step in order, in this process; no artifact is still being written when it returns."""
    try:
        results = {name: step(run) for name, step in STEPS}
    except BaseException:
        run.flush(raise_errors=False)
        raise
    run.flush()
    return results


def run(inputs, out, profile=None, config=None, plots=True, **params) -> dict[str, StageResult]:
    """The Python API's one call: run every stage on `inputs`, writing artifacts into `out`
    (in place; the CLI adds the atomic temporary directory and the report)."""
    context = RunContext.create(out, inputs, profile=profile, config=config, params=params, persist=False,
                                plots=plots)
    return run_all(context)


