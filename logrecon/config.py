"""One frozen configuration, built once, with one section per stage.

`Config.from_params(**flat)` takes flat keys (papermill parameters, CLI options) and
`Config.from_mapping(nested)` takes a YAML-like `{section: {key: value}}`; both reject unknown
keys with a message that lists the known ones, so a typo is an error, not a silent default.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml

from .errors import ConfigError
from .schema import CANONICAL


@dataclass(frozen=True)
class IngestConfig:
    timestamp_format: str | None = None      # strptime format for non-ISO stamps
    timezone: str = "UTC"                    # zone of naive timestamps
    timestamp_year: int | None = None        # year for formats that lack one
    epoch_unit: str = "auto"                 # auto (by magnitude) | s | ms | us | ns
    window_start: str = "2000-01-01"
    window_end: str = "2100-01-01"

    def window_ns(self) -> tuple[int, int]:
        """[window_start, window_end) as UTC epoch nanoseconds (a zone-less bound is UTC)."""
        return pd.Timestamp(self.window_start, tz="UTC").value, pd.Timestamp(self.window_end, tz="UTC").value


@dataclass(frozen=True)
class NormalizeConfig:
    dedup_key: tuple[str, ...] = CANONICAL
    dedup_tolerance_ms: float = 0.0          # copies within this many ms count as duplicates
    allowed_lateness_ms: float = 0.0
    latency_spike_factor: float = 10.0       # latency above factor × service median is a spike


@dataclass(frozen=True)
class ValidateConfig:
    gap_threshold: float | str = "auto"      # seconds, or "auto" per service
    gap_auto_factor: float = 10.0            # auto threshold = factor × service's p99 inter-arrival
    gap_auto_min_seconds: float = 60.0
    warn_rate: float = 0.01                  # a rate check warns above this
    fail_rate: float = 0.05                  # and fails above this


@dataclass(frozen=True)
class SessionsConfig:
    strategy: str = "auto"                   # unkeyed pairing: auto | fifo | lifo | latency
    max_session_s: float | None = None       # START older than this closes as timed_out
    infer_start_from_latency: bool = False   # STOP-only sessions get start = stop - latency (when latency is the duration)


@dataclass(frozen=True)
class MetricsConfig:
    healthy_error_rate: float = 0.05
    unreliable_error_rate: float = 0.20
    healthy_consistency: float = 0.95
    degraded_consistency: float = 0.80


SECTIONS: dict[str, type] = {
    "ingest": IngestConfig,
    "normalize": NormalizeConfig,
    "validate": ValidateConfig,
    "sessions": SessionsConfig,
    "metrics": MetricsConfig,
}


def _known_keys() -> dict[str, str]:
    """Flat key -> section name; every key name is unique across sections."""
    return {f.name: section for section, cls in SECTIONS.items() for f in fields(cls)}


def _number(where: str, label: str, value: Any, expected: str) -> float:
    """A finite number (not a boolean, NaN or infinity)."""
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(where, label, f"expected {expected}, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(where, label, f"expected a finite number, got {value!r}")
    return number


def _coerce(where: str, section: str, key: str, value: Any, default: Any) -> Any:
    """`value` for `section.key` as the type its default has; ConfigError naming `where` if it cannot be."""
    label = f"{section}.{key}"
    if key == "gap_threshold":
        if value == "auto":
            return value
        seconds = _number(where, label, value, "seconds or 'auto'")
        if seconds <= 0:
            raise ConfigError(where, label, f"must be > 0, got {value!r}")
        return seconds
    if key == "dedup_key":
        keys = tuple([value] if isinstance(value, str) else value)
        if not keys:
            raise ConfigError(where, label, "must name at least one column")
        return keys
    if key == "strategy" and value not in ("auto", "fifo", "lifo", "latency"):
        raise ConfigError(where, label, f"unknown strategy {value!r}; known: auto, fifo, lifo, latency")
    if key == "epoch_unit" and value not in ("auto", "s", "ms", "us", "ns"):
        raise ConfigError(where, label, f"unknown unit {value!r}; known: auto, s, ms, us, ns")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(where, label, f"expected true/false, got {value!r}")
        return value
    if key == "timezone":
        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(where, label, f"unknown time zone {value!r} (an IANA name such as UTC or "
                                            "Europe/Paris)") from None
        return str(value)
    if isinstance(default, float) or key in ("max_session_s",):
        if value is None and default is None:
            return None
        number = _number(where, label, value, "a number")
        if number < 0 or (key == "max_session_s" and number == 0):
            raise ConfigError(where, label, f"must be {'> 0' if key == 'max_session_s' else '>= 0'}, got {value!r}")
        return number
    if key in ("window_start", "window_end"):
        return _instant(where, label, value)
    if key == "timestamp_format" and value is not None:
        return _strptime_format(where, label, value)
    if key == "timestamp_year" and value is not None:
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(where, label, f"expected a year, got {value!r}") from None
    return value


def _strptime_format(where: str, label: str, value: Any) -> str:
    """A format strptime understands; a bad directive would otherwise quarantine every record."""
    if not isinstance(value, str) or not value:
        raise ConfigError(where, label, f"expected a strptime format such as '%d/%m/%Y %H:%M:%S', got {value!r}")
    try:
        datetime.strptime("", value)
    except ValueError as exc:
        if "directive" in str(exc) or "stray %" in str(exc):
            raise ConfigError(where, label, str(exc)) from None
    return value


def _instant(where: str, label: str, value: Any) -> str:
    """An ISO-8601 date or time (a zone-less one is UTC), kept as the text given."""
    try:
        pd.Timestamp(str(value))
    except (ValueError, TypeError):
        raise ConfigError(where, label, f"expected an ISO-8601 date such as 2000-01-01, got {value!r}") from None
    return str(value)


def _check_together(where: str, config: "Config") -> None:
    """Rules that tie two keys together: each pair must be in order, or a stage would misjudge
    every record (an empty time window, a check failing before it warns, …)."""
    start, end = config.ingest.window_ns()
    if start >= end:
        raise ConfigError(where, "ingest.window_start", f"{config.ingest.window_start} is not before "
                          f"ingest.window_end {config.ingest.window_end}: the window would quarantine every record")
    ordered = [
        ("validate.warn_rate", config.validate.warn_rate, "validate.fail_rate", config.validate.fail_rate,
         "a check would fail before it warns"),
        ("metrics.healthy_error_rate", config.metrics.healthy_error_rate, "metrics.unreliable_error_rate",
         config.metrics.unreliable_error_rate, "a service would be unreliable before it stops being healthy"),
        ("metrics.degraded_consistency", config.metrics.degraded_consistency, "metrics.healthy_consistency",
         config.metrics.healthy_consistency, "a service would be healthy before it stops being degraded"),
    ]
    for low_key, low, high_key, high, why in ordered:
        if low > high:
            raise ConfigError(where, low_key, f"{low:g} is above {high_key} {high:g}: {why}")


@dataclass(frozen=True)
class Config:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)
    sessions: SessionsConfig = field(default_factory=SessionsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    @classmethod
    def from_params(cls, base: "Config | None" = None, **params: Any) -> "Config":
        """Override `base` (default: defaults) with flat keys; `None` values are ignored."""
        known = _known_keys()
        unknown = sorted(k for k in params if k not in known)
        if unknown:
            raise ConfigError(
                "config", unknown[0], f"unknown key; known keys: {', '.join(sorted(known))}"
            )
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            if value is not None:
                nested.setdefault(known[key], {})[key] = value
        return cls.from_mapping(nested, base=base)

    @classmethod
    def from_mapping(cls, mapping: dict, base: "Config | None" = None, where: str = "config") -> "Config":
        """Override `base` with a nested `{section: {key: value}}` mapping."""
        base = base or cls()
        if not isinstance(mapping, dict):
            raise ConfigError(where, None, "expected a mapping of sections")
        sections = {}
        for section, values in mapping.items():
            if section not in SECTIONS:
                raise ConfigError(where, section, f"unknown section; known: {', '.join(SECTIONS)}")
            if not isinstance(values, dict):
                raise ConfigError(where, section, "expected a mapping of keys")
            current = getattr(base, section)
            names = {f.name for f in fields(current)}
            for key in values:
                if key not in names:
                    raise ConfigError(
                        where, f"{section}.{key}", f"unknown key; known: {', '.join(sorted(names))}"
                    )
            coerced = {
                k: _coerce(where, section, k, v, getattr(current, k)) for k, v in values.items()
            }
            sections[section] = dataclasses.replace(current, **coerced)
        config = dataclasses.replace(base, **sections)
        _check_together(where, config)
        return config

    @classmethod
    def from_yaml(cls, path: str | Path, base: "Config | None" = None) -> "Config":
        try:
            mapping = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise ConfigError(str(path), None, "not UTF-8 text") from None
        except OSError as exc:
            raise ConfigError(str(path), None, f"cannot read config: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(str(path), None, f"invalid YAML: {exc}") from None
        return cls.from_mapping(mapping, base=base, where=str(path))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
