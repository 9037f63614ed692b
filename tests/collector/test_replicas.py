"""Two processor replicas behind the Collector's loadbalancing exporters: all the
spans of a trace meet on one replica, all its log records meet on one replica,
and nothing is lost or duplicated between them.

Spans and logs of one trace may meet on *different* replicas: the v0.159
loadbalancing exporter hashes a span's trace id as its 16 raw bytes and a log
record's as its hex string. Nothing here relies on them meeting: the log
sampler decides from the trace id alone, the same way on every replica."""

from __future__ import annotations

import time

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from processors.api import Signal
from tests.support.otlp import kv
from tests.support.pipeline import PASSTHROUGH, Collector, Processors, read_sink

pytestmark = pytest.mark.e2e

TRACES, SPANS_PER_TRACE, LOGS_PER_TRACE = 200, 3, 2


def _requests(batch: range) -> tuple[trace_service_pb2.ExportTraceServiceRequest,
                                     logs_service_pb2.ExportLogsServiceRequest]:
    spans, logs = trace_service_pb2.ExportTraceServiceRequest(), logs_service_pb2.ExportLogsServiceRequest()
    rs, rl = spans.resource_spans.add(), logs.resource_logs.add()
    rs.resource.attributes.append(kv("service.name", "replicas"))
    rl.resource.attributes.append(kv("service.name", "replicas"))
    ss, sl = rs.scope_spans.add(), rl.scope_logs.add()
    for t in batch:
        trace_id = (t + 1).to_bytes(16, "big")
        for s in range(SPANS_PER_TRACE):
            ss.spans.append(Span(trace_id=trace_id, span_id=(t * 10 + s + 1).to_bytes(8, "big"), name="op",
                                 start_time_unix_nano=1, end_time_unix_nano=2))
        for n in range(LOGS_PER_TRACE):
            sl.log_records.append(LogRecord(trace_id=trace_id, time_unix_nano=1,
                                            body=AnyValue(string_value=f"trace {t} log {n}")))
    return spans, logs


def _trace_ids(path, signal: Signal) -> list[bytes]:
    out = []
    for req in read_sink(path, signal):
        if signal is Signal.TRACES:
            out += [sp.trace_id for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans]
        else:
            out += [lr.trace_id for rl in req.resource_logs for sl in rl.scope_logs for lr in sl.log_records]
    return out


def test_each_trace_meets_one_replica_per_signal(otelcol, tmp_path):
    # Each replica forwards to an egress Collector of its own, so the sinks tell who handled what.
    egress = [Collector(tmp_path / f"egress-{i}") for i in range(2)]
    replicas = [Processors(tmp_path / f"replica-{i}", PASSTHROUGH, f"127.0.0.1:{egress[i].processed_port}", {})
                for i in range(2)]
    ingress = Collector(tmp_path / "ingress", processors_endpoints=[f"127.0.0.1:{r.port}" for r in replicas])
    parts = [*egress, *replicas, ingress]
    started = []
    try:
        for part in parts:
            part.workdir.mkdir(parents=True)
            part.start()
            started.append(part)
        with grpc.insecure_channel(f"127.0.0.1:{ingress.otlp_grpc_port}") as ch:
            traces, logs = trace_service_pb2_grpc.TraceServiceStub(ch), logs_service_pb2_grpc.LogsServiceStub(ch)
            for start in range(0, TRACES, 20):
                spans_req, logs_req = _requests(range(start, start + 20))
                traces.Export(spans_req, timeout=10)
                logs.Export(logs_req, timeout=10)

        def sinks(signal: Signal) -> list[list[bytes]]:
            return [_trace_ids(e.sink_paths(signal)[-1], signal) for e in egress]

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (sum(map(len, sinks(Signal.TRACES))) >= TRACES * SPANS_PER_TRACE
                    and sum(map(len, sinks(Signal.LOGS))) >= TRACES * LOGS_PER_TRACE):
                break
            time.sleep(0.2)
        span_sinks, log_sinks = sinks(Signal.TRACES), sinks(Signal.LOGS)
        assert sum(map(len, span_sinks)) == TRACES * SPANS_PER_TRACE, "spans lost or duplicated"
        assert sum(map(len, log_sinks)) == TRACES * LOGS_PER_TRACE, "logs lost or duplicated"
        for signal, found in ((Signal.TRACES, span_sinks), (Signal.LOGS, log_sinks)):
            by_replica = [set(s) for s in found]
            assert all(by_replica), f"{signal.value}: one replica got nothing: {[len(s) for s in by_replica]}"
            assert not by_replica[0] & by_replica[1], f"{signal.value}: a trace was split across replicas"
    finally:
        for part in reversed(started):
            part.stop()
