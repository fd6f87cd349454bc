"""Pairing accuracy without session ids: F1 per strategy over concurrency, jitter and fault rates.

Benchmark-style: prints a markdown table (and writes benchmarks/out/sweep.md); not a test.
    python benchmarks/sweep.py [--rows 20000] [--seed 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from logrecon import pipeline
from logrecon.evaluate import evaluate
from logrecon.generate import FaultRates, generate, write_generated

STRATEGIES = ("fifo", "lifo", "latency", "auto")
SCENARIOS = [  # (label, concurrency, rate overrides)
    ("defaults", 24, {}),
    ("low concurrency (4 open)", 4, {}),
    ("high concurrency (60 open)", 60, {}),
    ("5 ms latency jitter", 24, {"latency_jitter_ms": 5}),
    ("20 ms latency jitter", 24, {"latency_jitter_ms": 20}),
    ("5% partial sessions", 24, {"partial": 0.05}),
    ("5% late arrivals", 24, {"late": 0.05}),
    ("2% clock skew", 24, {"clock_skew": 0.02}),
]


def pairing_f1(run_dir: Path, truth: Path) -> float:
    frame = evaluate(run_dir, truth)
    return float(frame[(frame["metric"] == "pairing_f1") & (frame["kind"] == "all")]["value"].iloc[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    lines = ["| scenario | " + " | ".join(STRATEGIES) + " |", "|---|" + "---:|" * len(STRATEGIES)]
    print(lines[0]), print(lines[1])
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for label, concurrency, overrides in SCENARIOS:
            rates = dataclasses.replace(FaultRates(), **overrides)
            write_generated(root / "data", generate(args.rows, seed=args.seed, session_ids=False,
                                                    rates=rates, concurrency=concurrency))
            scores = []
            for strategy in STRATEGIES:
                pipeline.run([root / "data" / "logs.csv"], root / strategy, plots=False, strategy=strategy)
                scores.append(pairing_f1(root / strategy, root / "data" / "truth"))
            lines.append(f"| {label} | " + " | ".join(f"{s:.3f}" for s in scores) + " |")
            print(lines[-1], flush=True)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "sweep.md").write_text("\n".join(lines) + "\n")
    print(f"\n{args.rows} rows per scenario, seed {args.seed}, {time.perf_counter() - started:.0f} s; "
          f"written to {out / 'sweep.md'}")


if __name__ == "__main__":
    main()
