"""Nothing is lost when the processors' next hop or the processors themselves
go away mid-stream: the Collector's persistent queue and retries, plus the
processors' ack-after-forward, deliver every item once they are back."""

from __future__ import annotations

import signal
import threading
import time

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from processors.api import Signal
from tests.support.otlp import numbered_logs, numbered_spans
from tests.support.pipeline import collector_pipeline

pytestmark = pytest.mark.e2e

REQUESTS, PER_REQUEST = 80, 50  # 4,000 spans and 4,000 log records


def _span_request(i: int) -> trace_service_pb2.ExportTraceServiceRequest:
    return numbered_spans(i, PER_REQUEST, "noloss")


def _log_request(i: int) -> logs_service_pb2.ExportLogsServiceRequest:
    return numbered_logs(i, PER_REQUEST, "noloss")


class Producer(threading.Thread):
    """Sends every request, retrying any that the ingress Collector refuses (it may be restarting)."""

    def __init__(self, endpoint: str, pace_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.endpoint, self.pace_s = endpoint, pace_s
        self.sent = 0
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with grpc.insecure_channel(self.endpoint) as ch:
                traces = trace_service_pb2_grpc.TraceServiceStub(ch)
                logs = logs_service_pb2_grpc.LogsServiceStub(ch)
                for i in range(REQUESTS):
                    for call, req in ((traces.Export, _span_request(i)), (logs.Export, _log_request(i))):
                        deadline = time.monotonic() + 60
                        while True:
                            try:
                                call(req, timeout=5)
                                break
                            except grpc.RpcError:
                                if time.monotonic() > deadline:
                                    raise
                                time.sleep(0.2)
                    self.sent += 1
                    time.sleep(self.pace_s)
        except Exception as exc:  # noqa: BLE001 - surfaced by the test
            self.error = exc


def _span_ids(reqs) -> list[bytes]:
    return [sp.span_id for r in reqs for rs in r.resource_spans for ss in rs.scope_spans for sp in ss.spans]


def _log_bodies(reqs) -> list[str]:
    return [lr.body.string_value
            for r in reqs for rl in r.resource_logs for sl in rl.scope_logs for lr in sl.log_records]


def _assert_all_arrived(p, label: str) -> None:
    total = REQUESTS * PER_REQUEST
    p.wait_for(Signal.TRACES, lambda r: len(set(_span_ids(r))) >= total, timeout=90)
    p.wait_for(Signal.LOGS, lambda r: len(set(_log_bodies(r))) >= total, timeout=90)
    spans, bodies = _span_ids(p.read(Signal.TRACES)), _log_bodies(p.read(Signal.LOGS))
    lost = (total - len(set(spans)), total - len(set(bodies)))
    duplicated = (len(spans) - len(set(spans)), len(bodies) - len(set(bodies)))
    print(f"\n{label}: sent {total} spans + {total} logs; lost {lost}; duplicated {duplicated}")
    assert lost == (0, 0)
    assert set(spans) == {(n + 1).to_bytes(8, "big") for n in range(total)}


def test_next_hop_stopped_mid_stream_loses_nothing(otelcol, tmp_path):
    with collector_pipeline(tmp_path, split_egress=True) as p:
        producer = Producer(p.otlp_grpc_endpoint)
        producer.start()
        while producer.sent < REQUESTS // 4 and producer.is_alive():
            time.sleep(0.05)
        # SIGTERM: a SIGKILLed Collector loses what its own file exporter had buffered
        # but not flushed, which is that component's durability, not this pipeline's.
        p.egress.stop()
        time.sleep(3)  # the processors answer UNAVAILABLE; the ingress queue grows
        refused = p.processors.metrics_text()
        p.egress.start()
        producer.join(120)
        assert producer.error is None, producer.error
        assert 'reason="next_hop_unavailable"' in refused, "the outage was not exercised"
        _assert_all_arrived(p, "next hop down for 3 s")


def test_processors_killed_and_collector_restarted_loses_nothing(otelcol, tmp_path):
    """While the processors are down the data waits in the ingress Collector's on-disk
    queue, which survives a restart of that Collector too."""
    with collector_pipeline(tmp_path, split_egress=True) as p:
        producer = Producer(p.otlp_grpc_endpoint)
        producer.start()
        while producer.sent < REQUESTS // 4 and producer.is_alive():
            time.sleep(0.05)
        p.processors.proc.send(signal.SIGKILL)
        p.processors.stop()
        while producer.sent < REQUESTS // 2 and producer.is_alive():
            time.sleep(0.05)
        p.ingress.stop()   # graceful: the queue is persisted to file_storage
        p.ingress.start()  # same queue directory
        p.processors.start()
        producer.join(120)
        assert producer.error is None, producer.error
        _assert_all_arrived(p, "processors killed, ingress Collector restarted")
