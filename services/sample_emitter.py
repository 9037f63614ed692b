"""A small, steady source of real OTel SDK telemetry for `make run`:
traces with child spans, correlated logs (some errors) and two metrics,
sent over OTLP gRPC. The seed services replace it once they run."""

from __future__ import annotations

import logging
import random
import threading
import time

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
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode


class SampleEmitter:
    """Emits roughly ``rate`` requests per second until stopped."""

    def __init__(self, endpoint: str, *, rate: float = 20.0, service_name: str = "sample-checkout") -> None:
        resource = Resource.create({"service.name": service_name, "deployment.environment": "local"})
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True)))
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[
            PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=endpoint, insecure=True), export_interval_millis=2000)])
        self.rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sample-emitter", daemon=True)
        self.log = logging.getLogger(f"sample.{service_name}")
        self.log.propagate = False
        self.log.setLevel(logging.INFO)
        self.log.addHandler(LoggingHandler(level=logging.INFO, logger_provider=self.logger_provider))

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        tracer = self.tracer_provider.get_tracer("sample.emitter")
        meter = self.meter_provider.get_meter("sample.emitter")
        requests = meter.create_counter("http_server_requests", unit="1", description="Requests served")
        latency = meter.create_histogram("http_server_duration", unit="s", description="Request latency")
        rng = random.Random(7)
        n = 0
        while not self._stop.is_set():
            n += 1
            route = rng.choice(["/orders/{id}", "/cart", "/checkout"])
            failed = rng.random() < 0.05
            t0 = time.perf_counter()
            with tracer.start_as_current_span(f"GET {route}", kind=SpanKind.SERVER,
                                              attributes={"http.route": route, "order.number": f"ORD-{n:06d}"}) as span:
                with tracer.start_as_current_span("SELECT orders", kind=SpanKind.CLIENT,
                                                  attributes={"db.system": "postgresql"}):
                    time.sleep(0.001)
                if failed:
                    span.set_status(Status(StatusCode.ERROR, "upstream timeout"))
                    self.log.error("request failed on %s", route)
                else:
                    self.log.info("request served on %s", route)
            status = "500" if failed else "200"
            requests.add(1, {"http.route": route, "http.status_code": status})
            latency.record(time.perf_counter() - t0, {"http.route": route})
            self._stop.wait(1.0 / self.rate)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            provider.shutdown()
