"""The local ``/metrics`` view, reading an aggregation on demand.

The OTel SDK aggregates every measurement once per metric reader registered
on the MeterProvider, so a ``PrometheusMetricReader`` next to the OTLP
``PeriodicExportingMetricReader`` doubles the cost of every ``add`` and
``record`` on the request path, for a view an operator opens now and then.
Here the Prometheus rendering (``PrometheusView``) is never registered on the
MeterProvider: each scrape takes a snapshot of a reader that is.

- With OTLP export on and cumulative (the default), the snapshot is taken
  from the OTLP reader itself, so each measurement is aggregated once. This is
  sound because a cumulative collection leaves the running totals as they
  were: scrapes and exports see the same series and neither resets the other.
- With a delta OTLP reader (``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``
  ``delta`` or ``lowmemory``) each collection resets it, and exponential
  histograms (``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION``)
  have no Prometheus text form, so in either case the view gets a cumulative,
  explicit-bucket, pull-only reader of its own (two aggregations), as it does
  when nothing is exported.

A snapshot never exports, and a flush of the MeterProvider never leaves stale
data behind in the view (a ``PrometheusMetricReader`` registered on the
provider keeps every flush's collection and renders it again on the next scrape).
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation
from prometheus_client import CollectorRegistry

from services.obs.upstream_internals import reader_aggregations


class _Snapshots:
    """``snapshot()``: collect into the caller's hands instead of the reader's usual destination."""

    _diverted: threading.local

    def snapshot(self, timeout_millis: float = 10_000) -> MetricsData | None:
        """The current data of every instrument, exported nowhere."""
        box: list[MetricsData] = []
        # Per thread: the periodic exporter's thread keeps exporting while a scrape takes its snapshot.
        self._diverted.box = box
        try:
            self.collect(timeout_millis=timeout_millis)  # type: ignore[attr-defined]
        finally:
            self._diverted.box = None
        return box[0] if box else None

    def _take_snapshot(self, metrics_data: MetricsData) -> bool:
        box = getattr(self._diverted, "box", None)
        if box is None:
            return False
        box.append(metrics_data)
        return True


class SnapshotExportingMetricReader(_Snapshots, PeriodicExportingMetricReader):
    """The periodic OTLP reader, whose aggregation can also be read on demand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._diverted = threading.local()
        super().__init__(*args, **kwargs)

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        if not self._take_snapshot(metrics_data):
            super()._receive_metrics(metrics_data, timeout_millis=timeout_millis, **kwargs)


class PullMetricReader(_Snapshots, MetricReader):
    """A cumulative reader read only by snapshots; other collections (a provider flush) go nowhere."""

    def __init__(self) -> None:
        self._diverted = threading.local()
        super().__init__()  # cumulative for every instrument kind

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        self._take_snapshot(metrics_data)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


def view_can_share(reader: MetricReader) -> bool:
    """Whether the Prometheus view can read ``reader``'s aggregation: cumulative for every instrument
    kind, and no exponential histograms. Anything unknown counts as no."""
    temporalities, aggregations = reader_aggregations(reader)
    if not temporalities or aggregations is None:
        return False
    return (all(t is AggregationTemporality.CUMULATIVE for t in temporalities.values())
            and not any(isinstance(a, ExponentialBucketHistogramAggregation) for a in aggregations.values()))


class PrometheusView(PrometheusMetricReader):
    """prometheus_client rendering, on ``registry``, of snapshots of ``source``.

    Never registered on a MeterProvider: ``collect`` (what the Prometheus
    collector calls on each scrape) reads the source reader's aggregation.
    """

    def __init__(self, source: SnapshotExportingMetricReader | PullMetricReader, registry: CollectorRegistry) -> None:
        super().__init__(disable_target_info=True, registry=registry)
        self.source = source

    def collect(self, timeout_millis: float = 10_000) -> None:
        data = self.source.snapshot(timeout_millis)
        if data is not None:
            self._receive_metrics(data, timeout_millis=timeout_millis)
