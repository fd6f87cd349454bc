"""Benchmark: `logrecon run --no-report` against a Polars reference doing the same work.

    python benchmarks/bench.py                      # 1M and 10M rows (make bench)
    python benchmarks/bench.py --quick              # 100k rows, one run
    python benchmarks/bench.py --rows 2000000 --repeat 5 --dask

For each size N: `logrecon generate --rows N --seed S` once (cached in benchmarks/out/data/,
keyed by rows and seed), then each tool runs as its own subprocess, `--repeat` times,
interleaved. Reported per tool: wall time (best of the runs), rows/s, peak RSS (highest of the
runs), and the ratios logrecon / Polars; then how time grows with size, logrecon's per-stage
times (from the fastest run's manifest.json `timings_s`), whether the two agree on the counts,
and the machine. The table is printed and written to benchmarks/out/latest.md.

Peak RSS of a run is the larger of two readings, both of the measured process *tree*:
- the kernel's high-water mark (`ru_maxrss` from `os.wait4` on the child: the largest of the
  child and its reaped descendants; exact for a single process, which both tools are with the
  pandas engine and Polars);
- the sum of RSS over the child and all its live descendants, sampled every 20 ms with psutil
  (the list of descendants refreshed every 0.5 s; catches multi-process trees such as
  `--engine dask`'s local workers; may miss a spike shorter than 20 ms).
The benchmark process itself is never counted. Wall time includes interpreter start-up and
imports: it is what a user waits for.

Not a test: nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
REFERENCE = HERE / "reference_polars.py"
POLL_S = 0.02            # RSS sampling period
RESCAN_S = 0.5           # how often the list of descendants is refreshed (a /proc walk)
STAGES = ("ingest", "normalize", "validate", "sessions", "metrics")
AGREEMENT = ("events", "duplicates", "quarantined", "late_events", "gaps", "sessions_complete",
             "sessions_missing_stop", "sessions_missing_start", "sessions_clock_skew")

try:
    import psutil
except ImportError:  # the [bench] extra is missing: the kernel high-water mark alone
    psutil = None


# ----------------------------------------------------------------------------- measuring
def _descendants(process) -> list:
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return [process]


def _tree_rss(members: list) -> int:
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss   # one /proc/<pid>/statm read
        except psutil.Error:
            pass
    return total


def measure(command: list[str], log: Path, env: dict | None = None) -> dict:
    """Run `command` to completion; wall seconds, peak RSS bytes of its tree, exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    with open(log, "wb") as sink:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        sampled, members, rescan = 0, [], 0.0
        watched = psutil.Process(child.pid) if psutil is not None else None
        while True:
            if watched is None:
                pid, status, usage = os.wait4(child.pid, 0)
            else:
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter()
            if now >= rescan:  # new worker processes are found within RESCAN_S
                members, rescan = _descendants(watched), now + RESCAN_S
            sampled = max(sampled, _tree_rss(members))
            time.sleep(POLL_S)
        wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen.wait
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss": max(sampled, usage.ru_maxrss * 1024),
            "rc": child.returncode, "sampled_rss": sampled, "maxrss": usage.ru_maxrss * 1024,
            "load_before": load}


# ----------------------------------------------------------------------------- data
def dataset(rows: int, seed: int, out: Path) -> Path:
    """Generated logs for (rows, seed), made once; a crash mid-way never looks complete."""
    folder = out / "data" / f"rows{rows}_seed{seed}"
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"bench: generating {rows:,} rows (seed {seed}) into {folder} …", flush=True)
        subprocess.run([sys.executable, "-m", "logrecon.cli", "-q", "generate", "--out", str(folder),
                        "--rows", str(rows), "--seed", str(seed)], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
        done.touch()
    return folder / "logs.csv"


# ----------------------------------------------------------------------------- tools
def tool_commands(logs: Path, run_dir: Path, gap_threshold: float, with_dask: bool) -> dict[str, list[str]]:
    logrecon = [sys.executable, "-m", "logrecon.cli", "-q", "run", str(logs), "--no-report",
                "--gap-threshold", f"{gap_threshold:g}"]
    commands = {
        "logrecon": [*logrecon, "--out", str(run_dir / "logrecon")],
        "polars": [sys.executable, str(REFERENCE), str(logs), str(run_dir / "polars"),
                   "--gap-threshold", f"{gap_threshold:g}"],
    }
    if with_dask:
        commands["logrecon-dask"] = [*logrecon, "--engine", "dask", "--out", str(run_dir / "logrecon-dask")]
    return commands


def _all_row(path: Path) -> dict:
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("scope", "run") == "run" and row["service"] == "ALL":  # the run row, not a service named ALL
                return row
    return {}


def agreement(run_dir: Path) -> dict | None:
    """Counts (ALL row) where logrecon and the reference differ: {name: [logrecon, polars]}."""
    ours, theirs = _all_row(run_dir / "logrecon" / "reliability_metrics.csv"), \
        _all_row(run_dir / "polars" / "reliability_metrics.csv")
    if not ours or not theirs:
        return None
    return {k: [ours[k], theirs[k]] for k in AGREEMENT
            if k in ours and k in theirs and float(ours[k]) != float(theirs[k])}


def _agreement_text(differ: dict | None) -> str:
    if differ is None:
        return "n/a"
    return "all equal" if not differ else "; ".join(f"{k} {a} vs {b}" for k, (a, b) in differ.items())


# ----------------------------------------------------------------------------- machine
def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = None
    if psutil is not None:
        ram = psutil.virtual_memory().total
    else:
        try:
            ram = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
    found = {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(ram / 2**30, 1) if ram else None,
             "os": f"{platform.system()} {platform.release()}", "python": platform.python_version()}
    for name in ("logrecon", "pandas", "numpy", "pyarrow", "polars", "dask"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


# ----------------------------------------------------------------------------- report
def _mb(value: float) -> str:
    return f"{value / 2**20:,.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def render(results: list[dict], info: dict, args) -> str:
    machine_line = (f"Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM, {info['os']}; "
                    f"Python {info['python']}, pandas {info['pandas']}, numpy {info['numpy']}, "
                    f"pyarrow {info['pyarrow']}, polars {info['polars']}, dask {info['dask']}, "
                    f"logrecon {info['logrecon']}.")
    work_line = (f"Work: `logrecon run --no-report --gap-threshold {args.gap_threshold:g}` vs the Polars reference "
                 f"(`benchmarks/reference_polars.py`) on `logrecon generate --rows N --seed {args.seed}` output. "
                 f"Wall: best of {args.repeat}, with that run's CPU time (user + system, the process tree) and the "
                 f"1-minute load average when it started ({info['cores']} cores: above that, others were competing); "
                 f"peak RSS: highest of {args.repeat} (whole process tree).")
    lines = [f"## logrecon benchmark ({time.strftime('%Y-%m-%d %H:%M')})", "", machine_line, "", work_line, "",
             "| rows | tool | wall s | CPU s | rows/s | peak RSS MB | time / Polars | RSS / Polars | load |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for result in results:
        polars = result["tools"].get("polars")
        for tool, best in result["tools"].items():
            lines.append(
                f"| {result['rows']:,} | {tool} | {best['wall_s']:.2f} | {best['cpu_s']:.1f} | "
                f"{result['rows'] / best['wall_s']:,.0f} | {_mb(best['peak_rss'])} | "
                f"{_ratio(best['wall_s'], polars and polars['wall_s'])} | "
                f"{_ratio(best['peak_rss'], polars and polars['peak_rss'])} | {best['load_before']:.1f} |")
    if len(results) > 1:
        small, large = results[0], results[-1]
        scale = large["rows"] / small["rows"]
        growth = ", ".join(f"{tool} {large['tools'][tool]['wall_s'] / small['tools'][tool]['wall_s']:.1f}×"
                           for tool in large["tools"] if tool in small["tools"])
        lines += ["", f"Time at {large['rows']:,} rows / time at {small['rows']:,} rows ({scale:g}× the rows): {growth}."]
    stages_line = ("logrecon per stage (s, fastest run's manifest `timings_s`; *other* = wall − stages: "
                   "interpreter start-up, imports, writes outside stage timings, manifest):")
    lines += ["", stages_line, "",
              "| rows | " + " | ".join(STAGES) + " | other | wall |", "|---:|" + "---:|" * (len(STAGES) + 2)]
    for result in results:
        best = result["tools"].get("logrecon")
        if not best or not best.get("timings"):
            continue
        timings = best["timings"]
        staged = sum(timings.get(s, 0.0) for s in STAGES)
        lines.append(f"| {result['rows']:,} | " + " | ".join(f"{timings.get(s, 0.0):.2f}" for s in STAGES)
                     + f" | {best['wall_s'] - staged:.2f} | {best['wall_s']:.2f} |")
    lines += ["", "Agreement (ALL row of reliability_metrics.csv, logrecon vs Polars reference): "]
    lines += [f"- {result['rows']:,} rows ({', '.join(AGREEMENT)}): {_agreement_text(result['agreement'])}"
              for result in results]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", help="sizes (default 1000000 10000000; --quick: 100000)")
    parser.add_argument("--quick", action="store_true", help="100k rows, one run")
    parser.add_argument("--repeat", type=int, help="runs per tool and size (default 3; --quick: 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--gap-threshold", type=float, default=300.0, help="fixed gap threshold, seconds")
    parser.add_argument("--dask", action="store_true", help="also time `--engine dask` (local cluster)")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="data cache, runs and latest.md")
    args = parser.parse_args(argv)
    args.rows = args.rows or ([100_000] if args.quick else [1_000_000, 10_000_000])
    args.repeat = args.repeat or (1 if args.quick else 3)
    try:
        import polars  # noqa: F401
        has_polars = True
    except ImportError:
        has_polars = False
        print("bench: polars is not installed (pip install -e '.[bench]'): logrecon only", file=sys.stderr)
    if psutil is None:
        print("bench: psutil is not installed: peak RSS is the kernel high-water mark only", file=sys.stderr)

    info = machine()
    results = []
    for rows in sorted(args.rows):
        logs = dataset(rows, args.seed, args.out)
        run_dir = args.out / "runs" / f"rows{rows}"
        commands = tool_commands(logs, run_dir, args.gap_threshold, args.dask)
        if not has_polars:
            commands.pop("polars")
        runs: dict[str, list[dict]] = {tool: [] for tool in commands}
        for attempt in range(args.repeat):
            for tool, command in commands.items():
                measured = measure(command, run_dir / "logs" / f"{tool}-{attempt + 1}.log")
                if measured["rc"] != 0:
                    print((run_dir / "logs" / f"{tool}-{attempt + 1}.log").read_text(errors="replace")[-3000:],
                          file=sys.stderr)
                    raise SystemExit(f"bench: {tool} failed on {rows:,} rows (exit {measured['rc']})")
                manifest = run_dir / tool / "manifest.json"
                if manifest.exists():
                    measured["timings"] = json.loads(manifest.read_text())["timings_s"]
                runs[tool].append(measured)
                print(f"bench: {rows:>11,} rows  {tool:<14} run {attempt + 1}/{args.repeat}: "
                      f"{measured['wall_s']:7.2f} s  {_mb(measured['peak_rss']):>7} MB", flush=True)
        tools = {}
        for tool, measured in runs.items():
            fastest = min(measured, key=lambda m: m["wall_s"])
            tools[tool] = {**fastest, "peak_rss": max(m["peak_rss"] for m in measured)}
        results.append({"rows": rows, "tools": tools, "agreement": agreement(run_dir)})

    table = render(results, info, args)
    print()
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(table, encoding="utf-8")
    (args.out / "latest.json").write_text(json.dumps({"machine": info, "results": results}, indent=2) + "\n")
    print(f"bench: written {args.out / 'latest.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
