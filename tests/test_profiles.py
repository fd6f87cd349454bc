"""Input profiles and the readers they drive (regex, zipkin, parquet), on tiny vendored fixtures.

Every test here runs everywhere: the fixtures are made-up lines in each built-in format (plus one
small Apache-2.0 Zipkin sample). The real loghub/Zipkin files are exercised in test_real_logs.py.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import fields
from pathlib import Path

import pandas as pd
import pytest
import yaml

from logrecon.config import Config, IngestConfig
from logrecon.errors import ConfigError, InputError
from logrecon.profiles import Profile, builtin_profiles, load_profile
from logrecon.readers import READERS, read_input

FIXTURES = Path(__file__).resolve().parent / "fixtures"
LOGS = FIXTURES / "logs"
ZIPKIN = FIXTURES / "zipkin"
DOCS = Path(__file__).resolve().parents[1] / "README.md"

REGEX_HEAD = "^(?P<timestamp>\\S+ \\S+) (?P<level>[A-Z]+) (?P<message>.*)$"


def profile_of(**spec) -> Profile:
    """A regex profile for `2024-01-02 09:00:00 LEVEL message` lines, overridden by `spec`."""
    base = {"name": "t", "format": "regex", "pattern": REGEX_HEAD, "service": "svc"}
    base.update(spec)
    return Profile.from_mapping({k: v for k, v in base.items() if v is not None}, where="t.yaml")


def write(path: Path, text: str, newline: str = "\n") -> Path:
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def counts(records: pd.DataFrame, by=("event_type",)) -> dict:
    return records.groupby(list(by), dropna=False).size().to_dict()


# --------------------------------------------------------------------------- loading


def test_every_builtin_profile_loads_by_name():
    assert set(builtin_profiles()) >= {"openstack", "spark", "hadoop", "hdfs", "zipkin", "canonical"}
    for name in builtin_profiles():
        profile = load_profile(name)
        assert profile.name == name
        assert profile.format in (None, "csv", "jsonl", "parquet", "regex", "zipkin")


def test_readers_are_registered():
    assert {"regex", "zipkin", "parquet"} <= set(READERS)


@pytest.mark.parametrize("name", ["openstack", "spark", "hadoop", "hdfs", "zipkin", "canonical"])
def test_ingest_overrides_are_ingest_config_keys(name):
    overrides = load_profile(name).ingest_overrides()
    assert set(overrides) <= {f.name for f in fields(IngestConfig)}
    Config.from_params(**overrides)  # accepted as they are


def test_ingest_overrides_carry_the_timestamp_section():
    profile = profile_of(timestamp={"format": "%b %d %H:%M:%S", "timezone": "Europe/Paris", "year": 2024,
                                    "epoch_unit": "ms"}, rules=[GOOD_RULE])
    assert profile.ingest_overrides() == {
        "timestamp_format": "%b %d %H:%M:%S", "timezone": "Europe/Paris", "timestamp_year": 2024, "epoch_unit": "ms"}
    assert load_profile("spark").ingest_overrides() == {"timestamp_format": "%y/%m/%d %H:%M:%S", "timezone": "UTC"}
    assert load_profile("zipkin").ingest_overrides() == {"epoch_unit": "us"}


def test_config_overrides_merge_timestamp_and_config_sections():
    profile = load_profile("openstack")
    assert profile.config_overrides() == {"ingest": {"timezone": "UTC"},
                                          "sessions": {"infer_start_from_latency": True}}
    cfg = Config.from_mapping(profile.config_overrides())
    assert cfg.sessions.infer_start_from_latency and cfg.ingest.timezone == "UTC"
    assert load_profile("spark").config_overrides() == {"ingest": load_profile("spark").ingest_overrides()}


def test_profile_loads_from_a_file_path(tmp_path):
    path = write(tmp_path / "mine.yaml", "format: regex\npattern: '^(?P<timestamp>\\S+) (?P<event_type>\\S+)$'\nservice: x\n")
    profile = load_profile(str(path))
    assert profile.name == "mine" and profile.format == "regex"
    assert load_profile(path).name == "mine"


def test_unknown_builtin_name_lists_the_builtins():
    with pytest.raises(ConfigError) as err:
        load_profile("nginxx")
    assert err.value.where == "nginxx"
    assert "openstack" in err.value.problem and "spark" in err.value.problem


def test_missing_profile_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such profile file"):
        load_profile(str(tmp_path / "nope.yaml"))


# --------------------------------------------------------------------------- bad profiles

GOOD_RULE = {"name": "go", "when": {"message": "^start (?P<job>\\w+)$"}, "event_type": "START", "session_id": "job"}

BAD_PROFILES = [
    # (what is wrong, spec overrides, key, problem fragment)
    ("unknown top-level key", {"rulez": []}, "rulez", "unknown key; known: name"),
    ("unknown format", {"format": "xml", "pattern": None}, "format", "unknown format 'xml'"),
    ("invalid pattern regex", {"pattern": "^(?P<timestamp>\\S+"}, "pattern", "invalid regex"),
    ("pattern without named groups", {"pattern": "^\\S+ (.*)$"}, "pattern", "no named groups"),
    ("regex format without pattern", {"pattern": None}, "pattern", "needs a pattern"),
    ("pattern without timestamp group", {"pattern": "^(?P<ts>\\S+) (?P<message>.*)$", "rules": [GOOD_RULE]},
     "pattern", "(?P<timestamp>"),
    ("no service anywhere", {"service": None, "rules": [GOOD_RULE]}, "service", "missing"),
    ("no rules and no event_type group", {}, "rules", "missing"),
    ("unknown rule key", {"rules": [{**GOOD_RULE, "then": "x"}]}, "rules[go].then", "unknown key"),
    ("invalid when regex", {"rules": [{**GOOD_RULE, "when": {"message": "start ("}}]},
     "rules[go].when.message", "invalid regex"),
    ("session id group the pattern lacks", {"rules": [{**GOOD_RULE, "session_id": "jbo"}]},
     "rules[go].session_id", "refers to 'jbo'"),
    ("when field the pattern lacks", {"rules": [{**GOOD_RULE, "when": {"msg": "x"}}]},
     "rules[go].when.msg", "refers to 'msg'"),
    ("latency field the pattern lacks", {"rules": [{**GOOD_RULE, "latency": {"field": "took", "unit": "s"}}]},
     "rules[go].latency", "refers to 'took'"),
    ("template field the pattern lacks", {"rules": [{**GOOD_RULE, "session_id": "job:{jobid}"}]},
     "rules[go].session_id", "refers to 'jobid'"),
    ("unnamed rule counted from 1", {"rules": [GOOD_RULE, {"when": {"message": "x"}, "event_type": "STAP"}]},
     "rules[2].event_type", "expected one of START, STOP, ERROR"),
    ("bad latency unit", {"rules": [{**GOOD_RULE, "when": {"message": "(?P<t>\\d+)"}, "session_id": None,
                                     "latency": {"field": "t", "unit": "hours"}}]},
     "rules[go].latency.unit", "unknown unit 'hours'"),
    ("numeric comparison with text", {"rules": [{**GOOD_RULE, "when": {"level": {"gte": "high"}}}]},
     "rules[go].when.level.gte", "expected a number"),
    ("unknown comparison", {"rules": [{**GOOD_RULE, "when": {"level": {"between": 3}}}]},
     "rules[go].when.level", "expected one comparison"),
    ("duplicate rule names", {"rules": [GOOD_RULE, GOOD_RULE]}, "rules[go]", "two rules are named 'go'"),
    ("when is not a mapping", {"rules": [{**GOOD_RULE, "when": "start"}]}, "rules[go].when", "expected a mapping"),
    ("rule without when", {"rules": [{"name": "w", "event_type": "START"}]}, "rules[w].when", "missing"),
    ("unknown time zone", {"timestamp": {"timezone": "Mars/Olympus"}, "rules": [GOOD_RULE]},
     "timestamp.timezone", "unknown time zone"),
    ("unknown timestamp key", {"timestamp": {"fmt": "%Y"}, "rules": [GOOD_RULE]}, "timestamp.fmt", "unknown key"),
    ("format without a directive", {"timestamp": {"format": "YYYY-MM-DD"}, "rules": [GOOD_RULE]},
     "timestamp.format", "strptime"),
    ("bad year", {"timestamp": {"year": "2024x"}, "rules": [GOOD_RULE]}, "timestamp.year", "four-digit year"),
    ("bad epoch unit", {"timestamp": {"epoch_unit": "h"}, "rules": [GOOD_RULE]}, "timestamp.epoch_unit", "unknown unit"),
    ("non-canonical column", {"columns": {"time": "ts"}, "rules": [GOOD_RULE]}, "columns.time", "not a canonical column"),
    ("service regex without a group", {"service": {"field": "level", "regex": "x"}, "rules": [GOOD_RULE]},
     "service.regex", "needs a group"),
    ("service value key", {"service": {"fields": "level"}, "rules": [GOOD_RULE]}, "service.fields", "unknown key"),
    ("service field the pattern lacks", {"service": {"field": "host"}, "rules": [GOOD_RULE]}, "service",
     "refers to 'host'"),
    ("bad unmatched policy", {"unmatched": "drop", "rules": [GOOD_RULE]}, "unmatched", "skip, quarantine"),
    ("rules and mapped event_type", {"columns": {"event_type": "level"}, "rules": [GOOD_RULE]},
     "columns.event_type", "not both"),
    ("unknown config section", {"config": {"session": {}}, "rules": [GOOD_RULE]}, "config.session",
     "unknown section"),
    ("unknown config key", {"config": {"sessions": {"infer": True}}, "rules": [GOOD_RULE]},
     "config.sessions.infer", "unknown key"),
    ("timestamp option under config", {"config": {"ingest": {"timezone": "UTC"}}, "rules": [GOOD_RULE]},
     "config.ingest.timezone", "timestamp section"),
]


@pytest.mark.parametrize("what,spec,key,problem", BAD_PROFILES, ids=[case[0] for case in BAD_PROFILES])
def test_bad_profile_names_profile_key_and_problem(what, spec, key, problem):
    with pytest.raises(ConfigError) as err:
        profile_of(**spec)
    assert err.value.where == "t.yaml"
    assert err.value.key == key
    assert problem in err.value.problem
    assert str(err.value).startswith(f"t.yaml: {key}: ")


def test_bad_profile_file_error_names_the_file(tmp_path):
    path = write(tmp_path / "zk.yaml", "name: zk\npattern: '^(?P<timestamp>\\S+) (?P<message>.*)$'\nservice: zk\n"
                 "rules:\n  - name: open\n    when: {message: 'open (?P<session>\\w+)'}\n"
                 "    event_type: START\n    session_id: sesion\n")
    with pytest.raises(ConfigError) as err:
        load_profile(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}: rules[open].session_id: refers to 'sesion'")
    assert "this rule's when groups: session" in message


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path / "broken.yaml", "name: x\nrules: [\n  - when\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d+"):
        load_profile(str(path))


def test_profile_that_is_not_a_mapping(tmp_path):
    path = write(tmp_path / "list.yaml", "- a\n- b\n")
    with pytest.raises(ConfigError, match="a profile is a YAML mapping"):
        load_profile(str(path))


def test_column_missing_from_the_data_is_a_config_error_naming_the_source():
    profile = Profile.from_mapping({"name": "c", "format": "csv", "columns": {"timestamp": "ts"}}, where="c.yaml")
    records = pd.DataFrame({"source": ["in.csv"], "record": [1], "time": ["2024-01-01T00:00:00Z"]})
    with pytest.raises(ConfigError) as err:
        profile.apply(records)
    assert err.value.key == "columns.timestamp"
    assert "refers to 'ts', which is not a column in in.csv" in err.value.problem


# --------------------------------------------------------------------------- rules


def records_of(lines: list[str], profile: Profile, source="in.log") -> pd.DataFrame:
    """The raw records the regex reader would produce for these lines (no file)."""
    text = pd.Series(lines, dtype="str")
    frame = text.str.extract(profile.pattern)
    frame.insert(0, "source", source)
    frame.insert(1, "record", range(1, len(lines) + 1))
    frame["malformed"] = pd.Series(pd.NA, index=frame.index, dtype="str")
    return frame


def test_first_matching_rule_wins_and_unmatched_lines_are_counted():
    profile = profile_of(rules=[
        {"name": "err", "when": {"level": "^ERROR$"}, "event_type": "ERROR"},
        {"name": "go", "when": {"message": "^start (?P<job>\\w+)"}, "event_type": "START", "session_id": "job"},
        {"name": "done", "when": {"message": "^done (?P<job>\\w+)"}, "event_type": "STOP", "session_id": "job"},
    ])
    records = records_of([
        "2024-01-02 09:00:00 INFO start a",
        "2024-01-02 09:00:01 ERROR start b",     # both rules match: the first wins
        "2024-01-02 09:00:02 INFO something else",
        "2024-01-02 09:00:03 INFO done a",
    ], profile)
    out, skipped = profile.apply(records)
    assert skipped == 1
    assert out["record"].tolist() == [1, 2, 4]
    assert out["event_type"].tolist() == ["START", "ERROR", "STOP"]
    assert out["rule"].tolist() == ["go", "err", "done"]
    assert out["session_id"].tolist()[0] == "a" and pd.isna(out["session_id"].iloc[1])
    assert out["service"].tolist() == ["svc"] * 3
    assert list(out.columns) == ["source", "record", "timestamp", "service", "event_type", "session_id",
                                 "malformed", "level", "message", "rule"]
    assert {"level", "message"} <= set(out.columns)


def test_unmatched_quarantine_marks_records_malformed_instead_of_skipping():
    profile = profile_of(unmatched="quarantine", rules=[GOOD_RULE])
    mapped = profile.map_records(records_of(["2024-01-02 09:00:00 INFO start a", "2024-01-02 09:00:01 INFO nope"],
                                            profile))
    assert mapped.skipped == 0 and mapped.skipped_by_reason == {}
    assert mapped.records["malformed"].isna().tolist() == [True, False]
    assert "no rule of profile 't' matches" in mapped.records["malformed"].iloc[1]


def test_skipped_by_reason_is_reported():
    profile = profile_of(rules=[GOOD_RULE])
    mapped = profile.map_records(records_of(["2024-01-02 09:00:00 INFO x", "2024-01-02 09:00:00 INFO y"], profile))
    assert mapped.skipped == 2 and mapped.skipped_by_reason == {"no_rule_match": 2}
    assert len(mapped.records) == 0


def test_malformed_records_pass_through_untouched_and_uncounted():
    profile = profile_of(rules=[GOOD_RULE])
    records = records_of(["2024-01-02 09:00:00 INFO start a", "garbage"], profile)
    records.loc[1, "malformed"] = "broken"
    out, skipped = profile.apply(records)
    assert skipped == 0
    assert out["malformed"].tolist()[1] == "broken" and pd.isna(out["event_type"].iloc[1])


def test_numeric_conditions_on_a_group_of_the_same_rule():
    shorthand = {"message": "status=(?P<status>\\d+)", "status_gte": 500}
    longhand = {"message": "status=(?P<status>\\d+)", "status": {"gte": 500}}
    for when in (shorthand, longhand):
        profile = profile_of(rules=[
            {"name": "bad", "when": when, "event_type": "ERROR"},
            {"name": "ok", "when": {"message": "status=\\d+"}, "event_type": "STOP"},
        ])
        out, skipped = profile.apply(records_of([
            "2024-01-02 09:00:00 INFO status=200", "2024-01-02 09:00:00 INFO status=503",
            "2024-01-02 09:00:00 INFO status=499"], profile))
        assert out["event_type"].tolist() == ["STOP", "ERROR", "STOP"] and skipped == 0


@pytest.mark.parametrize("unit,raw,expected", [
    ("s", "0.25", 250.0), ("ms", "12.5", "12.5"), ("us", "1500", 1.5), ("ns", "2000000", 2.0)])
def test_latency_is_converted_to_milliseconds(unit, raw, expected):
    profile = profile_of(rules=[{"when": {"message": "took (?P<t>\\S+)"}, "event_type": "STOP",
                                 "latency": {"field": "t", "unit": unit}}])
    out, _ = profile.apply(records_of([f"2024-01-02 09:00:00 INFO took {raw}"], profile))
    assert out["latency_ms"].iloc[0] == expected  # ms stays raw: ingest parses and validates it


def test_latency_that_is_not_a_number_stays_raw_for_ingest_to_judge():
    profile = profile_of(rules=[{"when": {"message": "took (?P<t>\\S+)"}, "event_type": "STOP",
                                 "latency": {"field": "t", "unit": "s"}}])
    out, _ = profile.apply(records_of(["2024-01-02 09:00:00 INFO took 0.5",
                                       "2024-01-02 09:00:00 INFO took fast"], profile))
    assert out["latency_ms"].tolist() == [500.0, "fast"]


def test_templates_and_field_regexes_build_session_ids_and_services():
    profile = profile_of(
        service={"field": "source", "regex": "(?P<svc>[\\w-]+)\\.log$"},
        rules=[{"when": {"message": "job (?P<job>\\w+)"}, "event_type": "START", "session_id": "job:{job}:{level}"},
               {"when": {"message": "ctx=(?P<ctx>\\S+)"}, "event_type": "STOP",
                "session_id": {"field": "ctx", "regex": "^(req-\\d+)"}}])
    out, _ = profile.apply(records_of([
        "2024-01-02 09:00:00 INFO job a1", "2024-01-02 09:00:00 INFO ctx=req-7,x", "2024-01-02 09:00:00 INFO ctx=-"],
        profile, source="/var/log/billing-api.log"))
    assert out["service"].tolist() == ["billing-api"] * 3
    assert out["session_id"].tolist()[:2] == ["job:a1:INFO", "req-7"]
    assert pd.isna(out["session_id"].iloc[2])


def test_column_mapping_renames_source_columns():
    profile = Profile.from_mapping({"name": "c", "format": "csv",
                                    "columns": {"timestamp": "ts", "service": "app", "event_type": "kind"}}, where="c")
    records = pd.DataFrame({"source": ["f.csv"], "record": [1], "ts": ["2024-01-01T00:00:00Z"], "app": ["a"],
                            "kind": ["start"], "note": ["x"]})
    out, skipped = profile.apply(records)
    assert skipped == 0
    assert out.iloc[0][["timestamp", "service", "event_type", "note"]].tolist() == [
        "2024-01-01T00:00:00Z", "a", "start", "x"]
    assert "ts" not in out.columns and "app" not in out.columns


def test_apply_does_not_mutate_its_input_and_handles_empty_frames():
    profile = load_profile("spark")
    records = records_of(["17/06/09 20:10:45 INFO executor.Executor: Running task 0.0 in stage 0.0 (TID 0)"], profile)
    before = records.copy()
    profile.apply(records)
    pd.testing.assert_frame_equal(records, before)
    empty = pd.DataFrame({"source": pd.Series([], dtype="str"), "record": pd.Series([], dtype="int64"),
                          "malformed": pd.Series([], dtype="str")})
    out, skipped = profile.apply(empty)
    assert len(out) == 0 and skipped == 0 and "event_type" in out.columns


# --------------------------------------------------------------------------- regex reader


def test_regex_reader_numbers_non_blank_lines_and_handles_crlf_and_no_final_newline(tmp_path):
    profile = profile_of(rules=[GOOD_RULE])
    text = "2024-01-02 09:00:00 INFO start a\n\n   \n2024-01-02 09:00:01 INFO start b\n2024-01-02 09:00:02 INFO start c"
    for newline in ("\n", "\r\n"):
        result = read_input(write(tmp_path / f"x{len(newline)}.log", text, newline), profile)
        assert result.records["record"].tolist() == [1, 2, 3]
        assert result.records["session_id"].tolist() == ["a", "b", "c"]
        assert not result.records["message"].str.endswith("\r").any()


def test_regex_reader_reads_gzip(tmp_path):
    path = tmp_path / "x.log.gz"
    path.write_bytes(gzip.compress(b"2024-01-02 09:00:00 INFO start a\r\n2024-01-02 09:00:01 INFO start b"))
    result = read_input(path, profile_of(rules=[GOOD_RULE]))
    assert result.records["session_id"].tolist() == ["a", "b"]


def test_lines_the_pattern_does_not_match_are_skipped_and_counted(tmp_path):
    path = write(tmp_path / "x.log", "2024-01-02 09:00:00 INFO start a\n\tat stack.Frame(Foo.java:1)\n"
                 "2024-01-02 09:00:01 INFO other\n")
    result = READERS["regex"](path, profile_of(rules=[GOOD_RULE]))
    assert result.skipped == 1 and result.skipped_by_reason == {"no_pattern_match": 1}
    assert result.records["record"].tolist() == [1, 3]
    total = read_input(path, profile_of(rules=[GOOD_RULE]))
    assert total.skipped == 2 and len(total.records) == 1


def test_lines_the_pattern_does_not_match_are_quarantined_on_request(tmp_path):
    path = write(tmp_path / "x.log", "2024-01-02 09:00:00 INFO start a\n\tat stack.Frame(Foo.java:1)\n")
    result = read_input(path, profile_of(rules=[GOOD_RULE], unmatched="quarantine"))
    assert result.skipped == 0
    assert result.records["record"].tolist() == [1, 2]
    assert "does not match the pattern" in result.records["malformed"].iloc[1]
    assert result.records["raw"].iloc[1] == "\tat stack.Frame(Foo.java:1)"


def test_a_line_with_bytes_that_are_not_utf8_is_malformed_not_fatal(tmp_path):
    path = tmp_path / "x.log"
    path.write_bytes(b"2024-01-02 09:00:00 INFO start a\n2024-01-02 09:00:01 INFO start \xff\xfe\n")
    result = read_input(path, profile_of(rules=[GOOD_RULE]))
    assert result.records["record"].tolist() == [1, 2]
    assert result.records["malformed"].tolist()[1] == "bytes that are not UTF-8"


def test_empty_log_is_empty_input_not_an_error(tmp_path):
    for content in (b"", b"\n\n  \r\n"):
        path = tmp_path / "empty.log"
        path.write_bytes(content)
        result = read_input(path, profile_of(rules=[GOOD_RULE]))
        assert result.file_issues == ("empty_input",) and len(result.records) == 0 and result.skipped == 0


def test_raw_text_without_a_profile_pattern_is_a_config_error(tmp_path):
    path = write(tmp_path / "x.log", "hello\n")
    with pytest.raises(ConfigError, match="needs a profile with a pattern"):
        READERS["regex"](path, None)


# --------------------------------------------------------------------------- built-ins on tiny fixtures


def test_openstack_profile_on_fixture():
    result = read_input(LOGS / "openstack_tiny.log", load_profile("openstack"))
    out = result.records
    assert result.skipped == 2  # VM Resumed, scheduler sync (the blank line is not a record)
    assert out["record"].tolist() == [1, 2, 3, 4, 6, 7, 8, 9]
    assert out["rule"].tolist() == ["api_request", "api_error", "api_request", "vm_start", "terminate_start",
                                    "terminate_stop", "vm_stop", "vm_start"]
    assert out["service"].tolist() == ["nova-api"] * 3 + ["nova-compute"] * 5
    assert out["session_id"].tolist()[:2] == ["req-11111111-aaaa-4bbb-8ccc-000000000001",
                                              "req-11111111-aaaa-4bbb-8ccc-000000000002"]
    assert pd.isna(out["session_id"].iloc[2])  # [-]: no request id
    assert out["session_id"].tolist()[3:] == [
        "vm:aaaaaaaa-0000-4000-8000-000000000001", "terminate:aaaaaaaa-0000-4000-8000-000000000001",
        "terminate:aaaaaaaa-0000-4000-8000-000000000001", "vm:aaaaaaaa-0000-4000-8000-000000000001",
        "vm:bbbbbbbb-0000-4000-8000-000000000002"]
    assert out["latency_ms"].tolist()[:3] == [250.0, 12.5, 0.8]
    assert out["timestamp"].iloc[-1] == "2024-01-02 09:00:31.000"


def test_spark_profile_on_fixture():
    result = read_input(LOGS / "spark_tiny.log", load_profile("spark"))
    out = result.records
    assert result.skipped == 2 and result.skipped_by_reason == {"no_pattern_match": 1, "no_rule_match": 1}
    assert counts(out) == {"START": 3, "STOP": 2}
    assert out["session_id"].tolist() == ["7", "8", "8", "7", "9"]
    assert (out["service"] == "spark-executor").all()


def test_hadoop_profile_on_fixture():
    out = read_input(LOGS / "hadoop_tiny.log", load_profile("hadoop")).records
    assert counts(out, ("event_type", "session_id")) == {
        ("START", "attempt_1_0001_m_000000_0"): 1, ("START", "attempt_1_0001_m_000001_0"): 1,
        ("STOP", "attempt_1_0001_m_000000_0"): 1, ("ERROR", "attempt_1_0001_m_000001_0"): 1}
    assert out["timestamp"].iloc[0] == "2024-01-02 09:00:02,000"


def test_hdfs_profile_on_fixture():
    result = read_input(LOGS / "hdfs_tiny.log", load_profile("hdfs"))
    out = result.records
    assert result.skipped == 2
    assert out[["event_type", "session_id"]].values.tolist() == [
        ["START", "blk_123"], ["START", "blk_-456"], ["STOP", "blk_123"], ["STOP", "blk_-789"]]


@pytest.mark.parametrize("name,fixture", [("openstack", "openstack_tiny.log"), ("spark", "spark_tiny.log"),
                                          ("hadoop", "hadoop_tiny.log"), ("hdfs", "hdfs_tiny.log")])
def test_builtin_fixture_timestamps_parse_through_ingest(name, fixture):
    from logrecon.ingest import ingest
    profile = load_profile(name)
    records = read_input(LOGS / fixture, profile).records
    result = ingest(records, Config.from_params(**profile.ingest_overrides()).ingest)
    assert result.stats["quarantined"] == 0 and result.stats["events"] == len(records)
    assert result.frame["timestamp"].min().year == 2024


# --------------------------------------------------------------------------- zipkin reader


def test_zipkin_reader_on_fixture():
    result = read_input(ZIPKIN / "tiny.json", load_profile("zipkin"))
    out = result.records
    usable = out[out["malformed"].isna()]
    assert counts(usable) == {"START": 6, "STOP": 4, "ERROR": 1}
    assert out["record"].tolist() == [1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 6, 7, 8]
    assert usable.drop_duplicates("record")["session_id"].tolist() == ["a1:SERVER", "b2:CLIENT", "b2:SERVER", "c3",
                                                                       "d4:CLIENT", "e5"]
    stop = usable[(usable["event_type"] == "STOP") & (usable["record"] == 1)].iloc[0]
    assert stop["timestamp"] == 1704186000150000 and stop["latency_ms"] == 150.0
    error = usable[usable["event_type"] == "ERROR"].iloc[0]
    assert (error["service"], error["session_id"], error["timestamp"], error["error"]) == (
        "stock", "b2:SERVER", 1704186000047000, "timeout")
    assert pd.isna(usable[usable["record"] == 6]["timestamp"].iloc[0])  # no timestamp: ingest quarantines it
    assert out[out["record"] == 7]["malformed"].iloc[0] == "a JSON str, not a span object"
    assert out[out["record"] == 8]["malformed"].iloc[0] == "span without an id"
    assert usable[usable["record"] == 2]["remote_service"].iloc[0] == "stock"


def test_zipkin_timestamps_stay_exact_integers():
    out = read_input(ZIPKIN / "tiny.json", load_profile("zipkin")).records
    stamps = out["timestamp"].dropna()
    assert all(type(v) is int for v in stamps)


def test_zipkin_vendored_skew_sample():
    out = read_input(ZIPKIN / "skew.json", load_profile("zipkin")).records
    assert counts(out) == {"START": 4, "STOP": 4}
    assert out["session_id"].nunique() == 4  # the shared span id is two sessions: CLIENT and SERVER


def test_zipkin_list_of_traces_is_flattened(tmp_path):
    path = write(tmp_path / "traces.json", '[[{"traceId":"t","id":"a","timestamp":1704186000000000,"duration":5,'
                 '"localEndpoint":{"serviceName":"s"}}],[{"traceId":"u","id":"b","timestamp":1704186000000001,'
                 '"localEndpoint":{"serviceName":"s"}}]]')
    out = read_input(path, load_profile("zipkin")).records
    assert out["record"].tolist() == [1, 1, 2] and out["event_type"].tolist() == ["START", "STOP", "START"]


@pytest.mark.parametrize("content,problem", [
    ('[{"id": "a"', "broken JSON"), ('{"id": "a"}', "holds a JSON dict")])
def test_zipkin_file_that_is_not_a_span_array_is_an_input_error(tmp_path, content, problem):
    path = write(tmp_path / "bad.json", content)
    with pytest.raises(InputError, match=problem):
        read_input(path, load_profile("zipkin"))


@pytest.mark.parametrize("content", ["", "[]", "  \n"])
def test_empty_zipkin_file_is_empty_input(tmp_path, content):
    result = read_input(write(tmp_path / "e.json", content), load_profile("zipkin"))
    assert result.file_issues == ("empty_input",) and len(result.records) == 0


# --------------------------------------------------------------------------- parquet reader


def test_parquet_reader_with_a_column_mapping(tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame({"ts": ["2024-01-02T09:00:00Z", "2024-01-02T09:00:01Z"], "app": ["a", "a"],
                  "kind": ["START", "STOP"], "job": ["j1", "j1"], "took": [None, 1.5]}).to_parquet(path)
    profile = Profile.from_mapping({"name": "pq", "format": "parquet", "columns": {
        "timestamp": "ts", "service": "app", "event_type": "kind", "session_id": "job"},
        "latency": {"field": "took", "unit": "s"}}, where="pq")
    result = read_input(path, profile)
    out = result.records
    assert out["record"].tolist() == [1, 2]
    assert out["session_id"].tolist() == ["j1", "j1"] and out["latency_ms"].iloc[1] == 1500.0
    assert out["source"].iloc[0] == str(path)


def test_parquet_by_extension_without_profile(tmp_path):
    path = tmp_path / "c.parquet"
    pd.DataFrame({"timestamp": [1704186000], "service": ["a"], "event_type": ["START"]}).to_parquet(path)
    out = read_input(path, None).records
    assert out[["record", "service"]].values.tolist() == [[1, "a"]]


def test_empty_and_corrupt_parquet(tmp_path):
    empty = tmp_path / "e.parquet"
    pd.DataFrame({"timestamp": pd.Series([], dtype="str")}).to_parquet(empty)
    assert READERS["parquet"](empty, None).file_issues == ("empty_input",)
    zero = tmp_path / "z.parquet"
    zero.write_bytes(b"")
    assert READERS["parquet"](zero, None).file_issues == ("empty_input",)
    corrupt = tmp_path / "c.parquet"
    corrupt.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        READERS["parquet"](corrupt, None)


# --------------------------------------------------------------------------- README.md examples


def doc_yaml_blocks() -> dict[str, str]:
    """The YAML code blocks of README.md that define a named profile, by name."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    named = {}
    for block in blocks:
        spec = yaml.safe_load(block)
        if isinstance(spec, dict) and spec.get("name") in ("zookeeper", "nginx-api", "batch-jobs"):
            named[spec["name"]] = block
    return named


def test_worked_example_in_the_docs_is_the_tested_fixture():
    assert doc_yaml_blocks()["zookeeper"] == (FIXTURES / "profiles" / "zookeeper.yaml").read_text(encoding="utf-8")


def test_worked_example_profile_reads_its_sample_log():
    from logrecon.ingest import ingest
    profile = load_profile(str(FIXTURES / "profiles" / "zookeeper.yaml"))
    result = read_input(FIXTURES / "profiles" / "zookeeper.log", profile)
    out = result.records
    assert len(out) + result.skipped == 11 and result.skipped == 4
    assert profile.map_records(READERS["regex"](FIXTURES / "profiles" / "zookeeper.log", profile).records) \
        .skipped_by_reason == {"no_rule_match": 3}
    assert counts(out) == {"START": 3, "STOP": 2, "ERROR": 2}
    assert out["rule"].tolist() == ["session_open", "session_open", "session_closed", "session_expired",
                                    "session_closed", "session_open", "server_error"]
    assert set(out["service"]) == {"zookeeper-1"}
    events = ingest(out, Config.from_params(**profile.ingest_overrides()).ingest).frame
    assert events["timestamp"].iloc[0] == pd.Timestamp("2024-03-02T09:15:03.100Z")


def test_nginx_example_in_the_docs(tmp_path):
    from logrecon.ingest import ingest
    path = write(tmp_path / "profile.yaml", doc_yaml_blocks()["nginx-api"])
    profile = load_profile(str(path))
    log = write(tmp_path / "access.log", "\n".join([
        '10.0.0.1 - - [02/Mar/2024:10:15:01 +0100] "GET /orders/1 HTTP/1.1" 200 512 "-" "curl/8" rt=0.153 rid=r1',
        '10.0.0.2 - - [02/Mar/2024:10:15:02 +0100] "POST /orders HTTP/1.1" 502 0 "-" "curl/8" rt=1.002 rid=r2',
        '10.0.0.3 - - [02/Mar/2024:10:15:03 +0100] "GET /health HTTP/1.1" 200 2 "-" "kube-probe" rt=0.000 rid=r3',
        'garbage line']))
    result = read_input(log, profile)
    out = result.records
    assert result.skipped == 1
    assert out[["service", "event_type", "session_id", "latency_ms"]].values.tolist() == [
        ["orders", "STOP", "r1", 153.0], ["orders", "ERROR", "r2", 1002.0], ["health", "STOP", "r3", 0.0]]
    events = ingest(out, Config.from_params(**profile.ingest_overrides()).ingest).frame
    assert events["timestamp"].iloc[0] == pd.Timestamp("2024-03-02T09:15:01Z")


def test_csv_example_in_the_docs(tmp_path):
    path = write(tmp_path / "profile.yaml", doc_yaml_blocks()["batch-jobs"])
    profile = load_profile(str(path))
    data = write(tmp_path / "jobs.csv", "ts,app,job_id,phase,elapsed_s\n1709370901000,etl,j1,BEGIN,\n"
                 "1709370905000,etl,j1,end,4.0\n1709370906000,etl,j2,Failed,\n1709370907000,etl,j3,paused,\n")
    result = read_input(data, profile)
    out = result.records
    assert result.skipped == 0
    assert out["event_type"].tolist()[:3] == ["START", "STOP", "ERROR"]
    assert "no rule of profile 'batch-jobs'" in out["malformed"].iloc[3]
    assert out["session_id"].tolist() == ["j1", "j1", "j2", "j3"]
    assert out["latency_ms"].iloc[1] == 4000.0


# --------------------------------------------------------------------------- regex engines


@pytest.mark.parametrize("pattern,expected", [
    ("^(req-[0-9a-f-]+)", "^(?P<_g1>req-[0-9a-f-]+)"),
    ("(?P<a>x)(y)[(]\\((z)", "(?P<a>x)(?P<_g2>y)[(]\\((?P<_g3>z)"),
    ("[]()](w)", "[]()](?P<_g1>w)"),
    ("(?i)(?:a|b)(c)", "(?i)(?:a|b)(?P<_g1>c)"),
])
def test_unnamed_groups_are_named_for_re2(pattern, expected):
    from logrecon.profiles import _name_unnamed_groups
    assert _name_unnamed_groups(pattern) == expected


@pytest.mark.parametrize("pattern", [
    "took (?P<t>\\d+)ms",                 # RE2 (pyarrow)
    "(?<=took )(?P<t>\\d+)(?=ms)",        # lookarounds: Python re fallback
])
def test_both_regex_engines_give_the_same_events(pattern):
    profile = profile_of(rules=[{"when": {"message": pattern}, "event_type": "STOP",
                                 "latency": {"field": "t", "unit": "ms"}}])
    out, skipped = profile.apply(records_of(["2024-01-02 09:00:00 INFO took 12ms", "2024-01-02 09:00:00 INFO nope",
                                             "2024-01-02 09:00:00 INFO took 7ms"], profile))
    assert skipped == 1 and out["record"].tolist() == [1, 3] and out["latency_ms"].tolist() == ["12", "7"]


def test_python_only_pattern_reads_a_file(tmp_path):
    profile = profile_of(pattern="^(?P<timestamp>\\S+ \\S+) (?P<level>[A-Z]+) (?P<message>(?!DEBUG).*)$",
                         rules=[GOOD_RULE])
    path = write(tmp_path / "x.log", "2024-01-02 09:00:00 INFO start a\n2024-01-02 09:00:00 INFO DEBUG start b\n")
    result = read_input(path, profile)
    assert result.records["session_id"].tolist() == ["a"] and result.skipped == 1


# --------------------------------------------------------------------------- command line


def test_bad_profile_exits_2_with_one_line_naming_profile_key_and_problem(tmp_path, capsys):
    from logrecon.cli import main
    profile = write(tmp_path / "zk.yaml", (FIXTURES / "profiles" / "zookeeper.yaml").read_text(encoding="utf-8")
                    .replace("session_id: session\n", "session_id: sesion\n", 1))
    code = main(["-q", "run", str(FIXTURES / "profiles" / "zookeeper.log"), "--profile", str(profile),
                 "--out", str(tmp_path / "run"), "--no-report"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0] == (f"logrecon: error: {profile}: rules[session_open].session_id: refers to 'sesion', which is not "
                      "a named group of the pattern (available: level, message, server, thread, timestamp; "
                      "this rule's when groups: session)")
    assert not (tmp_path / "run").exists()


def test_unknown_profile_name_exits_2(tmp_path, capsys):
    from logrecon.cli import main
    code = main(["-q", "run", str(LOGS / "spark_tiny.log"), "--profile", "sparky", "--out", str(tmp_path / "r"),
                 "--no-report"])
    assert code == 2 and "sparky: no built-in profile" in capsys.readouterr().err


def test_worked_example_end_to_end_through_the_cli(tmp_path):
    from logrecon.cli import main
    out = tmp_path / "zk"
    code = main(["-q", "run", str(FIXTURES / "profiles" / "zookeeper.log"), "--profile",
                 str(FIXTURES / "profiles" / "zookeeper.yaml"), "--out", str(out), "--no-report"])
    assert code == 0
    sessions = pd.read_csv(out / "reconstructed_sessions.csv", dtype={"session_id": "str"})
    table = sessions.set_index("session_id")
    assert table.loc["0x18e0a2b3c4d0000", "status"] == "complete"
    assert table.loc["0x18e0a2b3c4d0000", "duration_ms"] == 6776
    assert table.loc["0x18e0a2b3c4d0001", "duration_ms"] == 11752 and table.loc["0x18e0a2b3c4d0001", "errors"] == 1
    assert table.loc["0x18e0a2b3c4d0002", "status"] == "missing_stop"
    assert set(sessions["service"]) == {"zookeeper-1"}
    manifest = __import__("json").loads((out / "manifest.json").read_text(encoding="utf-8"))
    accounting = manifest["row_accounting"]
    assert (accounting["records_read"], accounting["events"], accounting["skipped"]) == (11, 7, 4)
    assert accounting["balanced"]


def test_yearless_timestamps_take_the_profile_year(tmp_path):
    from logrecon.ingest import ingest
    profile = Profile.from_mapping({
        "name": "syslog", "pattern": "^(?P<timestamp>\\w{3} +\\d+ \\d{2}:\\d{2}:\\d{2}) (?P<host>\\S+) (?P<message>.*)$",
        "timestamp": {"format": "%b %d %H:%M:%S", "year": 2023, "timezone": "America/New_York"},
        "service": "{host}",
        "rules": [{"when": {"message": "job (?P<job>\\d+) started"}, "event_type": "START", "session_id": "job"}],
    }, where="syslog.yaml")
    path = write(tmp_path / "messages", "Mar  2 10:15:01 web1 job 7 started\nDec 31 23:59:59 web2 job 8 started\n")
    records = read_input(path, profile).records
    assert records["service"].tolist() == ["web1", "web2"]
    events = ingest(records, Config.from_mapping(profile.config_overrides()).ingest).frame
    assert events["timestamp"].tolist() == [pd.Timestamp("2023-03-02T15:15:01Z"), pd.Timestamp("2024-01-01T04:59:59Z")]


@pytest.mark.parametrize("name,content", [
    ("c.csv", "timestamp,service,event_type,latency_ms,session_id\n2024-01-02T09:00:00Z,api,START,,s1\n"),
    ("c.jsonl", '{"timestamp": "2024-01-02T09:00:00Z", "service": "api", "event_type": "START", "session_id": "s1"}\n'),
])
def test_canonical_profile_passes_canonical_records_through(tmp_path, name, content):
    result = read_input(write(tmp_path / name, content), load_profile("canonical"))
    assert result.skipped == 0
    assert result.records[["record", "service", "event_type", "session_id"]].values.tolist() == [[1, "api", "START", "s1"]]
