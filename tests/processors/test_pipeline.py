"""Building pipelines: every reference resolved and every component validated
before anything starts, with the YAML key path in each error."""

from __future__ import annotations

import pytest

from processors.api import Signal
from processors.config import ConfigError, parse_config
from processors.pipeline import build_service

BASE = """
receivers:
  otlp: {grpc: {endpoint: 127.0.0.1:0}}
exporters:
  otlp: {endpoint: 127.0.0.1:1}
  otlp/second: {endpoint: 127.0.0.1:2}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp, otlp/second]}
    logs: {receivers: [otlp], exporters: [otlp]}
"""


def build(text: str):
    return build_service(parse_config(text))


def test_builds_one_pipeline_per_entry_sharing_components():
    svc = build(BASE)
    assert set(svc.pipelines) == {"traces", "logs"}
    assert svc.pipelines["traces"].signal is Signal.TRACES
    assert [eid for eid, _ in svc.pipelines["traces"].exporters] == ["otlp", "otlp/second"]
    # one exporter instance, used by two pipelines
    assert svc.pipelines["logs"].exporters[0][1] is svc.pipelines["traces"].exporters[0][1]


def test_dangling_processor_reference_names_the_list_index():
    with pytest.raises(ConfigError) as err:
        build(BASE.replace("traces: {receivers: [otlp], exporters",
                           "traces: {receivers: [otlp], processors: [redactoin], exporters"))
    assert err.value.path == "service.pipelines.traces.processors[0]"
    assert "'redactoin' is not declared" in err.value.problem


def test_dangling_exporter_reference():
    with pytest.raises(ConfigError) as err:
        build(BASE.replace("exporters: [otlp]}", "exporters: [file]}"))
    assert err.value.path == "service.pipelines.logs.exporters[0]"


def test_unknown_component_type_lists_what_is_available():
    text = BASE.replace("  otlp/second:", "  kafka:").replace("otlp/second]", "kafka]")
    with pytest.raises(ConfigError) as err:
        build(text)
    assert err.value.path == "exporters.kafka"
    assert "unknown exporter type 'kafka'" in err.value.problem
    assert "otlp" in err.value.problem


def test_unknown_key_in_a_component_names_the_full_path():
    with pytest.raises(ConfigError) as err:
        build(BASE.replace("otlp: {grpc: {endpoint: 127.0.0.1:0}}",
                           "otlp: {grpc: {endpoint: 127.0.0.1:0, max_size: 1}}"))
    assert str(err.value) == "receivers.otlp.grpc.max_size: unknown key"


def test_bad_value_quotes_the_value_and_the_expectation():
    with pytest.raises(ConfigError) as err:
        build(BASE.replace("otlp: {endpoint: 127.0.0.1:1}", "otlp: {endpoint: 127.0.0.1:1, compression: zstd}"))
    assert err.value.path == "exporters.otlp.compression"
    assert "'zstd'" in err.value.problem


def test_missing_required_key():
    with pytest.raises(ConfigError) as err:
        build(BASE.replace("otlp: {endpoint: 127.0.0.1:1}", "otlp: {}"))
    assert err.value.path == "exporters.otlp.endpoint"
    assert "required" in err.value.problem.lower()


def test_unused_declared_components_are_not_built():
    svc = build(BASE.replace("  otlp/second: {endpoint: 127.0.0.1:2}",
                             "  otlp/second: {endpoint: 127.0.0.1:2}\n  otlp/unused: {}"))
    assert "otlp/unused" not in svc.exporters
