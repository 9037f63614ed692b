"""Self-metrics of the processor server, on a registry of its own so that
several servers can live in one process (tests, benchmarks).

Components add their own metrics to ``SelfTelemetry.registry``; the names below
are the ones every pipeline shares.

Under the worker supervisor (``service.server.workers`` > 1) each worker runs
prometheus_client's multiprocess mode: Counter, Gauge and Histogram values go
to files the supervisor merges into one scrape (processors/supervisor.py).
Collectors that compute their samples at scrape time (``registry.register``
of a custom collector) write no file: ``SelfRegistry.custom`` keeps them, and
each worker serves just those to the supervisor, which sums them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

T = TypeVar("T")

RECEIVED = "otelproc_received_items"
EXPORTED = "otelproc_exported_items"
DROPPED = "otelproc_dropped_items"
REFUSED = "otelproc_refused_requests"
TRUNCATED = "otelproc_truncated_values"
DURATION = "otelproc_processing_duration_seconds"
WORKER_RECEIVED = "otelproc_worker_received_items"

_DURATION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class SelfRegistry(CollectorRegistry):
    """A registry that remembers its scrape-time collectors (``custom``): in a worker process only
    those need serving to the supervisor, the rest reach it through the multiprocess files."""

    def __init__(self) -> None:
        super().__init__()
        self.custom: list[Any] = []

    def register(self, collector: Any) -> None:
        super().register(collector)
        if not isinstance(collector, MetricWrapperBase):
            self.custom.append(collector)

    def unregister(self, collector: Any) -> None:
        super().unregister(collector)
        if collector in self.custom:
            self.custom.remove(collector)


class SelfTelemetry:
    """Counters of items in, out and dropped, by signal, component and reason.

    ``worker`` (a worker process's index) adds ``otelproc_worker_received_items_total{worker,signal}``,
    which shows how the listener spread the load.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, worker: str | None = None) -> None:
        self.registry = registry if registry is not None else SelfRegistry()
        self.worker = worker
        self._worker_received = None if worker is None else Counter(
            WORKER_RECEIVED, "Items received by each worker process", ["worker", "signal"], registry=self.registry,
        )
        self._received = Counter(
            RECEIVED, "Items (spans, log records, data points) received", ["signal", "receiver"], registry=self.registry
        )
        self._exported = Counter(
            EXPORTED, "Items acknowledged by an exporter's next hop", ["signal", "exporter"], registry=self.registry
        )
        self._dropped = Counter(
            DROPPED, "Items dropped, by the component that dropped them and why", ["signal", "component", "reason"],
            registry=self.registry,
        )
        self._refused = Counter(
            REFUSED, "Requests answered with an error status (the sender keeps or drops them)", ["signal", "reason"],
            registry=self.registry,
        )
        self._truncated = Counter(
            TRUNCATED, "Attribute or body values nested too deeply to parse, replaced by a marker string "
            "(the request was accepted)", ["signal", "receiver"], registry=self.registry,
        )
        self._shared: dict[Callable[[CollectorRegistry], Any], Any] = {}
        self._duration = Histogram(
            DURATION, "Time spent in each processor per request", ["signal", "processor"],
            buckets=_DURATION_BUCKETS, registry=self.registry,
        )

    def shared(self, build: Callable[[CollectorRegistry], T]) -> T:
        """``build(registry)``, once per server: the metrics every component of one type shares
        (a registry refuses a second metric of the same name; components tell themselves apart by label)."""
        if build not in self._shared:
            self._shared[build] = build(self.registry)
        return self._shared[build]

    def received(self, signal: str, receiver: str, items: int) -> None:
        self._received.labels(signal, receiver).inc(items)
        if self._worker_received is not None:
            self._worker_received.labels(self.worker, signal).inc(items)

    def exported(self, signal: str, exporter: str, items: int) -> None:
        self._exported.labels(signal, exporter).inc(items)

    def dropped(self, signal: str, component: str, reason: str, items: int) -> None:
        if items:
            self._dropped.labels(signal, component, reason).inc(items)

    def refused(self, signal: str, reason: str) -> None:
        self._refused.labels(signal, reason).inc()

    def truncated(self, signal: str, receiver: str, values: int) -> None:
        if values:
            self._truncated.labels(signal, receiver).inc(values)

    def observe_duration(self, signal: str, processor: str, seconds: float) -> None:
        self._duration.labels(signal, processor).observe(seconds)

    def value(self, name: str, **labels: str) -> float:
        """Current value of a sample (``name`` includes the ``_total`` suffix), 0 when absent."""
        got = self.registry.get_sample_value(name, labels)
        return got or 0.0

    def total(self, name: str, **labels: str) -> float:
        """Sum of every sample of ``name`` whose labels include ``labels``."""
        out = 0.0
        for metric in self.registry.collect():
            for sample in metric.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    out += sample.value
        return out
