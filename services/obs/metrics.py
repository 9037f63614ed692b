"""The SDK's own instruments, named ``<prefix>_...`` (the metrics table of services/obs/README.md).

OTLP names are the specified Prometheus names verbatim. The Collector's
prometheus exporter keeps them: a counter already ending in ``_total`` is not
suffixed again, and a unit already spelled in the name (``_seconds``) is not
appended twice. Up gauges carry no unit: unit ``1`` on a gauge would add
``_ratio``. See README.md for the full mapping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry.metrics import CallbackOptions, Meter, Observation

# Request-duration buckets from 10 ms to 5 s.
HTTP_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Probe latencies are specified as summaries; OTLP has no summary instrument, so a histogram with fine buckets.
PROBE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0)


class RequestMetrics:
    """``<prefix>_http_requests_total{route,method,status}``, ``<prefix>_http_request_duration_seconds{route,method}``.

    The request count is an observable counter over counts kept here: a synchronous ``Counter.add``
    costs a measurement object, an attribute check and hash, and an exemplar offer on every
    request (about half of what the two metrics cost), and a count needs none of it. The
    histogram stays synchronous: its exemplars link latency buckets to traces.
    """

    def __init__(self, meter: Meter, prefix: str) -> None:
        self._counts: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        meter.create_observable_counter(
            f"{prefix}_http_requests_total", callbacks=[self._observe], unit="{request}",
            description="HTTP requests by route template, method and status",
        )
        self.duration = meter.create_histogram(
            f"{prefix}_http_request_duration_seconds", unit="s", description="HTTP request latency by route template",
            explicit_bucket_boundaries_advisory=list(HTTP_BUCKETS),
        )
        # Attribute dicts are cached: label sets are few (route x method) and OTel hashes them per call.
        self._attrs: dict[tuple[str, str], dict[str, str]] = {}

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
        attrs = self._attrs.get((route, method))
        if attrs is None:
            attrs = {"route": route, "method": method}
            if len(self._attrs) < 4096:
                self._attrs[(route, method)] = attrs
        self.duration.record(seconds, attrs)

    def _observe(self, _: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            counts = list(self._counts.items())
        return [Observation(n, {"route": route, "method": method, "status": str(status)})
                for (route, method, status), n in counts]


@dataclass
class ProbeState:
    up: int = 0
    seen: bool = False


@dataclass
class ProbeMetrics:
    """``<prefix>_<dep>_up`` (0/1) and ``<prefix>_<dep>_latency_seconds`` for each dependency probed."""

    meter: Meter
    prefix: str
    states: dict[str, ProbeState] = field(default_factory=dict)
    _latency: dict[str, object] = field(default_factory=dict)

    def track(self, dependency: str) -> None:
        if dependency in self.states:
            return
        state = self.states[dependency] = ProbeState()

        def observe(_: CallbackOptions, st: ProbeState = state) -> Iterable[Observation]:
            return [Observation(st.up)] if st.seen else []

        self.meter.create_observable_gauge(
            f"{self.prefix}_{dependency}_up", callbacks=[observe], unit="",
            description=f"1 when the last {dependency} probe passed within its budget, else 0",
        )
        self._latency[dependency] = self.meter.create_histogram(
            f"{self.prefix}_{dependency}_latency_seconds", unit="s", description=f"{dependency} probe round trip",
            explicit_bucket_boundaries_advisory=list(PROBE_BUCKETS),
        )

    def record(self, dependency: str, ok: bool, seconds: float | None) -> None:
        state = self.states.get(dependency)
        if state is None:
            return
        state.up, state.seen = int(ok), True
        if seconds is not None:
            self._latency[dependency].record(seconds)  # type: ignore[attr-defined]


class JobMetrics:
    """``<prefix>_jobs_runs_total{name,result}`` and ``<prefix>_jobs_duration_seconds{name}``."""

    def __init__(self, meter: Meter, prefix: str) -> None:
        self.runs = meter.create_counter(f"{prefix}_jobs_runs_total", unit="{run}",
                                          description="Background job runs by result")
        self.duration = meter.create_histogram(
            f"{prefix}_jobs_duration_seconds", unit="s", description="Background job duration",
            explicit_bucket_boundaries_advisory=list(JOB_BUCKETS),
        )

    @contextmanager
    def run(self, name: str, clock: Callable[[], float] = time.perf_counter) -> Iterator[None]:
        """Time the block; ``result`` is ``ok`` or ``error`` (the exception is re-raised)."""
        start = clock()
        result = "error"
        try:
            yield
            result = "ok"
        finally:
            self.runs.add(1, {"name": name, "result": result})
            self.duration.record(clock() - start, {"name": name})
