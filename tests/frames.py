"""Tiny canonical event frames for stage tests (what ingest would produce)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from logrecon.schema import EVENT_TYPES

T0 = pd.Timestamp("2025-01-01T00:00:00Z")


def events(rows, source="t.csv") -> pd.DataFrame:
    """rows: (seconds after T0, service, event_type, latency_ms or None, session_id or None)."""
    seconds, services, types, latency, sessions = zip(*rows) if rows else ((),) * 5
    n = len(seconds)
    return pd.DataFrame({
        "timestamp": (T0 + pd.to_timedelta(np.asarray(seconds, dtype=float), unit="s")).astype("datetime64[ns, UTC]")
        if n else pd.Series([], dtype="datetime64[ns, UTC]"),
        "service": pd.Categorical(services),
        "event_type": pd.Categorical(types, categories=EVENT_TYPES),
        "latency_ms": pd.Series(latency, dtype="float64"),
        "session_id": pd.Series(sessions, dtype="str"),
        "source": pd.Categorical([source] * n),
        "record": np.arange(1, n + 1, dtype="int64"),
        "arrival": np.arange(n, dtype="int64"),
    })
