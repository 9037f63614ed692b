"""Standalone mode (no Collector): services send OTLP gRPC and OTLP/HTTP straight
to the processors, which write the Collector-format JSONL sinks and serve a
Prometheus exposition (processors/configs/standalone.yaml)."""

from __future__ import annotations

import sys
import time
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from processors.api import Signal
from tests.support.pipeline import count_items, read_sink
from tests.support.procs import REPO, free_port, running

pytestmark = pytest.mark.e2e


def test_grpc_and_http_clients_reach_the_local_sinks(tmp_path):
    grpc_port, http_port, prom_port = free_port(), free_port(), free_port()
    env = {
        "OTELPROC_GRPC_ENDPOINT": f"127.0.0.1:{grpc_port}", "OTELPROC_HTTP_ENDPOINT": f"127.0.0.1:{http_port}",
        "OTELPROC_PROMETHEUS_ENDPOINT": f"127.0.0.1:{prom_port}", "OTELPROC_SINK_DIR": str(tmp_path / "sinks"),
        "OTELPROC_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "SESSION_HEALTH_API_ENDPOINT": f"127.0.0.1:{free_port()}", "SESSION_HEALTH_ADMIN_TOKEN": "t",
        "REDACTION_HMAC_KEY": "k" * 32,
    }
    argv = [sys.executable, "-m", "processors.cli", "serve",
            "--config", str(REPO / "processors/configs/standalone.yaml")]
    with running(argv, port=http_port, log=tmp_path / "otelproc.log", env=env):
        resource = Resource.create({"service.name": "gateway-test"})
        for exporter in (GrpcSpanExporter(endpoint=f"127.0.0.1:{grpc_port}", insecure=True),
                         HttpSpanExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/traces")):
            tp = TracerProvider(resource=resource)
            tp.add_span_processor(SimpleSpanProcessor(exporter))
            with tp.get_tracer("t").start_as_current_span(f"via {type(exporter).__module__.split('.')[-2]}"):
                pass
            tp.shutdown()
        mp = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(
            HttpMetricExporter(endpoint=f"http://127.0.0.1:{http_port}/v1/metrics"), export_interval_millis=60_000)])
        mp.get_meter("t").create_counter("gateway_requests", unit="1").add(3, {"route": "/x"})
        mp.shutdown()

        traces = tmp_path / "sinks" / "traces.jsonl"
        deadline = time.monotonic() + 15
        while count_items(Signal.TRACES, read_sink(traces, Signal.TRACES)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        names = {sp.name for r in read_sink(traces, Signal.TRACES) for rs in r.resource_spans
                 for ss in rs.scope_spans for sp in ss.spans}
        assert names == {"via grpc", "via http"}

        with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/metrics", timeout=5) as r:
            exposition = r.read().decode()
        assert 'gateway_requests_total{' in exposition and 'route="/x"' in exposition
