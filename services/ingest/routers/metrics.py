"""The JSON views: GET /metrics, /metrics/whatsapp and /metadata.

``/metrics`` here is the ingest service's JSON document, not Prometheus text: obs's
Prometheus view of this service moves to ``/metrics/prometheus``. Both
metric views sit behind obs's admin guard (open with OBS_METRICS_PUBLIC=true).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from services.ingest.deps import ContextDep, require_admin

router = APIRouter(tags=["metrics"])


@router.get("/metrics", dependencies=[Depends(require_admin)])
def metrics(ctx: ContextDep) -> dict[str, Any]:
    return {"whatsapp": ctx.metrics.snapshot()}


@router.get("/metrics/whatsapp", dependencies=[Depends(require_admin)])
def metrics_whatsapp(ctx: ContextDep) -> dict[str, Any]:
    return ctx.metrics.snapshot()


@router.get("/metadata")
def metadata(ctx: ContextDep) -> dict[str, Any]:
    """Tags for dashboards' datasource instances; nothing secret."""
    return {"service": ctx.settings.SERVICE_NAME, "environment": ctx.settings.ENV, "version": ctx.version,
            "endpoints": {"ingest": "/integrations/whatsapp/ingest", "heartbeat": "/integrations/whatsapp/heartbeat",
                          "media": "/integrations/whatsapp/media",
                          "metrics": "/metrics", "diagnostics": "/chat/tools/diagnostics"}}
