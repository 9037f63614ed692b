"""GET /api/whatsapp/session/{health,observe,alerts}: the backend proxy of seed 001.

Each route calls the session-health API (``SESSION_HEALTH_URL``) with the
admin token from the environment and answers with its status and JSON, so a
critical fleet is a 503 here too. ``?session_id=`` narrows to one session
(``/sessions/{id}/...`` upstream). An unreachable API (or one refusing the token) is a 502, a slow one 504.
"""

from __future__ import annotations

import enum
from typing import Annotated

import httpx
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse

from services.session.deps import (
    SESSION_ID_PATTERN, UPSTREAM_INVALID, UPSTREAM_REFUSED, UPSTREAM_TIMEOUT, UPSTREAM_UNAVAILABLE, ContextDep,
)

router = APIRouter(prefix="/api/whatsapp/session", tags=["session-health"])


class View(str, enum.Enum):
    health = "health"
    observe = "observe"
    alerts = "alerts"


@router.get("/{view}")
async def session_health_view(
    view: View, ctx: ContextDep,
    session_id: Annotated[str | None, Query(pattern=SESSION_ID_PATTERN)] = None,
) -> JSONResponse:
    path = f"/sessions/{session_id}/{view.value}" if session_id else f"/session/{view.value}"
    try:
        upstream = await ctx.health_api.get(path)
    except httpx.TimeoutException:
        raise HTTPException(504, UPSTREAM_TIMEOUT) from None
    except httpx.TransportError:
        ctx.log.warning("session health API unreachable", extra={"session_health.view": view.value})
        raise HTTPException(502, UPSTREAM_UNAVAILABLE) from None
    if upstream.status_code in (401, 403):
        # The caller needs no token here; a refusal means this service's own token is wrong or missing.
        ctx.log.warning("session health API refused the admin token",
                        extra={"http.response.status_code": upstream.status_code})
        raise HTTPException(502, UPSTREAM_REFUSED)
    try:
        body = upstream.json()
    except ValueError:
        raise HTTPException(502, UPSTREAM_INVALID) from None
    return JSONResponse(body, status_code=upstream.status_code)
