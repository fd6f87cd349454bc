"""The run's memory policy: freed memory stays in the process until a stage boundary gives it back."""

import subprocess
import sys

import pytest

from logrecon import memory

pytestmark = pytest.mark.skipif(memory._glibc() is None, reason="glibc's allocator only")

PROBE = """
import os, numpy as np
from logrecon import memory
memory.keep_freed_memory()
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
before = rss()
blocks = [np.ones(1 << 20) for _ in range(200)]   # 1.6 GB in 8 MB arrays
del blocks
kept = rss()
memory.release_freed_memory()
print(before, kept, rss())
"""


def test_freed_memory_is_kept_until_released():
    before, kept, released = map(int, subprocess.run([sys.executable, "-c", PROBE], capture_output=True,
                                                     text=True, check=True).stdout.split())
    assert kept - before > 1400      # kept in the process: no unmapping on free
    assert released - before < 200   # given back at the boundary
