"""Input profiles: a short YAML that maps one source format to canonical events.

A profile says how to read a source (`format`, a `pattern` with named groups for raw text,
a `columns` mapping for csv/jsonl/parquet), how to read its timestamps, where the service
comes from, and `rules` that turn a record into START / STOP / ERROR with the session id
and latency it carries. `load_profile("openstack")` loads a built-in from
`logrecon/profiles/`; `load_profile("my.yaml")` loads a file. The format is documented, with
a worked example, in the README (section "Input profiles").

`Profile.apply(records)` is vectorized: each rule is one `str.contains` / `str.extract`
over the rows no earlier rule took (a loop over rules, never over lines). It returns the
canonical raw columns (`timestamp`, `service`, `event_type`, `latency_ms`, `session_id`:
still raw, ingest parses them), provenance, `malformed`, the other source columns, `rule`
(which rule produced the event), and how many records no rule matched (skipped and
counted, or turned into malformed records when `unmatched: quarantine`).

A profile that cannot be used raises `ConfigError(where=<profile>, key=<dotted key>,
problem=...)`: unknown key, bad value, invalid regex, a reference to a group the pattern
lacks, an unknown format.
"""

from __future__ import annotations

import re
import string
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from .errors import ConfigError
from .schema import CANONICAL, EVENT_TYPES

FORMATS = ("csv", "jsonl", "parquet", "regex", "zipkin")
UNMATCHED = ("skip", "quarantine")
LATENCY_UNITS = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
EPOCH_UNITS = ("auto", "s", "ms", "us", "ns")
OPERATORS = {
    "gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal,
    "eq": np.equal, "ne": np.not_equal,
}
PROVENANCE_FIELDS = ("source", "record")

TOP_KEYS = (
    "name", "description", "format", "delimiter", "columns", "pattern", "timestamp",
    "service", "session_id", "latency", "rules", "unmatched", "config",
)
TIMESTAMP_KEYS = ("format", "timezone", "year", "epoch_unit")
RULE_KEYS = ("name", "when", "event_type", "session_id", "latency")
VALUE_KEYS = ("field", "regex")
LATENCY_KEYS = ("field", "regex", "unit")

RULE_UNMATCHED = "no_rule_match"
PATTERN_UNMATCHED = "no_pattern_match"


def _known(keys) -> str:
    return ", ".join(keys)


# --------------------------------------------------------------------------- building blocks


def _compile(where: str, key: str, pattern: Any) -> re.Pattern:
    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(where, key, f"expected a regular expression (a non-empty string), got {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as exc:
        position = f" at position {exc.pos}" if exc.pos is not None else ""
        raise ConfigError(where, key, f"invalid regex: {exc.msg}{position}") from None


# Regexes are validated with Python's `re`, and run by RE2 through pyarrow when RE2 accepts them
# (a vectorized C++ pass, ~10x faster than `re` per line); patterns RE2 lacks (lookarounds,
# backreferences) fall back to `re` through pandas. Unnamed groups are renamed `_g<n>` for RE2.
STR_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


def _name_unnamed_groups(pattern: str) -> str | None:
    """`pattern` with each unnamed capturing group `(` written `(?P<_g<n>>`; None if unsure."""
    out, i, n, group, in_class = [], 0, len(pattern), 0, False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
        elif ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if pattern.startswith("^", i):
                out.append("^")
                i += 1
            if pattern.startswith("]", i):  # a leading ] is literal
                out.append("]")
                i += 1
            continue
        elif ch == "(":
            if pattern.startswith("(?P<", i):
                group += 1
            elif not pattern.startswith("(?", i):
                group += 1
                out.append(f"(?P<_g{group}>")
                i += 1
                continue
        out.append(ch)
        i += 1
    rewritten = "".join(out)
    try:
        original, renamed = re.compile(pattern), re.compile(rewritten)
    except re.error:
        return None
    if renamed.groups != original.groups or any(renamed.groupindex.get(k) != v for k, v in original.groupindex.items()):
        return None
    return rewritten


@lru_cache(maxsize=512)
def _re2_pattern(pattern: str) -> str | None:
    """The pattern as RE2 (pyarrow) will run it, or None when RE2 cannot."""
    rewritten = _name_unnamed_groups(pattern)
    if rewritten is None:
        return None
    probe = pa.array(["x"], type=pa.large_string())
    try:
        pc.match_substring_regex(probe, rewritten)
        if re.compile(rewritten).groups:
            pc.extract_regex(probe, rewritten)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return rewritten


def _arrow_text(values: pd.Series) -> pa.ChunkedArray:
    text = values if values.dtype == STR_DTYPE else values.astype(STR_DTYPE)
    array = text.array
    chunked = getattr(array, "_pa_array", None)
    if chunked is None:
        chunked = pa.chunked_array([pa.array(text.to_numpy(dtype=object, na_value=None), type=pa.large_string())])
    return chunked


def _to_str(array) -> pd.Series:
    return array.to_pandas(types_mapper=lambda t: STR_DTYPE if pa.types.is_string(t) or pa.types.is_large_string(t)
                           else None)


def search(values: pd.Series, rx: re.Pattern) -> np.ndarray:
    """Boolean mask: `rx` found in each value (re.search semantics; null is no match)."""
    pattern = _re2_pattern(rx.pattern)
    if pattern is not None:
        found = pc.match_substring_regex(_arrow_text(values), pattern)
        return pc.fill_null(found, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)
    with warnings.catch_warnings():  # pandas warns when a contains-pattern has groups: we extract them apart
        warnings.filterwarnings("ignore", "This pattern is interpreted as a regular expression", UserWarning)
        return values.astype(STR_DTYPE).str.contains(rx, na=False).to_numpy(dtype=bool)


def extract(values: pd.Series, rx: re.Pattern) -> tuple[np.ndarray, pd.DataFrame]:
    """(match mask, groups): one column per capturing group in order (named, else `_g<n>`), str, null where
    the row does not match."""
    by_index = {index: name for name, index in rx.groupindex.items()}
    columns = [by_index.get(i, f"_g{i}") for i in range(1, rx.groups + 1)]
    pattern = _re2_pattern(rx.pattern)
    if pattern is not None:
        struct = pc.extract_regex(_arrow_text(values), pattern)
        matched = pc.is_valid(struct).to_numpy(zero_copy_only=False).astype(bool, copy=False)
        renamed = re.compile(pattern)
        order = {index: name for name, index in renamed.groupindex.items()}
        groups = pd.DataFrame({column: _to_str(pc.struct_field(struct, order[i]))
                               for i, column in enumerate(columns, start=1)})
        groups.index = values.index
        return matched, groups
    matched = search(values, rx)
    groups = pd.DataFrame({column: pd.Series(np.nan, index=values.index, dtype=STR_DTYPE) for column in columns})
    if matched.any():
        found = values[matched].astype(STR_DTYPE).str.extract(rx, expand=True)
        for i, column in enumerate(columns, start=1):
            groups.loc[matched, column] = found.iloc[:, i - 1].astype(STR_DTYPE)
    return matched, groups


def _named_groups(rx: re.Pattern) -> tuple[str, ...]:
    return tuple(sorted(rx.groupindex, key=rx.groupindex.get))


@dataclass(frozen=True)
class Value:
    """Where a value comes from: a template over fields, or a regex extraction from one field.

    `parts` is a parsed template: (literal text, field name or None) pairs. A template with no
    field is a constant. With `regex`, the value is the regex's first named group (or first
    group) searched in `field`; rows where it does not match get no value.
    """

    key: str
    parts: tuple[tuple[str, str | None], ...] = ()
    field: str | None = None
    regex: re.Pattern | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        if self.field is not None:
            return (self.field,)
        return tuple(name for _, name in self.parts if name is not None)

    @classmethod
    def parse(cls, where: str, key: str, spec: Any, plain_string_is_field: bool) -> "Value":
        """A value spec: `"text {field} text"`, a bare field name or literal, or {field, regex}."""
        if isinstance(spec, dict):
            unknown = [k for k in spec if k not in VALUE_KEYS]
            if unknown:
                raise ConfigError(where, f"{key}.{unknown[0]}", f"unknown key; known: {_known(VALUE_KEYS)}")
            if not isinstance(spec.get("field"), str) or not spec["field"]:
                raise ConfigError(where, f"{key}.field", "expected the name of a group or column")
            regex = None
            if "regex" in spec:
                regex = _compile(where, f"{key}.regex", spec["regex"])
                if regex.groups == 0:
                    raise ConfigError(where, f"{key}.regex", "needs a group: the value is what it captures")
            return cls(key=key, field=spec["field"], regex=regex)
        if isinstance(spec, (int, float)) and not isinstance(spec, bool):
            spec = str(spec)
        if not isinstance(spec, str) or not spec.strip():
            raise ConfigError(where, key, f"expected a string or a mapping with 'field', got {spec!r}")
        if "{" not in spec and "}" not in spec:
            return cls(key=key, field=spec) if plain_string_is_field else cls(key=key, parts=((spec, None),))
        try:
            parsed = list(string.Formatter().parse(spec))
        except ValueError as exc:
            raise ConfigError(where, key, f"invalid template {spec!r}: {exc}") from None
        parts = []
        for literal, name, format_spec, conversion in parsed:
            if name is not None and (not name or format_spec or conversion):
                raise ConfigError(where, key, f"invalid template {spec!r}: write fields as {{name}}")
            parts.append((literal, name))
        return cls(key=key, parts=tuple(parts))

    def evaluate(self, frame: pd.DataFrame, groups: pd.DataFrame | None = None) -> pd.Series:
        """The value for every row of `frame` (null where a referenced field is null)."""

        def column(name: str) -> pd.Series:
            if groups is not None and name in groups.columns:
                return groups[name]
            return frame[name]

        if self.field is not None:
            values = column(self.field)
            if self.regex is None:
                return values
            _, extracted = extract(values, self.regex)
            named = _named_groups(self.regex)
            return extracted[named[0]] if named else extracted.iloc[:, 0]
        if all(name is None for _, name in self.parts):
            return pd.Series("".join(lit for lit, _ in self.parts), index=frame.index, dtype="str")
        result = pd.Series("", index=frame.index, dtype="str")
        missing = pd.Series(False, index=frame.index)
        for literal, name in self.parts:
            if literal:
                result = result + literal
            if name is not None:
                values = column(name)
                missing |= values.isna()
                result = result + values.astype("str").fillna("")
        return result.mask(missing)


@dataclass(frozen=True)
class Latency:
    """A latency value and its unit; converted to milliseconds where it is a number."""

    value: Value
    unit: str = "ms"

    @classmethod
    def parse(cls, where: str, key: str, spec: Any) -> "Latency":
        if isinstance(spec, str):
            spec = {"field": spec}
        if not isinstance(spec, dict):
            raise ConfigError(where, key, f"expected a mapping {{field, unit}}, got {spec!r}")
        unknown = [k for k in spec if k not in LATENCY_KEYS]
        if unknown:
            raise ConfigError(where, f"{key}.{unknown[0]}", f"unknown key; known: {_known(LATENCY_KEYS)}")
        unit = spec.get("unit", "ms")
        if unit not in LATENCY_UNITS:
            raise ConfigError(where, f"{key}.unit", f"unknown unit {unit!r}; known: {_known(LATENCY_UNITS)}")
        value = Value.parse(where, key, {k: v for k, v in spec.items() if k != "unit"}, True)
        return cls(value=value, unit=unit)

    def evaluate(self, frame: pd.DataFrame, groups: pd.DataFrame | None = None) -> pd.Series:
        """Latency in ms where the raw value is a number; other raw values kept for ingest to judge."""
        raw = self.value.evaluate(frame, groups)
        if self.unit == "ms":
            return raw
        numbers = pd.to_numeric(raw, errors="coerce")
        converted = numbers.astype("float64") * LATENCY_UNITS[self.unit]
        if numbers.notna().all() or raw.isna().equals(numbers.isna()):
            return converted
        return converted.astype(object).where(numbers.notna(), raw.astype(object))


@dataclass(frozen=True)
class Condition:
    """One `when` entry: a regex searched in a field, or a numeric comparison."""

    key: str
    field: str
    regex: re.Pattern | None = None
    op: str | None = None
    number: float | None = None

    def mask(self, values: pd.Series) -> pd.Series:
        if self.regex is not None:
            return pd.Series(search(values, self.regex), index=values.index)
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        return pd.Series(OPERATORS[self.op](numbers.to_numpy(), self.number), index=values.index) & numbers.notna()


def _parse_conditions(where: str, key: str, when: Any) -> tuple[Condition, ...]:
    if not isinstance(when, dict) or not when:
        raise ConfigError(where, key, "expected a mapping of field: regex (or field: {gte: 400})")
    conditions = []
    for name, test in when.items():
        ckey = f"{key}.{name}"
        if not isinstance(name, str) or not name:
            raise ConfigError(where, ckey, "a condition needs a field name")
        suffix = name.rsplit("_", 1)[-1] if "_" in name else None
        if isinstance(test, dict):
            if len(test) != 1 or next(iter(test)) not in OPERATORS:
                raise ConfigError(where, ckey, f"expected one comparison, e.g. {{gte: 400}}; known: {_known(OPERATORS)}")
            op, number = next(iter(test.items()))
            conditions.append(_numeric(where, f"{ckey}.{op}", name, op, number))
        elif suffix in OPERATORS and not isinstance(test, str):
            conditions.append(_numeric(where, ckey, name.rsplit("_", 1)[0], suffix, test))
        else:
            conditions.append(Condition(key=ckey, field=name, regex=_compile(where, ckey, test)))
    # regexes first: their named groups may feed the numeric comparisons
    return tuple(sorted(conditions, key=lambda c: c.regex is None))


def _numeric(where: str, key: str, name: str, op: str, number: Any) -> Condition:
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise ConfigError(where, key, f"expected a number to compare with, got {number!r}")
    return Condition(key=key, field=name, op=op, number=float(number))


@dataclass(frozen=True)
class Rule:
    """When all conditions hold, the record is an `event_type` event; first matching rule wins."""

    key: str
    name: str
    event_type: str
    conditions: tuple[Condition, ...]
    session_id: Value | None = None
    latency: Latency | None = None

    @property
    def groups(self) -> tuple[str, ...]:
        """Named groups of this rule's `when` regexes."""
        names: list[str] = []
        for condition in self.conditions:
            if condition.regex is not None:
                names.extend(_named_groups(condition.regex))
        return tuple(names)

    def match(self, frame: pd.DataFrame, candidates: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
        """Positions among `candidates` (a mask) this rule takes, and its regexes' named groups there."""
        rows = np.flatnonzero(candidates)
        found: dict[str, pd.Series] = {}
        for condition in self.conditions:
            if not len(rows):
                break
            source = found[condition.field] if condition.field in found else frame[condition.field]
            values = source.loc[rows] if condition.field in found else source.iloc[rows]
            if condition.regex is not None and condition.regex.groupindex:
                hit, groups = extract(values, condition.regex)
                for name in _named_groups(condition.regex):
                    found[name] = groups[name][hit]
            else:
                hit = condition.mask(values).to_numpy(dtype=bool)
            rows = rows[hit]
        groups = pd.DataFrame({name: values.loc[rows] for name, values in found.items()}, index=rows)
        return rows, groups


def _parse_rule(where: str, index: int, spec: Any, names: set[str]) -> Rule:
    if not isinstance(spec, dict):
        raise ConfigError(where, f"rules[{index}]", "expected a mapping with when and event_type")
    name = spec.get("name")
    key = f"rules[{name}]" if isinstance(name, str) and name else f"rules[{index}]"
    unknown = [k for k in spec if k not in RULE_KEYS]
    if unknown:
        raise ConfigError(where, f"{key}.{unknown[0]}", f"unknown key; known: {_known(RULE_KEYS)}")
    if name is not None:
        if not isinstance(name, str) or not name:
            raise ConfigError(where, f"rules[{index}].name", f"expected a string, got {name!r}")
        if name in names:
            raise ConfigError(where, key, f"two rules are named {name!r}")
        names.add(name)
    if "when" not in spec:
        raise ConfigError(where, f"{key}.when", "missing: a rule needs conditions")
    event_type = spec.get("event_type")
    if not isinstance(event_type, str) or event_type.strip().upper() not in EVENT_TYPES:
        raise ConfigError(where, f"{key}.event_type", f"expected one of {_known(EVENT_TYPES)}, got {event_type!r}")
    conditions = _parse_conditions(where, f"{key}.when", spec["when"])
    session_id = None
    if spec.get("session_id") is not None:
        session_id = Value.parse(where, f"{key}.session_id", spec["session_id"], plain_string_is_field=True)
    latency = Latency.parse(where, f"{key}.latency", spec["latency"]) if spec.get("latency") is not None else None
    rule = Rule(
        key=key, name=name or f"rule{index}", event_type=event_type.strip().upper(),
        conditions=conditions, session_id=session_id, latency=latency,
    )
    seen: set[str] = set()
    for condition in conditions:
        if condition.regex is None:
            continue
        for group in _named_groups(condition.regex):
            if group in seen:
                raise ConfigError(where, condition.key, f"group {group!r} is already defined by another regex of this rule")
            seen.add(group)
    return rule


# --------------------------------------------------------------------------- the profile


@dataclass(frozen=True)
class Mapped:
    """What `Profile.map_records` returns: canonical raw records and what was skipped, by reason."""

    records: pd.DataFrame
    skipped: int
    skipped_by_reason: dict[str, int]


@dataclass(frozen=True)
class Profile:
    """A validated input profile. Build it with `load_profile` or `Profile.from_mapping`."""

    name: str
    where: str
    format: str | None = None
    description: str = ""
    delimiter: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    pattern: re.Pattern | None = None
    timestamp_format: str | None = None
    timezone: str | None = None
    timestamp_year: int | None = None
    epoch_unit: str | None = None
    service: Value | None = None
    session_id: Value | None = None
    latency: Latency | None = None
    rules: tuple[Rule, ...] = ()
    unmatched: str = "skip"
    config: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_mapping(cls, spec: Any, where: str = "profile") -> "Profile":
        """Validate a profile mapping (the parsed YAML); ConfigError names where, key, problem."""
        if not isinstance(spec, dict):
            raise ConfigError(where, None, "a profile is a YAML mapping of keys (name, format, pattern, rules, …)")
        unknown = [k for k in spec if k not in TOP_KEYS]
        if unknown:
            raise ConfigError(where, str(unknown[0]), f"unknown key; known: {_known(TOP_KEYS)}")
        name = spec.get("name", Path(where).stem if where.endswith((".yaml", ".yml")) else where)
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(where, "name", f"expected a non-empty string, got {name!r}")
        description = spec.get("description") or ""
        if not isinstance(description, str):
            raise ConfigError(where, "description", "expected a string")

        pattern = _compile(where, "pattern", spec["pattern"]) if spec.get("pattern") is not None else None
        fmt = spec.get("format")
        if fmt is None and pattern is not None:
            fmt = "regex"
        if fmt is not None and fmt not in FORMATS:
            raise ConfigError(where, "format", f"unknown format {fmt!r}; known: {_known(FORMATS)}")
        if fmt == "regex" and pattern is None:
            raise ConfigError(where, "pattern", "missing: a regex profile needs a pattern with named groups")
        if pattern is not None and fmt != "regex":
            raise ConfigError(where, "pattern", f"only a regex profile has a pattern (format is {fmt})")
        if pattern is not None and not pattern.groupindex:
            raise ConfigError(where, "pattern", "has no named groups, e.g. (?P<timestamp>...)")

        delimiter = spec.get("delimiter")
        if delimiter is not None:
            if fmt not in ("csv", None) or not isinstance(delimiter, str) or len(delimiter) != 1:
                raise ConfigError(where, "delimiter", "a one-character delimiter, for csv profiles only")

        columns = spec.get("columns") or {}
        if not isinstance(columns, dict):
            raise ConfigError(where, "columns", "expected a mapping of canonical name: source column")
        for canon, source in columns.items():
            if canon not in CANONICAL:
                raise ConfigError(where, f"columns.{canon}", f"not a canonical column; known: {_known(CANONICAL)}")
            if not isinstance(source, str) or not source:
                raise ConfigError(where, f"columns.{canon}", f"expected a source column name, got {source!r}")

        timestamp = spec.get("timestamp") or {}
        if not isinstance(timestamp, dict):
            raise ConfigError(where, "timestamp", f"expected a mapping; known keys: {_known(TIMESTAMP_KEYS)}")
        unknown = [k for k in timestamp if k not in TIMESTAMP_KEYS]
        if unknown:
            raise ConfigError(where, f"timestamp.{unknown[0]}", f"unknown key; known: {_known(TIMESTAMP_KEYS)}")
        ts_format = timestamp.get("format")
        if ts_format is not None and (not isinstance(ts_format, str) or "%" not in ts_format):
            raise ConfigError(where, "timestamp.format", f"expected a strptime format such as '%Y-%m-%d %H:%M:%S', got {ts_format!r}")
        timezone = timestamp.get("timezone")
        if timezone is not None:
            try:
                ZoneInfo(str(timezone))
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(where, "timestamp.timezone", f"unknown time zone {timezone!r} (use an IANA name such as UTC or Europe/Paris)") from None
        year = timestamp.get("year")
        if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 9999):
            raise ConfigError(where, "timestamp.year", f"expected a four-digit year, got {year!r}")
        epoch_unit = timestamp.get("epoch_unit")
        if epoch_unit is not None and epoch_unit not in EPOCH_UNITS:
            raise ConfigError(where, "timestamp.epoch_unit", f"unknown unit {epoch_unit!r}; known: {_known(EPOCH_UNITS)}")

        service = session_id = latency = None
        if spec.get("service") is not None:
            if "service" in columns:
                raise ConfigError(where, "service", "given twice: as columns.service and as service")
            service = Value.parse(where, "service", spec["service"], plain_string_is_field=False)
        if spec.get("session_id") is not None:
            if "session_id" in columns:
                raise ConfigError(where, "session_id", "given twice: as columns.session_id and as session_id")
            session_id = Value.parse(where, "session_id", spec["session_id"], plain_string_is_field=True)
        if spec.get("latency") is not None:
            if "latency_ms" in columns:
                raise ConfigError(where, "latency", "given twice: as columns.latency_ms and as latency")
            latency = Latency.parse(where, "latency", spec["latency"])

        rules_spec = spec.get("rules") or []
        if not isinstance(rules_spec, list):
            raise ConfigError(where, "rules", "expected a list of rules")
        if rules_spec and "event_type" in columns:
            raise ConfigError(where, "columns.event_type", "rules decide the event type; map it or write rules, not both")
        if rules_spec and fmt == "zipkin":
            raise ConfigError(where, "rules", "a zipkin profile has no rules: each span is already START/STOP(/ERROR)")
        names: set[str] = set()
        rules = tuple(_parse_rule(where, i, r, names) for i, r in enumerate(rules_spec, start=1))

        unmatched = spec.get("unmatched", "skip")
        if unmatched not in UNMATCHED:
            raise ConfigError(where, "unmatched", f"expected one of {_known(UNMATCHED)}, got {unmatched!r}")

        config = spec.get("config") or {}
        if not isinstance(config, dict):
            raise ConfigError(where, "config", "expected a mapping of config sections, e.g. {sessions: {…}}")
        _check_config(where, config)

        profile = cls(
            name=name.strip(), where=where, format=fmt, description=description.strip(),
            delimiter=delimiter, columns=dict(columns), pattern=pattern,
            timestamp_format=ts_format, timezone=timezone, timestamp_year=year, epoch_unit=epoch_unit,
            service=service, session_id=session_id, latency=latency, rules=rules, unmatched=unmatched,
            config={section: dict(values) for section, values in config.items()},
        )
        if pattern is not None:
            profile._check_fields(set(_named_groups(pattern)) | set(PROVENANCE_FIELDS), "a named group of the pattern")
        return profile

    # ------------------------------------------------------------------ introspection

    def ingest_overrides(self) -> dict:
        """The IngestConfig keys this profile sets (timestamp_format, timezone, timestamp_year, epoch_unit)."""
        values = {
            "timestamp_format": self.timestamp_format, "timezone": self.timezone,
            "timestamp_year": self.timestamp_year, "epoch_unit": self.epoch_unit,
        }
        return {k: v for k, v in values.items() if v is not None}

    def config_overrides(self) -> dict:
        """Every config default this profile sets, as `{section: {key: value}}` for `Config.from_mapping`:
        its `timestamp` section (as ingest keys) and its `config` mapping."""
        overrides = {section: dict(values) for section, values in self.config.items()}
        if self.ingest_overrides():
            overrides["ingest"] = {**overrides.get("ingest", {}), **self.ingest_overrides()}
        return overrides

    def _references(self):
        """(key, field, extra names allowed) for every field the profile reads."""
        for canon, source in self.columns.items():
            yield f"columns.{canon}", source, ()
        for value in (self.service, self.session_id):
            if value is not None:
                for name in value.fields:
                    yield value.key, name, ()
        if self.latency is not None:
            for name in self.latency.value.fields:
                yield self.latency.value.key, name, ()
        for rule in self.rules:
            groups = rule.groups
            for condition in rule.conditions:
                allowed = groups if condition.regex is None else ()
                yield condition.key, condition.field, allowed
            if rule.session_id is not None:
                for name in rule.session_id.fields:
                    yield rule.session_id.key, name, groups
            if rule.latency is not None:
                for name in rule.latency.value.fields:
                    yield rule.latency.value.key, name, groups

    def _check_fields(self, available: set[str], what: str, source: str | None = None) -> None:
        """ConfigError for the first reference to a field that is not in `available`."""
        for key, name, extra in self._references():
            if name not in available and name not in extra:
                where_from = f" in {source}" if source else ""
                known = sorted(available - set(PROVENANCE_FIELDS))
                rule_groups = f"; this rule's when groups: {_known(extra)}" if extra else ""
                raise ConfigError(
                    self.where, key,
                    f"refers to {name!r}, which is not {what}{where_from} (available: {_known(known)}{rule_groups})",
                )
        if self.pattern is not None:
            groups = available
            def has(canon: str) -> bool:
                return canon in self.columns or canon in groups
            if not has("timestamp"):
                raise ConfigError(self.where, "pattern", "needs a (?P<timestamp>...) group (or columns.timestamp naming one)")
            if self.service is None and not has("service"):
                raise ConfigError(self.where, "service", "missing: give a service name, or a (?P<service>...) group, or {field, regex}")
            if not self.rules and not has("event_type"):
                raise ConfigError(self.where, "rules", "missing: write rules, or capture a (?P<event_type>...) group")

    # ------------------------------------------------------------------ application

    def apply(self, records: pd.DataFrame) -> tuple[pd.DataFrame, int]:
        """Map columns and apply the rules; returns canonical raw records and how many were skipped."""
        mapped = self.map_records(records)
        return mapped.records, mapped.skipped

    def map_records(self, records: pd.DataFrame) -> Mapped:
        """`apply`, with the skipped count broken down by reason."""
        frame = records.reset_index(drop=True)
        if "malformed" not in frame.columns:
            frame["malformed"] = pd.Series(pd.NA, index=frame.index, dtype="str")
        if len(frame):
            self._check_fields(set(map(str, frame.columns)), "a column", _sources(frame))
        usable = frame["malformed"].isna()

        out: dict[str, pd.Series] = {}
        for canon, source in self.columns.items():
            out[canon] = frame[source] if source in frame.columns else _nulls(frame)
        for canon in ("timestamp", "service", "event_type", "latency_ms", "session_id"):
            if canon not in out and canon in frame.columns:
                out[canon] = frame[canon]
        if self.service is not None:
            out["service"] = self.service.evaluate(frame) if len(frame) else _nulls(frame)
        if self.session_id is not None:
            out["session_id"] = self.session_id.evaluate(frame) if len(frame) else _nulls(frame)
        if self.latency is not None:
            out["latency_ms"] = self.latency.evaluate(frame) if len(frame) else _nulls(frame)

        skipped_by_reason: dict[str, int] = {}
        keep = pd.Series(True, index=frame.index)
        malformed = frame["malformed"]
        rule_names = None
        if self.rules:
            event_type = pd.Series(pd.NA, index=frame.index, dtype=object)
            rule_names = pd.Series(pd.NA, index=frame.index, dtype="str")
            session_id = out.get("session_id", _nulls(frame)).astype(object).copy()
            latency = out.get("latency_ms", _nulls(frame)).astype(object).copy()
            remaining = usable.to_numpy(dtype=bool).copy()
            for rule in self.rules:
                if not remaining.any():
                    break
                rows, groups = rule.match(frame, remaining)
                if not len(rows):
                    continue
                event_type.iloc[rows] = rule.event_type
                rule_names.iloc[rows] = rule.name
                sub = frame.iloc[rows]
                sub.index = rows
                if rule.session_id is not None:
                    session_id.iloc[rows] = rule.session_id.evaluate(sub, groups).astype(object).to_numpy()
                if rule.latency is not None:
                    latency.iloc[rows] = rule.latency.evaluate(sub, groups).astype(object).to_numpy()
                remaining[rows] = False
            out["event_type"] = event_type
            if "session_id" in out or any(r.session_id is not None for r in self.rules):
                out["session_id"] = session_id
            if "latency_ms" in out or any(r.latency is not None for r in self.rules):
                out["latency_ms"] = latency
            unmatched = int(remaining.sum())
            if unmatched and self.unmatched == "skip":
                keep = pd.Series(~remaining, index=frame.index)
                skipped_by_reason[RULE_UNMATCHED] = unmatched
            elif unmatched:
                malformed = malformed.mask(remaining, f"no rule of profile {self.name!r} matches this record")

        result = pd.DataFrame({"source": frame["source"], "record": frame["record"]}) \
            if {"source", "record"} <= set(frame.columns) else pd.DataFrame(index=frame.index)
        for canon in ("timestamp", "service", "event_type", "latency_ms", "session_id"):
            if canon in out:
                result[canon] = out[canon]
        result["malformed"] = malformed
        consumed = set(self.columns.values()) | set(result.columns)
        for name in frame.columns:
            if name not in consumed:
                result[name] = frame[name]
        if rule_names is not None:
            result["rule"] = rule_names
        result = result.loc[keep.to_numpy()].reset_index(drop=True)
        return Mapped(result, sum(skipped_by_reason.values()), skipped_by_reason)


def _check_config(where: str, config: dict) -> None:
    """The profile's `config` mapping must be a valid config (errors keyed `config.<section>.<key>`)."""
    from .config import Config

    timestamp_keys = {"timestamp_format", "timezone", "timestamp_year", "epoch_unit"}
    clash = timestamp_keys & set((config.get("ingest") or {}) if isinstance(config.get("ingest"), dict) else ())
    if clash:
        raise ConfigError(where, f"config.ingest.{sorted(clash)[0]}", "set it in the profile's timestamp section")
    try:
        Config.from_mapping(config, where=where)
    except ConfigError as exc:
        raise ConfigError(where, f"config.{exc.key}" if exc.key else "config", exc.problem) from None


def _nulls(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(pd.NA, index=frame.index, dtype=object)


def _sources(frame: pd.DataFrame) -> str | None:
    if "source" not in frame.columns or not len(frame):
        return None
    return str(frame["source"].iloc[0])


# --------------------------------------------------------------------------- loading


def builtin_profiles() -> tuple[str, ...]:
    """Names of the profiles shipped in logrecon/profiles/."""
    folder = resources.files("logrecon") / "profiles"
    return tuple(sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml")))


def load_profile(name_or_path: str | Path) -> Profile:
    """A built-in profile by name (`openstack`) or a profile YAML file by path."""
    spec = str(name_or_path)
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists() or "/" in spec or "\\" in spec:
        if not path.is_file():
            raise ConfigError(spec, None, "no such profile file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(spec, None, f"cannot read profile: {exc}") from None
        return _from_yaml(text, spec)
    resource = resources.files("logrecon") / "profiles" / f"{spec}.yaml"
    if not resource.is_file():
        raise ConfigError(
            spec, None,
            f"no built-in profile of that name and no such file; built-ins: {_known(builtin_profiles())}",
        )
    return _from_yaml(resource.read_text(encoding="utf-8"), spec)


def _from_yaml(text: str, where: str) -> Profile:
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(where, None, f"invalid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    return Profile.from_mapping(spec, where=where)
