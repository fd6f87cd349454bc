"""Shared test helpers: where the shared cases and real logs live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LOGRECON_SHARED", REPO.parent / "shared"))
CASES = SHARED / "cases"


def pytest_collection_modifyitems(config, items):
    if not CASES.exists():
        print(f"\nlogrecon: the shared cases are not at {CASES}: their tests are skipped "
              "(set LOGRECON_SHARED to the folder holding cases/ and data/real/)")


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not here (set LOGRECON_SHARED to the folder holding cases/ and data/real/)")
    return path
