"""The log_sampling factory: found by type, logs only, built from a pipeline config."""

from __future__ import annotations

import pytest

from processors.api import CreateSettings, Signal
from processors.config import ConfigError, parse_config
from processors.log_sampling.factory import FACTORY, TYPE, create, default_config
from processors.log_sampling.sampler import LogSampler
from processors.pipeline import build_service
from processors.registry import Registry
from processors.telemetry import SelfTelemetry

PIPELINE = """
receivers:
  otlp: {grpc: {endpoint: 127.0.0.1:0}}
processors:
  log_sampling: {info_ratio: 0.25, per_service_budget: 500/s}
exporters:
  otlp: {endpoint: 127.0.0.1:9}
service:
  pipelines:
    %s: {receivers: [otlp], processors: [log_sampling], exporters: [otlp]}
"""


def test_the_entry_point_resolves_to_this_factory() -> None:
    assert TYPE == "log_sampling"
    assert Registry().get("processors", "log_sampling") is FACTORY
    assert FACTORY.signals == frozenset({Signal.LOGS})
    assert FACTORY.default_config() == default_config()


def test_create_builds_a_sampler_with_the_component_id() -> None:
    settings = CreateSettings(component_id="log_sampling/edge", telemetry=SelfTelemetry())
    sampler = create(default_config(), settings)
    assert isinstance(sampler, LogSampler)
    assert sampler.component_id == "log_sampling/edge"


def test_two_samplers_share_one_registry() -> None:
    """Self-metrics are registered once per registry; a second sampler must not collide."""
    telemetry = SelfTelemetry()
    a = create(default_config(), CreateSettings(component_id="log_sampling/a", telemetry=telemetry))
    b = create(default_config(), CreateSettings(component_id="log_sampling/b", telemetry=telemetry))
    assert a._metrics is b._metrics


def test_a_pipeline_config_builds_the_processor_with_its_config() -> None:
    service = build_service(parse_config(PIPELINE % "logs"))
    sampler = service.processors["log_sampling"]
    assert isinstance(sampler, LogSampler)
    assert sampler.config.info_ratio == 0.25
    assert sampler.config.per_service_budget == 500.0


def test_a_traces_pipeline_refuses_it_naming_the_place() -> None:
    with pytest.raises(ConfigError) as err:
        build_service(parse_config(PIPELINE % "traces"))
    assert err.value.path == "service.pipelines.traces.processors[0]"
    assert "logs" in err.value.problem


def test_a_bad_key_fails_with_the_processor_path() -> None:
    with pytest.raises(ConfigError) as err:
        build_service(parse_config((PIPELINE % "logs").replace("info_ratio: 0.25", "info_ratio: 2")))
    assert err.value.path == "processors.log_sampling.info_ratio"
