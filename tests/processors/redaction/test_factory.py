"""The redaction factory: found by type, builds from a pipeline config, and
refuses at startup what it cannot run (hash without a key, a bad pattern)."""

from __future__ import annotations

import pytest

from processors.api import CreateSettings, Signal
from processors.config import ConfigError, parse_config
from processors.pipeline import build_service
from processors.redaction.factory import FACTORY, TYPE, create, default_config
from processors.redaction.redaction import RedactionProcessor
from processors.registry import Registry
from processors.telemetry import SelfTelemetry
from tests.processors.redaction.conftest import HMAC_KEY

PIPELINE = """
receivers:
  otlp: {grpc: {endpoint: 127.0.0.1:0}}
processors:
  redaction: %s
  redaction/strict: {allow_all_keys: false, allowed_keys: [service.name]}
exporters:
  otlp: {endpoint: 127.0.0.1:9}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [redaction, redaction/strict], exporters: [otlp]}
    logs: {receivers: [otlp], processors: [redaction], exporters: [otlp]}
    metrics: {receivers: [otlp], processors: [redaction], exporters: [otlp]}
"""


def test_the_entry_point_resolves_to_this_factory():
    assert TYPE == "redaction"
    assert Registry().get("processors", "redaction") is FACTORY
    assert FACTORY.signals == frozenset(Signal)
    assert FACTORY.default_config() == default_config()


def test_create_compiles_the_rules_and_the_scan_once():
    processor = create(default_config(), CreateSettings("redaction/edge", SelfTelemetry()))
    assert isinstance(processor, RedactionProcessor)
    assert processor.scanner.engine == "hyperscan"
    assert len(processor.rules.detectors) == 8


def test_allow_list_mode_has_no_fast_path():
    config = FACTORY.config_model(allow_all_keys=False, allowed_keys=["service.name"])
    assert create(config, CreateSettings("redaction", SelfTelemetry())).scanner is None


def test_a_pipeline_builds_two_redaction_processors_on_one_registry():
    telemetry = SelfTelemetry()
    env = {"REDACTION_HMAC_KEY": HMAC_KEY}
    service = build_service(
        parse_config(PIPELINE % "{operator: hash, hash_key: '${env:REDACTION_HMAC_KEY}'}", environ=env),
        telemetry=telemetry,
    )
    assert isinstance(service.processors["redaction"], RedactionProcessor)
    assert isinstance(service.processors["redaction/strict"], RedactionProcessor)


def test_hash_without_a_key_refuses_to_start_naming_the_key():
    with pytest.raises(ConfigError) as err:
        build_service(parse_config(PIPELINE % "{operators: {phone: hash}}"))
    assert err.value.path == "processors.redaction"
    assert "hash_key: required when an operator is hash" in err.value.problem


def test_an_empty_key_from_the_environment_refuses_to_start():
    with pytest.raises(ConfigError, match="hash_key: required"):
        build_service(parse_config(PIPELINE % "{operator: hash, hash_key: '${env:K}'}", environ={"K": ""}))


def test_a_pattern_that_fails_names_its_list():
    with pytest.raises(ConfigError) as err:
        build_service(parse_config(PIPELINE % "{blocked_values: ['(?P<n>a)(?P<n>b)']}"))
    assert err.value.path == "processors.redaction"
    assert err.value.problem.startswith("creating redaction processor: blocked_values[0]: ")
