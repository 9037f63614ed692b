"""The ``debug`` exporter: counts, per-service counts or the whole request in
the log (processors/exporters/debug.py)."""

from __future__ import annotations

import json
import logging

import pytest

from bench.common import span_request
from processors.api import CreateSettings, Payload, Signal
from processors.config import ConfigError, validate_component
from processors.exporters.debug import FACTORY, DebugExporterConfig
from processors.registry import Registry
from processors.standalone import otlp_json
from processors.telemetry import SelfTelemetry

LOGGER = "otelproc.test-debug"


def make_exporter(**raw):
    config = validate_component(DebugExporterConfig, raw, "exporters.debug")
    settings = CreateSettings(component_id="debug", telemetry=SelfTelemetry(), logger=logging.getLogger(LOGGER))
    return FACTORY.create(config, settings)


def logs_of_two_services():
    req = Signal.LOGS.request_type()
    for service, n in (("cart", 1), ("checkout", 3)):
        rl = req.resource_logs.add()
        rl.resource.attributes.add(key="service.name").value.string_value = service
        for _ in range(n):
            rl.scope_logs.add().log_records.add().body.string_value = "card 4111 1111 1111 1111"
    return req


def test_the_entry_point_resolves_to_this_factory():
    assert Registry().get("exporters", "debug") is FACTORY
    assert FACTORY.default_config().verbosity == "basic"


def test_an_unknown_verbosity_names_the_key():
    with pytest.raises(ConfigError) as err:
        validate_component(DebugExporterConfig, {"verbosity": "loud"}, "exporters.debug")
    assert err.value.path == "exporters.debug.verbosity"


async def test_basic_logs_counts_and_no_values(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    await make_exporter().export(Payload(Signal.LOGS, message=logs_of_two_services()))
    assert caplog.messages == ["debug: logs: 2 resources, 4 scopes, 4 log records"]


async def test_basic_counts_metric_data_points(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    req = Signal.METRICS.request_type()
    metrics = req.resource_metrics.add().scope_metrics.add().metrics
    metrics.add(name="g").gauge.data_points.add()
    points = metrics.add(name="h").histogram.data_points
    points.add()
    points.add()
    metrics.add(name="no data")
    await make_exporter().export(Payload(Signal.METRICS, raw=req.SerializeToString()))
    assert caplog.messages == ["debug: metrics: 1 resources, 1 scopes, 3 metrics, 3 data points"]


async def test_normal_adds_items_per_service(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    await make_exporter(verbosity="normal").export(Payload(Signal.LOGS, message=logs_of_two_services()))
    assert caplog.messages == ["debug: logs: 2 resources, 4 scopes, 4 log records (checkout=3, cart=1)"]


async def test_detailed_logs_the_request_as_otlp_json(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    request = span_request(2)
    await make_exporter(verbosity="detailed").export(Payload(Signal.TRACES, message=request))
    counts, detail = caplog.messages
    assert counts == "debug: traces: 1 resources, 1 scopes, 2 spans"
    prefix = "debug: "
    assert detail.startswith(prefix)
    assert json.loads(detail[len(prefix):]) == json.loads(otlp_json.encode(Signal.TRACES, request))


async def test_nothing_is_parsed_when_info_is_off(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    payload = Payload(Signal.TRACES, raw=b"\xff not protobuf")
    await make_exporter(verbosity="detailed").export(payload)  # a malformed payload would raise if parsed
    assert caplog.messages == [] and not payload.parsed
