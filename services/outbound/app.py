"""whatsapp-api-service, the outbound WhatsApp API service: ``create_app(settings=None)``.

It consumes the RabbitMQ queue of processed outbound messages and delivers
each to the Meta Graph API (``consumer``), per tenant behind a circuit breaker
and a token bucket, with credentials fetched from the tenant service and
cached. Telemetry goes through the ``obs`` SDK as OTLP.

Health:

- ``/health``: every dependency's status and latency (RabbitMQ with its queue
  depth, the tenant service, the Graph API), the overall status (``healthy``
  when all are; ``unhealthy`` when one is; ``degraded`` when only the Graph API
  is unreachable), 200 when healthy and 503 otherwise, and the last minute's
  messages processed, error rate and queue depth from the service's own meters;
- ``/health/live``: the process answers;
- ``/health/ready``: 503 while RabbitMQ is unreachable (the obs readiness
  check ``rabbitmq``, also ``outbound_rabbitmq_up``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from opentelemetry.sdk.metrics.export import MetricReader

from services import obs
from services.common.docs import docs_routes
from services.outbound.breaker import Breakers
from services.outbound.consumer import Consumer
from services.outbound.metrics import OutboundMetrics
from services.outbound.ratelimit import RateLimits
from services.outbound.settings import OutboundSettings, get_settings
from services.outbound.tenants import TenantClient

SERVICE_NAME = "whatsapp-api-service"
METRICS_PREFIX = "outbound"
VERSION = "1.1.0"
CHECK_TIMEOUT_S = 2.0


async def _timed(check: Any) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        extra = await asyncio.wait_for(check(), CHECK_TIMEOUT_S) or {}
        return {"status": "healthy", **extra, "latency_ms": round((time.perf_counter() - start) * 1000, 1)}
    except Exception as exc:  # noqa: BLE001 - any failure is an unhealthy dependency
        # The class name only: messages can carry URLs with credentials.
        return {"status": "unhealthy", "error": "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__,
                "latency_ms": round((time.perf_counter() - start) * 1000, 1)}


def create_app(settings: OutboundSettings | None = None, *,
               extra_metric_readers: Sequence[MetricReader] = ()) -> FastAPI:
    settings = settings if settings is not None else get_settings()
    consumer_box: dict[str, Consumer] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        consumer_box["c"].start()
        try:
            yield
        finally:
            await consumer_box["c"].stop()
            await meta.aclose()
            await tenant_http.aclose()

    app = FastAPI(title=SERVICE_NAME, version=VERSION, lifespan=lifespan, **docs_routes(settings))
    o = obs.init(app, settings, service_name=SERVICE_NAME, metrics_prefix=METRICS_PREFIX,
                 extra_metric_readers=extra_metric_readers)
    breakers = Breakers(settings.BREAKER_FAILURE_THRESHOLD, settings.BREAKER_OPEN_SECONDS)
    limits = RateLimits(settings.RATE_LIMIT_PER_SECOND, settings.RATE_LIMIT_BURST)
    metrics = OutboundMetrics(o.meter, breakers, limits, main_queue=settings.OUTBOUND_QUEUE)
    meta = o.use_httpx(httpx.AsyncClient(timeout=settings.META_API_TIMEOUT_S))
    tenant_http = o.use_httpx(httpx.AsyncClient(timeout=settings.TENANT_SERVICE_TIMEOUT_S))
    token = settings.TENANT_SERVICE_TOKEN.get_secret_value() if settings.TENANT_SERVICE_TOKEN else None
    tenants = TenantClient(tenant_http, settings.TENANT_SERVICE_URL, metrics, ttl=settings.CREDENTIAL_CACHE_TTL_S,
                           token=token)
    consumer = consumer_box["c"] = Consumer(settings, metrics, breakers, limits, tenants, meta,
                                            o.get_logger("consumer"))
    started = time.monotonic()

    async def rabbitmq_probe() -> dict[str, Any]:
        depths = await consumer.read_depths()
        return {"queueDepth": depths[settings.OUTBOUND_QUEUE]}

    o.add_readiness_check("rabbitmq", rabbitmq_probe, budget_ms=1000, metered=True)
    o.add_startup_check("outbound_config", settings.config_problem)

    async def meta_probe() -> None:
        r = await meta.head(settings.META_API_URL + "/", timeout=CHECK_TIMEOUT_S)
        if r.status_code >= 500:
            raise ConnectionError(f"HTTP {r.status_code}")

    @app.get("/health", tags=["health"])
    async def health() -> JSONResponse:
        rabbit, tenant_svc, meta_api = await asyncio.gather(
            _timed(rabbitmq_probe), _timed(tenants.health), _timed(meta_probe))
        rabbit["connected"] = consumer.connected
        if meta_api["status"] == "healthy":
            meta_api["status"] = "reachable"
        else:
            meta_api["status"] = "degraded"  # the Graph API's own trouble: retries absorb it
        core = (rabbit["status"], tenant_svc["status"])
        status = ("unhealthy" if "unhealthy" in core else
                  "degraded" if meta_api["status"] == "degraded" else "healthy")
        body = {"status": status, "version": VERSION, "uptime": round(time.monotonic() - started, 1),
                "checks": {"rabbitmq": rabbit, "tenantService": tenant_svc, "metaApi": meta_api},
                "metrics": metrics.recent_block()}
        return JSONResponse(body, status_code=200 if status == "healthy" else 503)

    app.state.outbound = consumer
    return app
