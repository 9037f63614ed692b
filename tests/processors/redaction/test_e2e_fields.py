"""End to end: requests with PII in every field that is not an attribute value (keys,
bytes, names, versions, trace states, schema URLs, units...) go through bin/otelcol and
the processors running redaction; the sinks hold none of it, and the masked forms."""

from __future__ import annotations

import base64

import grpc
import pytest

from processors.api import Signal
from tests.processors.redaction.conftest import pipeline_yaml
from tests.processors.redaction.test_fields import BASES, EMAIL, FIELDS, MASKED, TEXT
from tests.support.pipeline import collector_pipeline, count_items

pytestmark = pytest.mark.e2e

PROCESSORS_YAML = pipeline_yaml()
EXPORT = {
    Signal.TRACES: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    Signal.LOGS: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    Signal.METRICS: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}


def planted(signal: Signal, text: str):
    req = BASES[signal]()
    for field_signal, plant in FIELDS.values():
        if field_signal is signal:
            plant(req, text)
    return req


def test_no_field_carries_pii_to_the_sinks(otelcol, tmp_path):
    with collector_pipeline(tmp_path, PROCESSORS_YAML) as p, grpc.insecure_channel(p.otlp_grpc_endpoint) as ch:
        for signal in Signal:
            call = ch.unary_unary(EXPORT[signal], request_serializer=None, response_deserializer=None)
            call(planted(signal, TEXT).SerializeToString(), timeout=10)
        for signal in Signal:
            p.wait_for(signal, lambda reqs, sig=signal: count_items(sig, reqs) >= 1, timeout=60)
            sink = p.sink_path(signal).read_text()
            assert EMAIL not in sink, f"the address reached the {signal.value} sink"
            assert base64.b64encode(TEXT.encode()).decode() not in sink
            assert MASKED in sink
