"""The benchmark script runs end to end on tiny data (a smoke test: nothing here times anything).

It runs in CI with the test extra alone: without polars the reference row is left out, without
psutil peak RSS is the kernel's high-water mark only.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


def test_bench_quick_writes_the_table_with_per_stage_times(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), "--quick", "--rows", "20000", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    table = (tmp_path / "latest.md").read_text(encoding="utf-8")
    assert "| 20,000 | logrecon |" in table and "Machine:" in table
    assert (tmp_path / "data" / "rows20000_seed1" / ".complete").exists()   # cached for the next run
    results = json.loads((tmp_path / "latest.json").read_text())["results"][0]
    logrecon = results["tools"]["logrecon"]
    assert logrecon["peak_rss"] > 0 and set(logrecon["timings"]) >= {"ingest", "normalize", "sessions", "metrics"}
    if importlib.util.find_spec("polars"):
        assert "| 20,000 | polars |" in table
        differ = results["agreement"]   # the reference counts the records as logrecon does
        assert not {"events", "duplicates", "quarantined"} & set(differ), differ
