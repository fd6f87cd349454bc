"""Config: one frozen object; unknown keys are errors that list the known ones."""

from __future__ import annotations

import dataclasses

import pytest

from logrecon.config import Config
from logrecon.errors import ConfigError


def test_flat_params_land_in_their_sections():
    cfg = Config.from_params(gap_threshold="30", strategy="lifo", allowed_lateness_ms=5)
    assert cfg.validate.gap_threshold == 30.0 and cfg.sessions.strategy == "lifo"
    assert cfg.normalize.allowed_lateness_ms == 5.0


def test_unknown_key_is_an_error_listing_known_keys():
    with pytest.raises(ConfigError, match="gap_treshold: unknown key; known keys: .*gap_threshold"):
        Config.from_params(gap_treshold=5)


@pytest.mark.parametrize("mapping, message", [
    ({"sesions": {}}, "unknown section"),
    ({"sessions": {"stratgy": "fifo"}}, "sessions.stratgy: unknown key"),
    ({"sessions": {"strategy": "random"}}, "unknown strategy"),
    ({"validate": {"gap_threshold": -1}}, "must be > 0"),
    ({"validate": {"gap_threshold": "soon"}}, "expected seconds or 'auto'"),
])
def test_bad_mappings_say_what_is_wrong(mapping, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_mapping(mapping)


def test_yaml_config_and_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("validate:\n  gap_threshold: auto\nnormalize:\n  dedup_key: [timestamp, service]\n")
    cfg = Config.from_yaml(path)
    assert cfg.validate.gap_threshold == "auto" and cfg.normalize.dedup_key == ("timestamp", "service")
    assert Config.from_mapping(cfg.to_dict()) == cfg


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().sessions.strategy = "lifo"


@pytest.mark.parametrize("mapping, key, says", [
    ({"ingest": {"timestamp_format": "%Q"}}, "ingest.timestamp_format", "'Q' is a bad directive in format '%Q'"),
    ({"ingest": {"timestamp_format": "%d/%m/%Y %"}}, "ingest.timestamp_format", "stray % in format"),
    ({"validate": {"warn_rate": 0.2, "fail_rate": 0.1}}, "validate.warn_rate",
     "0.2 is above validate.fail_rate 0.1: a check would fail before it warns"),
])
def test_settings_that_would_silently_misjudge_every_record_are_refused(mapping, key, says):
    with pytest.raises(ConfigError) as raised:
        Config.from_mapping(mapping, where="my.yaml")
    assert raised.value.key == key and says in str(raised.value)


def test_a_good_strptime_format_and_ordered_rates_are_kept():
    config = Config.from_mapping({"ingest": {"timestamp_format": "%d/%m/%Y %H:%M:%S"},
                                  "validate": {"warn_rate": 0.1, "fail_rate": 0.1}})
    assert config.ingest.timestamp_format == "%d/%m/%Y %H:%M:%S" and config.validate.warn_rate == 0.1


@pytest.mark.parametrize("mapping, key, says", [
    ({"ingest": {"window_start": "yesterday"}}, "ingest.window_start", "expected an ISO-8601 date"),
    ({"ingest": {"window_start": "2030-01-01", "window_end": "2020-01-01"}}, "ingest.window_start",
     "2030-01-01 is not before ingest.window_end 2020-01-01: the window would quarantine every record"),
    ({"metrics": {"healthy_error_rate": 0.5}}, "metrics.healthy_error_rate",
     "0.5 is above metrics.unreliable_error_rate 0.2"),
    ({"metrics": {"degraded_consistency": 0.99}}, "metrics.degraded_consistency",
     "0.99 is above metrics.healthy_consistency 0.95"),
])
def test_windows_and_verdict_thresholds_out_of_order_are_refused(mapping, key, says):
    with pytest.raises(ConfigError) as raised:
        Config.from_mapping(mapping, where="my.yaml")
    assert raised.value.key == key and says in str(raised.value)
