"""Command line: a thin adapter that merges options and calls the Python API.

Exit codes: 0 done; 1 a --fail-on threshold was breached (the run is still complete);
2 unusable input or configuration (one line says what and where); 3 an internal error.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import operator
import os
import re
import shutil
import signal
import sys
from pathlib import Path

from . import memory, pipeline
from .errors import ConfigError, LogreconError, OutputError
from .schema import ALL, run_rows

log = logging.getLogger("logrecon")
COMPARISONS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
FAIL_ON = re.compile(r"^\s*(?:(?P<service>[^:]+):)?(?P<metric>[a-z_0-9]+)\s*(?P<op>>=|<=|==|>|<)\s*(?P<value>[-+0-9.eE]+)\s*$")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logrecon", description="Reconstruct trustworthy timelines from imperfect logs.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    quiet_here_too = argparse.ArgumentParser(add_help=False)  # `logrecon run -q …` as well as `logrecon -q run …`
    quiet_here_too.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                                help="only warnings and errors")
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="synthetic logs with ground truth", parents=[quiet_here_too])
    generate.add_argument("--out", required=True, type=Path)
    from .generate import add_cli_arguments
    add_cli_arguments(generate)

    run = commands.add_parser("run", help="run the pipeline on log files", parents=[quiet_here_too])
    run.add_argument("inputs", nargs="+", help="files, globs or directories (rotated logs in order)")
    run.add_argument("--profile", help="built-in profile name or a profile YAML")
    run.add_argument("--config", type=Path, help="config YAML ({section: {key: value}})")
    run.add_argument("--out", type=Path, help="run directory (default reports/<input name>)")
    run.add_argument("--no-report", action="store_true", help="skip notebooks, plots and report.html")
    run.add_argument("--gap-threshold", help="seconds, or 'auto' (per service)")
    run.add_argument("--strategy", choices=("auto", "fifo", "lifo", "latency"), help="pairing without session ids")
    run.add_argument("--engine", choices=("pandas", "dask"), default="pandas")
    run.add_argument("--scheduler", help="dask scheduler address (default: a local cluster)")
    run.add_argument("--truth", type=Path, help="ground truth dir: evaluate the run and add it to the report")
    run.add_argument("--fail-on", action="append", default=[], metavar="EXPR",
                     help="e.g. 'error_rate>0.05' or 'api:consistency_score<0.9' (exit 1 when breached)")

    evaluate = commands.add_parser("evaluate", help="score a run against ground truth", parents=[quiet_here_too])
    evaluate.add_argument("run_dir", type=Path)
    evaluate.add_argument("--truth", required=True, type=Path,
                          help="the `logrecon generate` truth dir of the logs file the run read")
    return parser


def _fail_on_metrics() -> tuple[str, ...]:
    """The numeric columns of reliability_metrics.csv a --fail-on rule may name."""
    from .schema import METRIC_COLUMNS
    return (*METRIC_COLUMNS[1:-1], "latency_min_ms")


def _parse_fail_on(expressions: list[str]) -> list[tuple]:
    """Checked before the run starts: a typo must not cost a whole run (nor publish one and exit 2)."""
    parsed = []
    for expression in expressions:
        match = FAIL_ON.match(expression)
        try:
            value = float(match["value"]) if match else None
        except ValueError:
            match = None
        if not match:
            raise ConfigError("--fail-on", expression, "expected [service:]metric<op>number, e.g. error_rate>0.05")
        if match["metric"] not in _fail_on_metrics():
            raise ConfigError("--fail-on", match["metric"], f"unknown metric; known: {', '.join(_fail_on_metrics())}")
        parsed.append((expression, match["service"], match["metric"], COMPARISONS[match["op"]], value))
    return parsed


def _gated_rows(metrics, service: str):
    """The rows a `service:` prefix names: `ALL:` is the whole run's row (even beside a service
    named ALL, which a rule without a prefix still covers); any other name is that service's row."""
    is_run = run_rows(metrics)
    return is_run if service == ALL else ~is_run & (metrics["service"] == service).to_numpy()


def breached(metrics, rules) -> list[str]:
    """The --fail-on expressions the metrics breach, with the rows that breach them. A rule whose
    metric is empty on every row it names (no latencies, say) cannot be judged: ConfigError, not
    a gate that silently passes; rows where it is empty are named in a warning."""
    found = []
    for expression, service, metric, compare, value in rules:
        if metric not in metrics.columns or metric not in _fail_on_metrics():
            raise ConfigError("--fail-on", metric, f"unknown metric; known: {', '.join(_fail_on_metrics())}")
        rows = metrics if service is None else metrics[_gated_rows(metrics, service)]
        if service is not None and rows.empty:  # a typo in a gate must not pass silently
            raise ConfigError("--fail-on", expression, f"no service {service!r} in this run; services: "
                              f"{', '.join(metrics.loc[~run_rows(metrics), 'service'].astype(str))}, and ALL")
        values = rows[metric].astype(float)
        if values.isna().all():
            raise ConfigError("--fail-on", expression, f"{metric} is empty in this run (e.g. no latencies): "
                                                       "nothing to judge")
        if values.isna().any():
            print(f"logrecon: warning: --fail-on {expression}: {metric} is empty for "
                  f"{', '.join(_row_names(rows[values.isna().to_numpy()]))}; not judged there", file=sys.stderr)
        hits = rows[compare(values, value)]
        if len(hits):
            found.append(f"{expression}: " + ", ".join(f"{s}={v:g}" for s, v in zip(_row_names(hits), hits[metric])))
    return found


def _row_names(rows) -> list[str]:
    """Service names of metrics rows; a service named ALL is `ALL (service)`, the run row `ALL`."""
    names = rows["service"].astype(str)
    return names.where(run_rows(rows) | (names != ALL), f"{ALL} (service)").tolist()


def _default_out(inputs: list[str]) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(inputs[0]).name.split(".")[0]) or "run"
    return Path("reports") / name.lstrip(".")


def _refuse_default_out_of_other_inputs(out: Path, inputs: list[Path]) -> None:
    """The default --out is named after the first input's stem: `day1/app.csv` and `day2/app.csv`
    share `reports/app`. Replacing a run of other files needs the user to say so with --out."""
    manifest = out / "manifest.json"
    if not manifest.exists():
        return
    try:
        previous = json.loads(manifest.read_text(encoding="utf-8"))["parameters"]["inputs"]
    except (ValueError, KeyError, TypeError):
        return  # not ours to judge: _replaceable decides whether it may be replaced
    if sorted(str(Path(p).resolve()) for p in previous) != sorted(str(Path(p).resolve()) for p in inputs):
        raise OutputError(out, f"holds a run of {', '.join(map(str, previous))}; pass --out to replace it "
                               "or to name this run")


def _replaceable(out: Path, inputs: list[Path]) -> None:
    """`--out` may name a new path, an empty directory or a previous run; never a file, a folder
    of other things, or a folder holding an input, which publishing would delete."""
    if out.name in ("", ".", ".."):
        raise OutputError(out, "not a run directory name; name the run, e.g. --out reports/today")
    if out.exists() and not out.is_dir():
        raise OutputError(out, "exists and is not a directory; refusing to replace it")
    if out.is_dir() and not (out / "manifest.json").exists() and any(out.iterdir()):
        raise OutputError(out, "exists and is not a logrecon run (no manifest.json); refusing to replace it")
    inside = [str(p) for p in inputs if out.resolve() in Path(p).resolve().parents]
    if inside:
        raise OutputError(out, f"holds the input {inside[0]}, which replacing the run would delete; "
                               "choose another --out or move the input")


def _remove_abandoned_staging(out: Path) -> None:
    """Staging directories of this --out left by a process that no longer exists (killed with
    SIGKILL or by the OOM killer: it had no chance to clean up)."""
    for staging in out.parent.glob(f".{glob.escape(out.name)}.partial-*"):
        pid = staging.name.rsplit("-", 1)[1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(staging, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


def _staging_dir(out: Path, inputs: list[Path]) -> Path:
    _replaceable(out, inputs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out.parent, f"cannot create the output directory: {exc.strerror}") from None
    _remove_abandoned_staging(out)
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    try:
        staging.mkdir()
    except OSError as exc:
        raise OutputError(out.parent, f"cannot write here: {exc.strerror}") from None
    return staging


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where the
    system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _publish(staging: Path, out: Path) -> None:
    """Swap the finished run into place; the previous one is removed only after.

    Where the system can, one atomic exchange: `out` always holds a complete run, the previous
    one or the new one. Elsewhere two renames, with a moment where the previous run is hidden."""
    if out.exists() and _exchange(staging, out):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the previous run
        return
    previous = out.parent / f".{out.name}.previous-{os.getpid()}"
    if out.exists():
        out.rename(previous)
    staging.rename(out)
    if previous.exists():
        shutil.rmtree(previous, ignore_errors=True)


def _keep_failed(staging: Path, out: Path, error: Exception) -> Path:
    """Keep a run whose report failed, under a name that says so, for its executed notebooks."""
    failed = out.parent / f"{out.name}.failed"
    shutil.rmtree(failed, ignore_errors=True)
    staging.rename(failed)
    manifest = failed / "manifest.json"
    if manifest.exists():  # a failed run never looks complete
        data = json.loads(manifest.read_text(encoding="utf-8"))
        data.update(status="failed", error=str(error))
        manifest.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return failed


def command_run(args) -> int:
    rules = _parse_fail_on(args.fail_on)
    if args.scheduler and args.engine != "dask":
        raise ConfigError("--scheduler", args.scheduler, "needs --engine dask (the pandas engine runs here)")
    out = args.out or _default_out(args.inputs)
    params = {"gap_threshold": args.gap_threshold, "strategy": args.strategy}
    # Resolve inputs and config before touching the output: bad input leaves nothing behind.
    pipeline.build_config(args.config, args.profile, **{k: v for k, v in params.items() if v is not None})
    from .readers import expand_inputs
    inputs = expand_inputs(args.inputs)
    if args.truth is not None:  # a truth of other logs would be refused after the whole run
        from .evaluate import check_truth_describes_inputs
        check_truth_describes_inputs(inputs, args.truth)
    if args.out is None:
        _refuse_default_out_of_other_inputs(out, inputs)
    staging = _staging_dir(out, inputs)
    try:
        if args.engine == "dask":
            from .engines.dask import run_dask
            run_dask(args.inputs, staging, profile=args.profile, config=args.config, scheduler=args.scheduler, **params)
        elif args.no_report:
            context = pipeline.RunContext.create(staging, args.inputs, profile=args.profile, config=args.config,
                                                 params=params, persist=False, plots=False)
            pipeline.run_all(context)
        else:
            from . import report
            report.execute_notebooks(staging, {
                "inputs": [str(p) for p in args.inputs], "profile": args.profile,
                "config": str(args.config) if args.config else None, "run_dir": str(staging),
                "gap_threshold": args.gap_threshold, "strategy": args.strategy,
                "truth": str(args.truth) if args.truth else None}, progress=not args.quiet and sys.stderr.isatty())  # no bars in CI logs
            report.render_report(staging / "notebooks" / "05_reliability_report.ipynb", staging / "report.html")
        if args.truth is not None and (args.no_report or args.engine == "dask"):
            from .evaluate import write_evaluation
            write_evaluation(staging, args.truth)
    except BaseException as exc:
        from .report import ReportError
        if isinstance(exc, ReportError) and exc.ename in ("InputError", "ConfigError", "OutputError"):
            # Unusable input found by the ingest notebook: the report did not fail, so the same
            # one-line error as with --no-report, and nothing kept.
            shutil.rmtree(staging, ignore_errors=True)
            raise LogreconError(exc.evalue) from None
        if isinstance(exc, ReportError):
            failed = _keep_failed(staging, out, exc)  # the message must name where the notebooks now are
            exc.args = (f"{str(exc).replace(str(staging.resolve()), str(failed.resolve()))} (kept in {failed})",)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    from . import artifacts
    metrics = artifacts.read_csv(staging / "reliability_metrics.csv")
    try:
        problems = breached(metrics, rules)  # a gate naming no service of this run is exit 2, unpublished
    except ConfigError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _publish(staging, out)
    for problem in problems:
        print(f"logrecon: --fail-on breached: {problem}", file=sys.stderr)
    try:
        _summarise(out, metrics, args)
    except OSError:  # stdout closed or full (`| head -1`): the run is published, its exit code stands
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 — nothing more may reach the closed stream
    return 1 if problems else 0


def _summarise(out: Path, metrics, args) -> None:
    """The closing lines on stdout: where the run is, its counts, what was not read, the report."""
    print(f"logrecon: run complete: {out}/")
    overall = metrics[run_rows(metrics)]
    if len(overall):
        row = overall.iloc[0]
        print(f"  {int(row['events'])} events, {int(row['duplicates'])} duplicates removed, "
              f"{int(row['quarantined'])} quarantined; sessions: {int(row['sessions_complete'])} complete, "
              f"{int(row['sessions_missing_stop'])} missing_stop, {int(row['sessions_missing_start'])} missing_start")
    _say_what_was_not_read(json.loads((out / "manifest.json").read_text(encoding="utf-8")))
    if (out / "report.html").exists():
        print(f"  report: {out / 'report.html'}")
    elif args.engine == "dask" and not args.no_report:
        print("  no report: the Dask engine writes the CSV artifacts and the manifest (see README, Engines)")
    sys.stdout.flush()  # a closed pipe shows here, not at exit


def _say_what_was_not_read(manifest: dict) -> None:
    """Skipped lines by reason, and a warning when records were read but none became an event
    (a profile that matches nothing must not look like a quiet, healthy run)."""
    if manifest.get("empty_run"):
        print("  the input holds no records (empty or header-only): an empty, complete run")
        return
    skipped: dict[str, int] = {}
    for entry in manifest.get("inputs", []):
        for reason, count in entry.get("skipped_by_reason", {}).items():
            skipped[reason] = skipped.get(reason, 0) + count
    if skipped:
        print("  skipped lines: " + ", ".join(f"{count} {reason}" for reason, count in sorted(skipped.items())))
    accounting = manifest.get("row_accounting", {})
    if accounting.get("records_read") and not accounting.get("events"):
        print(f"logrecon: warning: {accounting['records_read']} records read and none is an event "
              "(is the --profile right for these logs?)", file=sys.stderr)


def command_generate(args) -> int:
    from .generate import cli_generate_kwargs, generate, write_generated
    options = cli_generate_kwargs(args)
    if args.out.exists() and not args.out.is_dir():
        raise OutputError(args.out, "exists and is not a directory")
    if args.out.is_dir() and any(args.out.iterdir()) and not (args.out / "truth" / "params.json").exists():
        raise OutputError(args.out, "holds other files, not an earlier `logrecon generate` output (no "
                                    "truth/params.json); refusing to overwrite them")
    generated = generate(**options)
    try:
        written = write_generated(args.out, generated)
    except OSError as exc:
        raise OutputError(Path(exc.filename or args.out), f"cannot write: {exc.strerror}") from None
    print(f"logrecon: generated {options['rows']} rows: {written['logs']} (truth in {args.out / 'truth'})")
    return 0


def command_evaluate(args) -> int:
    from .evaluate import summary, write_evaluation
    path = write_evaluation(args.run_dir, args.truth)
    from . import artifacts
    print(summary(artifacts.read_csv(path)))
    print(f"logrecon: evaluation written: {path}")
    return 0


COMMANDS = {"run": command_run, "generate": command_generate, "evaluate": command_evaluate}


def _one_line(exc: BaseException) -> str:
    """The message on one line (a YAML or notebook error spans several), so scripts can grep it."""
    return re.sub(r"\s*\n\s*", " ", str(exc).strip())


def _terminated(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="logrecon: %(message)s", stream=sys.stderr)
    logging.getLogger("papermill").setLevel(logging.WARNING)  # our progress bar says what runs
    signal.signal(signal.SIGTERM, _terminated)  # a CI timeout or `kill` cleans up like Ctrl-C
    if args.command == "run":
        memory.keep_freed_memory()
    try:
        return COMMANDS[args.command](args)
    except LogreconError as exc:
        print(f"logrecon: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("logrecon: interrupted; no run was published", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: one line, not a traceback; LOGRECON_DEBUG=1 shows it
        if os.environ.get("LOGRECON_DEBUG"):
            raise
        print(f"logrecon: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(set LOGRECON_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
