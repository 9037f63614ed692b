"""Admin-guarded local views: ``/metrics`` and ``/ops/*``.

``/metrics`` is prometheus_client rendering the service's own meters, on a
registry of this app's own, from a snapshot of the OTLP reader's aggregation
taken at scrape time (``metric_view``). It is a local view for operators; the
pipeline path to Prometheus is OTLP via the Collector.

The guard takes ``Authorization: Bearer <OBS_ADMIN_TOKEN>`` (or
``X-Admin-Token``). No credentials: 401; wrong ones: 403; no token configured:
401 for everyone (fails closed). ``OBS_METRICS_PUBLIC=true`` opens ``/metrics``
and ``/ops/*``; it is refused with ``ENV=prod``, so the test span of
``/ops/trace/test`` is forbidden in prod unless the caller is an admin.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from opentelemetry.trace import Tracer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services.obs.settings import ObsSettings

RolloverHook = Callable[[], Awaitable[Any] | Any]


def _presented_token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return request.headers.get("x-admin-token") or None


def admin_guard(settings: ObsSettings) -> Callable[[Request], None]:
    expected = settings.OBS_ADMIN_TOKEN.get_secret_value().encode() if settings.OBS_ADMIN_TOKEN else None
    # ObsSettings refuses OBS_METRICS_PUBLIC with ENV=prod, so in prod every route here needs the token.
    open_to_all = settings.OBS_METRICS_PUBLIC

    def guard(request: Request) -> None:
        if open_to_all:
            return
        presented = _presented_token(request)
        if presented is None or expected is None:
            raise HTTPException(401, "Admin token required", headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(presented.encode(), expected):
            raise HTTPException(403, "Invalid admin token")

    return guard


def add_ops_routes(router: APIRouter, settings: ObsSettings, registry: CollectorRegistry, tracer: Tracer,
                   rollover_hooks: dict[str, RolloverHook],
                   run_hook: Callable[[str, RolloverHook], Awaitable[Any]]) -> None:
    """``/metrics`` and ``/ops/*`` on ``router`` (the app's own: see ``core.init`` for why)."""
    guard = admin_guard(settings)

    @router.get(settings.OBS_METRICS_PATH, dependencies=[Depends(guard)], tags=["ops"])
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @router.post("/ops/rollover", dependencies=[Depends(guard)], tags=["ops"])
    async def rollover() -> dict[str, Any]:
        ran = {name: await run_hook(name, hook) for name, hook in rollover_hooks.items()}
        return {"status": "ok", "ran": ran}

    @router.post("/ops/trace/test", dependencies=[Depends(guard)], tags=["ops"])
    async def trace_test() -> dict[str, str]:
        with tracer.start_as_current_span("ops.trace.test", attributes={"ops.test": True}) as span:
            ctx = span.get_span_context()
            return {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}

