"""End to end: a FastAPI app logs through the OTel logs bridge, bin/otelcol routes
the logs by trace id to the processors running log_sampling, and the Collector's
file exporter holds what was kept: every ERROR, about a tenth of the INFO, whole
traces, each sampled record with its weight."""

from __future__ import annotations

import logging
import time
import urllib.request
from collections import defaultdict

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from processors.api import CreateSettings, Payload, Signal
from processors.log_sampling.config import SamplingConfig
from processors.log_sampling.sampler import LogSampler
from processors.log_sampling.self_metrics import DROPPED, KEPT
from processors.telemetry import SelfTelemetry
from tests.support.pipeline import collector_pipeline, count_items

pytestmark = pytest.mark.e2e

SAMPLING = {"info_ratio": 0.1, "hash_seed": 2024}
PROCESSORS_YAML = f"""
receivers:
  otlp:
    grpc: {{endpoint: "${{env:OTELPROC_RECEIVER_ENDPOINT}}"}}
processors:
  log_sampling: {{info_ratio: {SAMPLING["info_ratio"]}, hash_seed: {SAMPLING["hash_seed"]}}}
exporters:
  otlp: {{endpoint: "${{env:OTELPROC_NEXT_HOP}}"}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
    metrics: {{receivers: [otlp], exporters: [otlp]}}
    logs: {{receivers: [otlp], processors: [log_sampling], exporters: [otlp]}}
  telemetry:
    metrics: {{address: "${{env:OTELPROC_METRICS_ADDRESS}}"}}
"""
REQUESTS = 600
INFO_PER_REQUEST = 3
ERROR_EVERY = 10


def create_app(log: logging.Logger) -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict:
        log.info("order %d looked up", order_id)
        log.info("order %d priced", order_id)
        if order_id % ERROR_EVERY == 0:
            log.error("order %d payment declined", order_id)
        log.info("order %d served", order_id)
        return {"order": order_id}

    return app


def _records(requests) -> list:
    return [lr for req in requests for rl in req.resource_logs for sl in rl.scope_logs for lr in sl.log_records]


def _key(lr) -> tuple[bytes, str]:
    return lr.trace_id, lr.body.string_value


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_fastapi_app_under_load_keeps_errors_a_tenth_of_info_and_whole_traces(otelcol, tmp_path):
    with collector_pipeline(tmp_path, PROCESSORS_YAML) as p:
        resource = Resource.create({"service.name": "e2e-orders"})
        memory = InMemoryLogRecordExporter()
        lp = LoggerProvider(resource=resource)
        lp.add_log_record_processor(SimpleLogRecordProcessor(memory))
        lp.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=p.otlp_grpc_endpoint,
                                                                            insecure=True)))
        log = logging.getLogger("e2e.sampling.orders")
        log.propagate = False
        log.setLevel(logging.INFO)
        handler = LoggingHandler(level=logging.INFO, logger_provider=lp)
        log.addHandler(handler)
        tp = TracerProvider(resource=resource)
        app = create_app(log)
        FastAPIInstrumentor.instrument_app(app, tracer_provider=tp)
        try:
            with TestClient(app) as client:
                for order in range(REQUESTS):
                    assert client.get(f"/orders/{order}").status_code == 200
            lp.force_flush()
        finally:
            log.removeHandler(handler)

        sent = encode_logs(memory.get_finished_logs())
        sent_records = _records([sent])
        errors = {_key(lr) for lr in sent_records if lr.severity_text == "ERROR"}
        infos = [lr for lr in sent_records if lr.severity_text == "INFO"]
        assert len(errors) == REQUESTS // ERROR_EVERY and len(infos) == REQUESTS * INFO_PER_REQUEST
        assert all(len(lr.trace_id) == 16 for lr in sent_records), "the bridge correlates logs with the request span"

        # What the sampler decides for these records, computed here with the same config.
        expected = LogSampler(SamplingConfig(**SAMPLING), CreateSettings("x", SelfTelemetry())).process_logs(
            Payload(Signal.LOGS, message=type(sent).FromString(sent.SerializeToString())))
        expected_keys = {_key(lr) for lr in _records([expected.message])}

        p.wait_for(Signal.LOGS, lambda r: count_items(Signal.LOGS, r) >= len(expected_keys), timeout=60)
        time.sleep(1.0)  # anything beyond the expected would have arrived by now
        got_records = _records(p.read(Signal.LOGS))
        got_keys = [_key(lr) for lr in got_records]
        assert len(got_keys) == len(set(got_keys)) == len(expected_keys)
        assert set(got_keys) == expected_keys

        # Every ERROR.
        assert errors <= set(got_keys)
        # About a tenth of the INFO: 600 traces at 0.1 have a standard deviation of 1.2 %.
        got_infos = [lr for lr in got_records if lr.severity_text == "INFO"]
        assert 0.04 <= len(got_infos) / len(infos) <= 0.16
        # Whole traces: a trace with any INFO kept has all three.
        per_trace: dict[bytes, int] = defaultdict(int)
        for lr in got_infos:
            per_trace[lr.trace_id] += 1
        assert set(per_trace.values()) == {INFO_PER_REQUEST}
        # Each sampled record carries its weight; errors carry none.
        for lr in got_records:
            weight = next((kv.value.double_value for kv in lr.attributes if kv.key == "sampling.weight"), None)
            assert weight == (10.0 if lr.severity_text == "INFO" else None)

        # The processors' self-metrics agree with the sink.
        with urllib.request.urlopen(p.processors_metrics_url, timeout=5) as r:
            metrics = r.read().decode()
        assert _metric(metrics, f"{KEPT}_total", service="e2e-orders", severity="ERROR",
                       reason="severity") == len(errors)
        assert _metric(metrics, f"{KEPT}_total", service="e2e-orders", severity="INFO",
                       reason="sampled") == len(got_infos)
        assert _metric(metrics, f"{DROPPED}_total", service="e2e-orders", severity="INFO") == \
            len(infos) - len(got_infos)

        lp.shutdown()
        tp.shutdown()
