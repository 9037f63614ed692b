"""Rotel (0.0.1a15, its bundled rotel-agent) between the OpenTelemetry Python SDK
and both setups, over gRPC and HTTP: the SDK sends to Rotel on one protocol and
Rotel exports to the setup on the same one. What the SDK's OTLP exporters put
on the wire (recorded beside them by wrapping exporters) arrives field by
field, up to the configured changes."""

from __future__ import annotations

import importlib.util
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from opentelemetry import trace as trace_api
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from processors.api import Signal
from tests.interop.support import (
    Setup,
    assert_same,
    dropped_trace_id,
    flatten,
    kept_trace_id,
    of_service,
)
from tests.support.procs import Proc, free_port, wait_for_port

pytestmark = pytest.mark.e2e

SERVICE = "interop-rotel"


def rotel_agent() -> str:
    spec = importlib.util.find_spec("rotel")
    agent = Path(spec.origin).parent / "rotel-agent" if spec and spec.origin else None
    if agent is None or not agent.is_file():
        pytest.fail("rotel-agent not found: `make venv` (part of `make test`) installs rotel==0.0.1a15 (the dev extra)")
    return str(agent)


class _Recording:
    """Beside an OTLP exporter: keeps the request it sends, encoded as it encodes it."""

    def __init__(self, inner, encode, requests: list) -> None:
        self._inner, self._encode, self.requests = inner, encode, requests

    def export(self, batch, **kwargs):
        self.requests.append(self._encode(batch))
        return self._inner.export(batch, **kwargs)

    def shutdown(self, *args, **kwargs):
        return self._inner.shutdown(*args, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._inner.force_flush(timeout_millis)


class RecordingSpans(_Recording, SpanExporter):
    pass


class RecordingLogs(_Recording, LogRecordExporter):
    pass


class RecordingMetrics(_Recording, MetricExporter):
    def __init__(self, inner, encode, requests: list) -> None:
        _Recording.__init__(self, inner, encode, requests)
        MetricExporter.__init__(self, preferred_temporality=inner._preferred_temporality,
                                preferred_aggregation=inner._preferred_aggregation)


class GivenTraceIds(IdGenerator):
    """Root spans take the given trace ids in order, so the test knows what the log sampler keeps."""

    def __init__(self, trace_ids: Sequence[str]) -> None:
        self._ids = [int(t, 16) for t in trace_ids]
        self._rng = random.Random()

    def generate_trace_id(self) -> int:
        return self._ids.pop(0)

    def generate_span_id(self) -> int:
        return self._rng.getrandbits(64) or 1


def _exporters(protocol: str, endpoint: str):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter,
        )
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter,
        )
        return (OTLPSpanExporter(endpoint=endpoint, insecure=True), OTLPLogExporter(endpoint=endpoint, insecure=True),
                OTLPMetricExporter(endpoint=endpoint, insecure=True))
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return (OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"), OTLPLogExporter(endpoint=f"{endpoint}/v1/logs"),
            OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"))


def send(protocol: str, endpoint: str, run: str, trace_ids: Sequence[str]) -> dict[Signal, list]:
    """A trace (parent, child, event, link), correlated logs, a counter and a histogram (with exemplars)."""
    sent: dict[Signal, list] = {s: [] for s in Signal}
    spans, logs, metrics = _exporters(protocol, endpoint)
    resource = Resource({"service.name": SERVICE, "interop.run": run, "host.name": "interop-host"},
                        schema_url="https://opentelemetry.io/schemas/1.30.0")
    tp = TracerProvider(resource=resource, id_generator=GivenTraceIds(trace_ids))
    tp.add_span_processor(SimpleSpanProcessor(RecordingSpans(spans, encode_spans, sent[Signal.TRACES])))
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(SimpleLogRecordProcessor(RecordingLogs(logs, encode_logs, sent[Signal.LOGS])))
    reader = PeriodicExportingMetricReader(RecordingMetrics(metrics, encode_metrics, sent[Signal.METRICS]),
                                           export_interval_millis=3_600_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader])

    schema = "https://opentelemetry.io/schemas/1.29.0"
    tracer = tp.get_tracer("interop.rotel.tracer", "0.1.0", schema_url=schema, attributes={"scope.attr": "s"})
    logger = lp.get_logger("interop.rotel.logger", "0.2.0", schema_url=schema)
    meter = mp.get_meter("interop.rotel.meter", "0.3.0", schema_url=schema)
    counter = meter.create_counter("interop.requests", unit="{request}", description="requests handled")
    histogram = meter.create_histogram("interop.latency", unit="ms", description="request latency")

    attributes = {"str.unicode": "héllo wörld ✓ 日本語 🚀", "int.big": 2**62, "int.negative": -42, "double.pi": 3.14159,
                  "bool.true": True, "array.str": ["a", "ß", "✓"], "array.int": [1, 2, 3], "array.double": [1.5, -2.25],
                  "array.bool": [True, False], "user.email": "alice@example.org", "user.password": "hunter2"}
    linked = SpanContext(0xabcdef0123456789abcdef0123456789, 0x0123456789abcdef, is_remote=True,
                         trace_flags=TraceFlags(1), trace_state=TraceState([("linked", "yes")]))
    t0 = time.time_ns() - 1_000_000_000
    parent = tracer.start_span("rotel parent", kind=SpanKind.SERVER, attributes=attributes, start_time=t0,
                               links=[Link(linked, {"link.kind": "follows", "link.n": 7})])
    pctx = trace_api.set_span_in_context(parent)
    child = tracer.start_span("rotel child ✓", context=pctx, kind=SpanKind.CLIENT, start_time=t0 + 100_000_000,
                              attributes={"peer.service": "db"})
    child.add_event("cache miss", {"event.key": "k1", "user.email": "bob@example.org"}, timestamp=t0 + 150_000_000)
    child.set_status(Status(StatusCode.ERROR, "boom: ünïcode"))
    cctx = trace_api.set_span_in_context(child, pctx)
    for seq, (sev, text, body) in enumerate([(SeverityNumber.INFO, "INFO", "handled request ✓"),
                                             (SeverityNumber.WARN, "WARN", "slow downstream"),
                                             (SeverityNumber.ERROR, "ERROR", {"message": "failed", "code": 503}),
                                             (SeverityNumber.DEBUG, "DEBUG", "debug detail")], start=1):
        logger.emit(LogRecord(timestamp=t0 + (160 + seq) * 1_000_000, observed_timestamp=t0 + (170 + seq) * 1_000_000,
                              context=cctx, severity_number=sev, severity_text=text, body=body,
                              attributes={"log.seq": seq, "user.email": "alice@example.org"}))
    # Measured inside the sampled child: the SDK attaches exemplars carrying its trace and span ids.
    counter.add(3, {"route": "/a", "user.email": "alice@example.org"}, context=cctx)
    counter.add(2, {"route": "/b"}, context=cctx)
    for v in (1.5, 7, 42, 250):
        histogram.record(v, {"route": "/a"}, context=cctx)
    child.end(end_time=t0 + 200_000_000)
    parent.end(end_time=t0 + 300_000_000)

    other = tracer.start_span("rotel other", start_time=t0 + 400_000_000)
    octx = trace_api.set_span_in_context(other)
    for seq, (sev, text) in ((5, (SeverityNumber.INFO, "INFO")), (6, (SeverityNumber.ERROR, "ERROR"))):
        logger.emit(LogRecord(timestamp=t0 + (410 + seq) * 1_000_000, context=octx, severity_number=sev,
                              severity_text=text, body=f"other {seq}", attributes={"log.seq": seq}))
    other.end(end_time=t0 + 500_000_000)
    tp.shutdown()
    lp.shutdown()
    mp.shutdown()
    return sent


@pytest.fixture(params=["grpc", "http"])
def rotel(request, setup: Setup, tmp_path) -> Iterator[tuple[str, str]]:
    """rotel-agent taking OTLP on one protocol and exporting to ``setup`` on the same one."""
    protocol = request.param
    grpc_port, http_port = free_port(), free_port()
    target = f"http://{setup.grpc_endpoint}" if protocol == "grpc" else setup.http_endpoint
    argv = [rotel_agent(), "start", "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
            "--otlp-http-endpoint", f"127.0.0.1:{http_port}", "--exporter", "otlp",
            "--otlp-exporter-endpoint", target, "--otlp-exporter-protocol", protocol, "--batch-timeout", "100ms"]
    proc = Proc(argv, log=tmp_path / "rotel.log")
    try:
        wait_for_port(grpc_port, timeout=20, proc=proc.popen)
        wait_for_port(http_port, timeout=20, proc=proc.popen)
        yield protocol, (f"127.0.0.1:{grpc_port}" if protocol == "grpc" else f"http://127.0.0.1:{http_port}")
    except (RuntimeError, TimeoutError) as exc:
        raise RuntimeError(f"rotel-agent did not start: {exc}\n{proc.output()[-3000:]}") from None
    finally:
        proc.stop(timeout=10)


def test_python_sdk_through_rotel_arrives_field_by_field(setup: Setup, rotel: tuple[str, str]) -> None:
    protocol, endpoint = rotel
    run = f"rotel-{protocol}"
    n = 10 + ["grpc", "http"].index(protocol) + (2 if setup.name == "standalone" else 0)
    sent = send(protocol, endpoint, run, [kept_trace_id(n), dropped_trace_id(n)])
    counts = {Signal.TRACES: 3, Signal.LOGS: 6, Signal.METRICS: 3}
    for signal, count in counts.items():
        items = flatten(signal, sent[signal])
        assert len(items) == count, f"{signal.value}: the SDK exported {len(items)} items, not {count}"
        if signal is Signal.METRICS:
            assert all(i["point"].get("exemplars") for i in items), "every point carries an exemplar"

        def mine(reqs, signal=signal):
            return [i for i in of_service(flatten(signal, reqs), SERVICE)
                    if i["resource"]["attributes"].get("interop.run", {}).get("stringValue") == run]

        want = count - (1 if signal is Signal.LOGS else 0)
        arrived = mine(setup.wait_for(signal, lambda reqs, want=want: len(mine(reqs)) >= want))
        assert_same(signal, items, arrived, where=f"{setup.name} rotel {protocol}")
