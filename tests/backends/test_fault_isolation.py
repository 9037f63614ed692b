"""One backend down holds up and loses nothing else.

A bounded load (traces of three spans, a log record per trace, a counter)
goes through the real Collector with the backends overlay into Jaeger (on
disk, so a restart keeps what it acknowledged) and VictoriaLogs. The trace
store is stopped for 10 s mid-load. Meanwhile logs keep reaching the log
store, spans keep reaching the file sink beside the trace store, metrics keep
reaching the Prometheus exporter, and only the trace exporter's sending queue
grows. When the trace store comes back its queue
drains: every span emitted is in it (0 lost). The spans the Collector sent it
more than once are counted and reported (at-least-once delivery).
"""

from __future__ import annotations

import logging
import re
import time
import urllib.request
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from processors.api import Signal
from tests.support.pipeline import BACKENDS, collector_pipeline
from tests.support.stores import eventually, jaeger_store, victorialogs_store

pytestmark = pytest.mark.e2e

RESOURCE = Resource.create({"service.name": "fault-isolation", "service.instance.id": "i-1"})
RATE = 10          # traces per second, 3 spans and 1 log record each
BEFORE, DOWN, AFTER = 4.0, 10.0, 4.0   # seconds of load around and during the outage


class Load:
    """The OTel SDK emitting to the Collector at a fixed rate."""

    def __init__(self, endpoint: str) -> None:
        self.memory = InMemorySpanExporter()
        self.tp = TracerProvider(resource=RESOURCE)
        self.tp.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True),
                                                      schedule_delay_millis=200))
        self.lp = LoggerProvider(resource=RESOURCE)
        self.lp.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True),
                                                                 schedule_delay_millis=200))
        self.mp = MeterProvider(resource=RESOURCE, metric_readers=[PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=endpoint, insecure=True), export_interval_millis=500)])
        self.tracer = self.tp.get_tracer("fault.load")
        self.counter = self.mp.get_meter("fault.load").create_counter("fault_load_requests", unit="1")
        self.log = logging.getLogger("fault.load")
        self.log.propagate = False
        self.log.setLevel(logging.INFO)
        self.handler = LoggingHandler(level=logging.INFO, logger_provider=self.lp)
        self.log.addHandler(self.handler)
        self.sent = 0
        self.trace_ids: list[str] = []

    def run_for(self, seconds: float, on_tick: Any = None) -> None:
        """RATE traces a second for ``seconds``; ``on_tick(n)`` after the n-th."""
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            with self.tracer.start_as_current_span("GET /work") as root:
                with self.tracer.start_as_current_span("db.query"):
                    pass
                with self.tracer.start_as_current_span("cache.get"):
                    pass
                self.log.info("work %d done", self.sent)
                self.trace_ids.append(f"{root.get_span_context().trace_id:032x}")
            self.counter.add(1)
            self.sent += 1
            n += 1
            if on_tick is not None:
                on_tick(n)
            time.sleep(max(0.0, start + n / RATE - time.monotonic()))

    def flush(self) -> None:
        self.tp.force_flush()
        self.lp.force_flush()
        self.mp.force_flush()

    def shutdown(self) -> None:
        self.log.removeHandler(self.handler)
        self.tp.shutdown()
        self.lp.shutdown()
        self.mp.shutdown()


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def _sample(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples (``name`` or ``name_total``) whose labels include ``labels`` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(?:_total)?(?:\{{(.*)\}})? ([0-9.eE+-]+)", line)
        if m and all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
            total += float(m.group(2))
    return total


def test_a_dead_trace_store_holds_up_nothing_and_loses_no_span(tmp_path: Any, record_property: Any) -> None:
    with jaeger_store(tmp_path / "jaeger") as traces, \
            victorialogs_store(tmp_path / "vlogs") as logs, \
            collector_pipeline(tmp_path, overlays=[BACKENDS],
                               collector_env={**traces.collector_env(), **logs.collector_env()}) as pipeline:
        self_metrics = f"http://127.0.0.1:{pipeline.egress.self_metrics_port}/metrics"
        load = Load(pipeline.otlp_grpc_endpoint)
        try:
            load.run_for(BEFORE)
            eventually(lambda: traces.span_ids(load.trace_ids[0]), "the trace store receives before the outage")

            traces.stop()
            down_at = len(load.trace_ids)
            metric_at_stop = _sample(pipeline.scrape(), "fault_load_requests")
            queue_peak = {"otlp/tempo": 0.0, "otlphttp/loki": 0.0}

            def watch(n: int) -> None:
                if n % (RATE // 2) == 0:  # twice a second
                    text = _scrape(self_metrics)
                    for exporter in queue_peak:
                        size = _sample(text, "otelcol_exporter_queue_size", exporter=exporter)
                        queue_peak[exporter] = max(queue_peak[exporter], size)

            load.run_for(DOWN, on_tick=watch)
            load.flush()
            # Meanwhile (the trace store still down): the log store got the record of every trace begun in the
            # outage ...
            during = load.trace_ids[down_at:]
            ids = ",".join(f'"{t}"' for t in during)
            eventually(lambda: len(logs.query(f"trace_id:in({ids})")) == len(during) or None,
                       "the log record of every trace of the outage in the log store", timeout=20)
            assert logs.count("*") == load.sent  # and none of those before it went missing
            # ... the spans kept reaching the file sink, in the same pipeline's fan-out as the trace store ...
            wanted = {bytes.fromhex(t) for t in during}
            pipeline.wait_for(Signal.TRACES, lambda reqs: wanted <= {
                sp.trace_id for req in reqs for rs in req.resource_spans for ss in rs.scope_spans for sp in ss.spans},
                timeout=20)
            # ... the metrics kept flowing to Prometheus ...
            eventually(lambda: _sample(pipeline.scrape(), "fault_load_requests") >= metric_at_stop + len(during)
                       or None, "the counter's outage increments in the Prometheus exporter", timeout=20)
            # ... and only the trace exporter's queue filled: it held most of the outage's requests, Loki's none.
            assert traces.proc is None and queue_peak["otlp/tempo"] >= 10, queue_peak
            assert queue_peak["otlphttp/loki"] <= 3, queue_peak

            traces.start()
            load.run_for(AFTER)
            load.flush()

            emitted = {f"{s.context.span_id:016x}": f"{s.context.trace_id:032x}"
                       for s in load.memory.get_finished_spans()}
            assert len(emitted) == 3 * load.sent

            def missing() -> set[str]:
                stored = {sid for tid in set(emitted.values()) for sid in traces.span_ids(tid)}
                return set(emitted) - stored

            deadline = time.monotonic() + 90
            while (lost := missing()) and time.monotonic() < deadline:
                time.sleep(1)
            assert not lost, f"{len(lost)} of {len(emitted)} spans never reached the trace store"
            # Every log record reached the log store as well.
            eventually(lambda: logs.count("*") == load.sent or None, "every log record in the log store")

            # Duplicates, as the Collector counts them: spans its trace exporter had acknowledged beyond those
            # emitted (a retried request the store had already taken counts once), and in the file sink beside it.
            sent = _sample(_scrape(self_metrics), "otelcol_exporter_sent_spans", exporter="otlp/tempo")
            in_sink = [sp.span_id for req in pipeline.read(Signal.TRACES) for rs in req.resource_spans
                       for ss in rs.scope_spans for sp in ss.spans]
            duplicates = {"trace store": int(sent) - len(emitted), "file sink": len(in_sink) - len(set(in_sink))}
            report = (f"{len(emitted)} spans emitted, 0 lost; duplicates {duplicates}; "
                      f"peak sending-queue size {queue_peak}")
            print(f"\nfault isolation: {report}")
            record_property("fault_isolation", report)
            assert duplicates["trace store"] >= 0 and set(in_sink) == {bytes.fromhex(s) for s in emitted}
        finally:
            load.shutdown()
