"""The cross-sell API's instruments, under the names its dashboards and SLO rules read.

- ``http_requests_total{endpoint,method,status}`` and
  ``http_request_duration_seconds{endpoint,method}`` (buckets 0.01 .. 5, one at
  0.5 s for the latency SLO): the platform's own names. They count the same
  requests as the obs SDK's ``crosssell_http_requests_total{route,method,status}``
  and ``crosssell_http_request_duration_seconds{route,method}``: ``endpoint`` is
  obs's ``route`` (the route template), health and metrics paths left out.
- ``model_inference_duration_seconds`` (buckets 0.001 .. 1, one at 0.2 s for the
  inference SLO): every prediction.
- ``crosssell_recommendations_total{product}``: recommendations served.
- ``crosssell_high_confidence_recommendations``: accounts whose best
  recommendation has at least ``CROSSSELL_HIGH_CONFIDENCE``;
  ``crosssell_model_coverage``: share of accounts with a recommendation of at
  least ``CROSSSELL_MIN_CONFIDENCE``; both from the model's latest scores
  (all accounts at start-up, then each served prediction).
- ``celery_task_queue_length{queue}``: tasks waiting in the Redis broker (LLEN).
- ``sync_records_processed_total{org}``: from the worker (``worker.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

import numpy as np
from opentelemetry.metrics import CallbackOptions, Meter, Observation
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.obs.metrics import HTTP_BUCKETS

INFERENCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0)
UNTRACKED = ("/health", "/metrics")

METRIC_NAMES = ("http_requests_total", "http_request_duration_seconds", "model_inference_duration_seconds",
                "crosssell_recommendations_total", "crosssell_high_confidence_recommendations",
                "crosssell_model_coverage", "sync_records_processed_total", "celery_task_queue_length")


class CrossSellMetrics:
    def __init__(self, meter: Meter, scores: np.ndarray, *, high: float, low: float,
                 queue_length: Callable[[], dict[str, int]]) -> None:
        self.scores, self.high, self.low = scores, high, low
        self._queue_length = queue_length
        self._lock = threading.Lock()
        self.requests = meter.create_counter("http_requests_total", unit="{request}",
                                             description="Total HTTP requests by endpoint and status")
        self.duration = meter.create_histogram("http_request_duration_seconds", unit="s",
                                               description="Request latency distribution",
                                               explicit_bucket_boundaries_advisory=list(HTTP_BUCKETS))
        self.inference = meter.create_histogram("model_inference_duration_seconds", unit="s",
                                                description="ML model inference time",
                                                explicit_bucket_boundaries_advisory=list(INFERENCE_BUCKETS))
        self.recommendations = meter.create_counter("crosssell_recommendations_total", unit="{recommendation}",
                                                    description="Total recommendations generated")
        meter.create_observable_gauge("crosssell_high_confidence_recommendations", callbacks=[self._high], unit="",
                                      description="Current high-confidence recommendations")
        meter.create_observable_gauge("crosssell_model_coverage", callbacks=[self._coverage], unit="",
                                      description="Share of accounts with recommendations (0..1)")
        meter.create_observable_gauge("celery_task_queue_length", callbacks=[self._queue], unit="",
                                      description="Pending Celery tasks")

    def scored(self, index: int, best: float) -> None:
        with self._lock:
            self.scores[index] = best

    def _high(self, _: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            return [Observation(int((self.scores >= self.high).sum()))]

    def _coverage(self, _: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            return [Observation(float((self.scores >= self.low).mean()))]

    def _queue(self, _: CallbackOptions) -> Iterable[Observation]:
        try:
            lengths = self._queue_length()
        except Exception:  # noqa: BLE001 - Redis away: no sample rather than a wrong one
            return []
        return [Observation(n, {"queue": q}) for q, n in lengths.items()]


class RequestMetricsMiddleware:
    """``http_requests_total`` and ``http_request_duration_seconds`` by route template (``endpoint``)."""

    def __init__(self, app: ASGIApp, metrics: CrossSellMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNTRACKED):
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.add(1, {"endpoint": endpoint, "method": method, "status": str(status)})
            self.metrics.duration.record(time.perf_counter() - start, {"endpoint": endpoint, "method": method})
