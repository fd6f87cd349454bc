"""The command line's memory policy: what is freed stays in the process and is reused."""

import subprocess
import sys

import pytest

from logrecon import memory

pytestmark = pytest.mark.skipif(memory._glibc() is None, reason="glibc's allocator only")

PROBE = """
import os, threading, numpy as np
from logrecon import memory
memory.keep_freed_memory()
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
def churn():  # 1.6 GB in 8 MB arrays, freed
    blocks = [np.ones(1 << 20) for _ in range(200)]
    del blocks
before = rss()
churn()
kept = rss()
worker = threading.Thread(target=churn)
worker.start(); worker.join()
print(before, kept, rss())
"""


def test_freed_memory_is_kept_and_reused_by_every_thread():
    before, kept, after_thread = map(int, subprocess.run([sys.executable, "-c", PROBE], capture_output=True,
                                                         text=True, check=True).stdout.split())
    assert kept - before > 1400           # kept in the process: no unmapping on free
    assert after_thread - kept < 100      # a worker thread reuses it instead of mapping more
