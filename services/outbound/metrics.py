"""The outbound service's instruments, under the names its Prometheus rules read.

OTLP names are Prometheus names already (``_total``, ``_seconds``), which the
Collector's prometheus exporter keeps as they are. Counters (7):

- ``messages_consumed_total{tenant,status}``: ``status`` is ``consumed`` when a
  message is taken off the queue, then ``success``, ``failed`` or
  ``duplicate`` (a redelivery of a message already delivered, acked unsent);
- ``messages_delivered_total{tenant}``;
- ``messages_failed_total{tenant,error_code,retryable}``;
- ``meta_api_requests_total{tenant,status_code,method}``;
- ``tenant_service_errors_total{tenant,reason}``: failed credential fetches;
- ``messages_retried_total{tenant}`` and ``messages_dead_lettered_total{tenant,error_code}``.

Histograms (3), with the buckets of the specification:
``message_processing_duration_seconds{tenant}`` (0.1 .. 5),
``meta_api_request_duration_seconds{tenant}`` (0.1 .. 10),
``credential_fetch_duration_seconds{tenant,cached}`` (0.01 .. 1).

Gauges (3), observed at each export from the service's own state:
``rabbitmq_queue_depth{queue}`` (ready messages, read from the broker),
``tenant_circuit_breaker_state{tenant,state}`` (1 on the series of the state the
tenant's breaker is in, 0 on the other two), ``tenant_rate_limit_available{tenant}``.

The same calls that add to the counters feed ``Recent``, the last minute that
``/health`` reports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from services.outbound.breaker import STATES, Breakers
from services.outbound.ratelimit import RateLimits

PROCESSING_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0)
META_API_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0)
CREDENTIAL_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0)

# Every metric name, for the docs and the scrape test.
METRIC_NAMES = (
    "messages_consumed_total", "messages_delivered_total", "messages_failed_total", "meta_api_requests_total",
    "tenant_service_errors_total", "messages_retried_total", "messages_dead_lettered_total",
    "message_processing_duration_seconds", "meta_api_request_duration_seconds", "credential_fetch_duration_seconds",
    "rabbitmq_queue_depth", "tenant_circuit_breaker_state", "tenant_rate_limit_available",
)


class Recent:
    """Messages processed and failed over the last ``window`` seconds, in one-second slots."""

    def __init__(self, window: int = 60, clock: Callable[[], float] = time.time) -> None:
        self.window, self.clock = window, clock
        self._slots: dict[int, list[int]] = {}
        self._lock = threading.Lock()

    def add(self, failed: bool) -> None:
        now = int(self.clock())
        with self._lock:
            slot = self._slots.setdefault(now, [0, 0])
            slot[0] += 1
            slot[1] += int(failed)
            if len(self._slots) > self.window + 5:
                for old in [s for s in self._slots if s <= now - self.window]:
                    del self._slots[old]

    def totals(self) -> tuple[int, int]:
        since = int(self.clock()) - self.window
        with self._lock:
            live = [v for s, v in self._slots.items() if s > since]
        return sum(v[0] for v in live), sum(v[1] for v in live)


class OutboundMetrics:
    def __init__(self, meter: Meter, breakers: Breakers, limits: RateLimits, *, main_queue: str) -> None:
        self.recent = Recent()
        self.main_queue = main_queue
        self.queue_depths: dict[str, int] = {}
        self._breakers, self._limits = breakers, limits
        c = meter.create_counter
        self.consumed = c("messages_consumed_total", unit="{message}", description="Total messages consumed from queue")
        self.delivered = c("messages_delivered_total", unit="{message}",
                           description="Total messages delivered to Meta API")
        self.failed = c("messages_failed_total", unit="{message}", description="Total messages failed")
        self.meta_requests = c("meta_api_requests_total", unit="{request}", description="Total requests to Meta API")
        self.tenant_errors = c("tenant_service_errors_total", unit="{error}",
                               description="Failed credential fetches from the tenant service")
        self.retried = c("messages_retried_total", unit="{message}", description="Messages requeued with a delay")
        self.dead_lettered = c("messages_dead_lettered_total", unit="{message}",
                               description="Messages moved to the dead-letter queue")
        h = meter.create_histogram
        self.processing = h("message_processing_duration_seconds", unit="s", description="Message processing duration",
                            explicit_bucket_boundaries_advisory=list(PROCESSING_BUCKETS))
        self.meta_duration = h("meta_api_request_duration_seconds", unit="s", description="Meta API request duration",
                               explicit_bucket_boundaries_advisory=list(META_API_BUCKETS))
        self.credential_duration = h("credential_fetch_duration_seconds", unit="s",
                                     description="Credential fetch duration",
                                     explicit_bucket_boundaries_advisory=list(CREDENTIAL_BUCKETS))
        # No unit: unit "1" on a gauge would make the exporter append _ratio.
        meter.create_observable_gauge("rabbitmq_queue_depth", callbacks=[self._depths], unit="",
                                      description="Current queue depth")
        meter.create_observable_gauge("tenant_circuit_breaker_state", callbacks=[self._breaker_states], unit="",
                                      description="Circuit breaker state: 1 on the series of the current state")
        meter.create_observable_gauge("tenant_rate_limit_available", callbacks=[self._tokens], unit="",
                                      description="Available rate limit tokens")

    def _depths(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(n, {"queue": q}) for q, n in list(self.queue_depths.items())]

    def _breaker_states(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(int(state == s), {"tenant": tenant, "state": s})
                for tenant, state in self._breakers.states().items() for s in STATES]

    def _tokens(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(b.available(), {"tenant": t}) for t, b in list(self._limits.by_tenant.items())]

    # --- what the consumer reports ---------------------------------------------------
    def took(self, tenant: str) -> None:
        self.consumed.add(1, {"tenant": tenant, "status": "consumed"})

    def succeeded(self, tenant: str) -> None:
        self.delivered.add(1, {"tenant": tenant})
        self.consumed.add(1, {"tenant": tenant, "status": "success"})
        self.recent.add(failed=False)

    def duplicate(self, tenant: str) -> None:
        self.consumed.add(1, {"tenant": tenant, "status": "duplicate"})

    def failure(self, tenant: str, error_code: str, retryable: bool) -> None:
        self.failed.add(1, {"tenant": tenant, "error_code": error_code, "retryable": str(retryable).lower()})
        self.consumed.add(1, {"tenant": tenant, "status": "failed"})
        self.recent.add(failed=True)

    def recent_block(self) -> dict[str, float | int | None]:
        processed, failed = self.recent.totals()
        return {"messagesProcessedLast1Min": processed,
                "errorRateLast1Min": round(failed / processed, 4) if processed else 0.0,
                "queueDepth": self.queue_depths.get(self.main_queue)}
