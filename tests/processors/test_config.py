"""The pipeline config: the Collector's shape, env expansion, errors that name the key path."""

from __future__ import annotations

import pytest

from processors.config import ConfigError, expand_env, parse_config

MINIMAL = """
receivers:
  otlp: {grpc: {endpoint: 127.0.0.1:0}}
exporters:
  otlp: {endpoint: 127.0.0.1:1}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp]}
"""


def test_minimal_config_parses_with_defaults():
    cfg = parse_config(MINIMAL)
    assert list(cfg.service.pipelines) == ["traces"]
    assert cfg.service.pipelines["traces"].processors == []
    assert cfg.service.server.drain_timeout_s == 10.0


def test_unknown_top_level_key_names_the_key():
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL + "extensionz: {}\n")
    assert str(err.value) == "extensionz: unknown key"


def test_unknown_key_inside_a_pipeline_names_the_path():
    text = MINIMAL.replace("traces: {receivers: [otlp], exporters: [otlp]}",
                           "traces: {receivers: [otlp], exporters: [otlp], procesors: []}")
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    assert err.value.path == "service.pipelines.traces.procesors"


def test_pipeline_names_must_be_signals():
    with pytest.raises(ConfigError) as err:
        parse_config(MINIMAL.replace("    traces:", "    spans:"))
    assert err.value.path == "service.pipelines"
    assert "'spans'" in err.value.problem


def test_env_references_expand_with_type_and_default():
    env = {"RATIO": "0.25", "HOST": "collector"}
    tree = {"a": "${env:RATIO}", "b": "${env:HOST}:4317", "c": "${env:MISSING:-x}", "d": "${HOST}"}
    assert expand_env(tree, environ=env) == {"a": 0.25, "b": "collector:4317", "c": "x", "d": "collector"}


def test_unset_env_without_default_names_the_key_path():
    with pytest.raises(ConfigError) as err:
        expand_env({"processors": {"redaction": {"hash_key": "${env:NOPE}"}}}, environ={})
    assert err.value.path == "processors.redaction.hash_key"
    assert "NOPE" in err.value.problem


def test_invalid_yaml_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("receivers: [unclosed")


def test_errors_never_quote_values_of_secret_looking_keys():
    from pydantic import Field

    from processors.config import ComponentConfig, validate_component

    class WithSecret(ComponentConfig):
        api_token: str = Field(min_length=32)
        ratio: float = Field(le=1)

    with pytest.raises(ConfigError) as err:
        validate_component(WithSecret, {"api_token": "hunter2-short", "ratio": 0.5}, "exporters.x")
    assert err.value.path == "exporters.x.api_token"
    assert "hunter2" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        validate_component(WithSecret, {"api_token": "a" * 32, "ratio": 1.5}, "exporters.x")
    assert "(got 1.5)" in str(err.value)


def test_an_env_value_that_is_not_yaml_stays_text():
    assert expand_env({"endpoint": "${env:X}"}, environ={"X": "a: b: c"}) == {"endpoint": "a: b: c"}


def test_absurd_nesting_is_a_config_error_not_a_crash():
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_config("a: " + "[" * 600 + "]" * 600)
