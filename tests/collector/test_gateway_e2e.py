"""End to end: the OTel Python SDK → bin/otelcol → the processors
(passthrough) → bin/otelcol → file exporter. Every span, log record and
metric point arrives with its ids and attributes intact, field by field."""

from __future__ import annotations

import logging

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from processors.api import Signal
from tests.support.pipeline import collector_pipeline, count_items

pytestmark = pytest.mark.e2e

RESOURCE = Resource.create({"service.name": "e2e-checkout", "service.instance.id": "i-1",
                            "deployment.environment": "test"})
N_TRACES, SPANS_PER_TRACE = 20, 5


def _spans_by_id(requests) -> dict[bytes, tuple]:
    out = {}
    for req in requests:
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                for sp in ss.spans:
                    out[sp.span_id] = (rs.resource, ss.scope, sp)
    return out


def _logs_by_key(requests) -> dict[tuple, tuple]:
    out = {}
    for req in requests:
        for rl in req.resource_logs:
            for sl in rl.scope_logs:
                for lr in sl.log_records:
                    out[(lr.span_id, lr.body.string_value)] = (rl.resource, sl.scope, lr)
    return out


def test_traces_logs_and_metrics_arrive_intact(otelcol, tmp_path):
    with collector_pipeline(tmp_path) as p:
        # --- traces: every span, with the encoder's own OTLP form as the reference ---
        memory = InMemorySpanExporter()
        tp = TracerProvider(resource=RESOURCE)
        tp.add_span_processor(SimpleSpanProcessor(memory))
        tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=p.otlp_grpc_endpoint, insecure=True)))
        tracer = tp.get_tracer("e2e.tracer", "1.2.3")
        # --- logs through the logging bridge, correlated with the spans ---
        log_memory = InMemoryLogRecordExporter()
        lp = LoggerProvider(resource=RESOURCE)
        lp.add_log_record_processor(SimpleLogRecordProcessor(log_memory))
        log_exporter = OTLPLogExporter(endpoint=p.otlp_grpc_endpoint, insecure=True)
        lp.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
        pylog = logging.getLogger("e2e.app")
        pylog.propagate = False
        pylog.setLevel(logging.INFO)
        pylog.addHandler(LoggingHandler(level=logging.INFO, logger_provider=lp))

        for t in range(N_TRACES):
            with tracer.start_as_current_span("GET /orders/{id}", kind=SpanKind.SERVER,
                                              attributes={"http.route": "/orders/{id}", "order.n": t}) as root:
                root.add_event("cache.miss", {"key.count": 3})
                for c in range(SPANS_PER_TRACE - 1):
                    with tracer.start_as_current_span(f"db.query {c}", kind=SpanKind.CLIENT,
                                                      links=[Link(root.get_span_context(), {"link.n": c})],
                                                      attributes={"db.system": "postgresql",
                                                                  "weights": [1.5, 2.5]}) as sp:
                        if c == 2:
                            sp.set_status(Status(StatusCode.ERROR, "timeout"))
                pylog.info("order %d served", t, extra={"order.n": t})
        # --- metrics: a counter and a histogram ---
        mem_reader = InMemoryMetricReader()
        mp = MeterProvider(resource=RESOURCE, metric_readers=[
            mem_reader,
            PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=p.otlp_grpc_endpoint, insecure=True),
                                          export_interval_millis=60_000),
        ])
        meter = mp.get_meter("e2e.meter")
        orders = meter.create_counter("orders_total", unit="1")
        latency = meter.create_histogram("order_latency", unit="s")
        for i in range(50):
            orders.add(1, {"region": "eu" if i % 2 else "us"})
            latency.record(0.01 * (i % 7), {"region": "eu"})

        tp.force_flush()
        lp.force_flush()
        mp.force_flush()

        want_spans = _spans_by_id([encode_spans(memory.get_finished_spans())])
        assert len(want_spans) == N_TRACES * SPANS_PER_TRACE
        got = p.wait_for(Signal.TRACES, lambda r: count_items(Signal.TRACES, r) >= len(want_spans), timeout=60)
        got_spans = _spans_by_id(got)
        assert set(got_spans) == set(want_spans)
        for span_id, (res, scope, span) in want_spans.items():
            g_res, g_scope, g_span = got_spans[span_id]
            assert g_span == span, f"span {span_id.hex()} changed on the way"
            assert g_scope.name == scope.name and g_scope.version == scope.version
            assert {kv.key: kv.value for kv in g_res.attributes} == {kv.key: kv.value for kv in res.attributes}

        want_logs = _logs_by_key([encode_logs(log_memory.get_finished_logs())])
        assert len(want_logs) == N_TRACES
        got = p.wait_for(Signal.LOGS, lambda r: count_items(Signal.LOGS, r) >= len(want_logs), timeout=60)
        got_logs = _logs_by_key(got)
        assert set(got_logs) == set(want_logs)
        for key, (_, _, record) in want_logs.items():
            g = got_logs[key][2]
            assert g.trace_id == record.trace_id and g.span_id == record.span_id
            assert g.severity_number == SeverityNumber.INFO.value and g.severity_text == record.severity_text
            assert g.body == record.body
            assert {kv.key: kv.value for kv in g.attributes} == {kv.key: kv.value for kv in record.attributes}

        got = p.wait_for(Signal.METRICS, lambda r: _final_points(r).get(("orders_total", "eu")) == 25, timeout=60)
        points = _final_points(got)
        assert points[("orders_total", "eu")] == 25 and points[("orders_total", "us")] == 25
        want_hist = [dp for rm in mem_reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
                     for m in sm.metrics if m.name == "order_latency" for dp in m.data.data_points][0]
        assert points[("order_latency", "eu")] == (want_hist.count, pytest.approx(want_hist.sum),
                                                   list(want_hist.bucket_counts))

        tp.shutdown()
        lp.shutdown()
        mp.shutdown()


def _final_points(requests) -> dict[tuple, object]:
    out: dict[tuple, object] = {}
    for req in requests:
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.HasField("sum"):
                        for dp in m.sum.data_points:
                            region = {kv.key: kv.value.string_value for kv in dp.attributes}["region"]
                            out[(m.name, region)] = dp.as_int
                    elif m.HasField("histogram"):
                        for dp in m.histogram.data_points:
                            region = {kv.key: kv.value.string_value for kv in dp.attributes}["region"]
                            out[(m.name, region)] = (dp.count, dp.sum, list(dp.bucket_counts))
    return out
