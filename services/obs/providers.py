"""The three OTel providers of one service, exporting OTLP gRPC.

Providers are per ``Obs`` (not the process-global ones) so that several apps
can live in one process, each with its own exporters: tests build one app per
test, and a benchmark builds two side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from prometheus_client import CollectorRegistry

from services.obs.exemplars import exemplar_filter
from services.obs.export import SanitizingLogProcessor, SanitizingSpanExporter
from services.obs.metric_view import (
    PrometheusView,
    PullMetricReader,
    SnapshotExportingMetricReader,
    view_can_share,
)
from services.obs.otlp_encode import FastOTLPSpanExporter
from services.obs.settings import ObsSettings

_log = logging.getLogger(__name__)


@dataclass
class Providers:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    prometheus_registry: CollectorRegistry
    # The /metrics rendering (metric_view.py); not registered on the MeterProvider.
    metrics_view: PrometheusView

    @property
    def view_shares_otlp_aggregation(self) -> bool:
        """True when /metrics reads the OTLP reader's aggregation: each measurement is aggregated once."""
        return isinstance(self.metrics_view.source, SnapshotExportingMetricReader)

    def force_flush(self, timeout_millis: int = 5_000) -> None:
        """Export what is buffered; a collector that is down is logged by the SDK, never raised here."""
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            try:
                provider.force_flush(timeout_millis)
            except Exception:  # noqa: BLE001 - MeterProvider raises when a reader times out
                _log.warning("flushing %s failed", type(provider).__name__, exc_info=True)

    def shutdown(self) -> None:
        # Export failures are logged by the SDK itself; shutdown never raises to the caller.
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()
        self.metrics_view.shutdown()


def build_resource(settings: ObsSettings, service_name: str) -> Resource:
    """``service.name`` and friends; ``OTEL_RESOURCE_ATTRIBUTES`` is merged in by ``Resource.create``."""
    return Resource.create({
        "service.name": settings.OTEL_SERVICE_NAME or service_name,
        "service.version": settings.COMMIT,
        "deployment.environment.name": settings.ENV,
    })


def build_providers(settings: ObsSettings, service_name: str, *,
                    extra_metric_readers: Sequence[MetricReader] = ()) -> Providers:
    resource = build_resource(settings, service_name)
    endpoint, insecure = settings.otlp_target
    exporting = settings.exporting

    # Unsampled spans still get ids, so X-Request-Id/traceparent work with tracing off.
    tracing = settings.enabled and settings.OBS_TRACING_ENABLED
    tracer_provider = TracerProvider(resource=resource, **({} if tracing else {"sampler": ALWAYS_OFF}))
    if tracing and exporting:
        tracer_provider.add_span_processor(
            BatchSpanProcessor(SanitizingSpanExporter(FastOTLPSpanExporter(endpoint=endpoint, insecure=insecure)))
        )

    # One aggregation serves both the OTLP export and the admin /metrics view when it can (metric_view.py).
    readers: list[MetricReader] = []
    view_source: SnapshotExportingMetricReader | PullMetricReader | None = None
    if exporting:
        otlp_reader = SnapshotExportingMetricReader(
            OTLPMetricExporter(endpoint=endpoint, insecure=insecure),
            export_interval_millis=settings.OTEL_METRIC_EXPORT_INTERVAL,
            export_timeout_millis=settings.OTEL_METRIC_EXPORT_TIMEOUT,
        )
        readers.append(otlp_reader)
        if view_can_share(otlp_reader):
            view_source = otlp_reader
    if view_source is None:
        view_source = PullMetricReader()
        readers.append(view_source)
    readers.extend(extra_metric_readers)
    registry = CollectorRegistry()
    view = PrometheusView(view_source, registry)
    meter_provider = MeterProvider(resource=resource, metric_readers=readers,
                                   exemplar_filter=exemplar_filter(settings.OBS_EXEMPLAR_INTERVAL_MS))

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SanitizingLogProcessor())
    if exporting:
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=insecure))
        )
    return Providers(tracer_provider, meter_provider, logger_provider, registry, view)
