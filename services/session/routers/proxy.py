"""GET /api/whatsapp/session/{health,observe,alerts}: the backend proxy of the session-health API.

Each route calls the session-health API (``SESSION_HEALTH_URL``) and answers
with its status and JSON, so a critical fleet is a 503 here too.
``?session_id=`` narrows to one session (``/sessions/{id}/...`` upstream).

Which views need a token is the API's decision (the fleet health is public,
everything else needs its admin token), and the caller's credentials decide
what goes with the request:

- this service's admin (``OBS_ADMIN_TOKEN``): ``SESSION_HEALTH_ADMIN_TOKEN`` is
  sent instead (the admin token itself is not passed on); a refusal then means
  our own token is wrong, a 502;
- any other ``Authorization``: forwarded as it is, for a caller who holds the
  API's token;
- none: none, so the API's public views answer and the rest refuse.

The API's 401 is this route's 401. An unreachable API is a 502, a slow one 504.
"""

from __future__ import annotations

import enum
from typing import Annotated

import httpx
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from services.session.deps import (
    ADMIN_REQUIRED,
    SESSION_ID_PATTERN,
    UPSTREAM_INVALID,
    UPSTREAM_REFUSED,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNAVAILABLE,
    ContextDep,
    SessionContext,
)

router = APIRouter(prefix="/api/whatsapp/session", tags=["session-health"])


class View(enum.StrEnum):
    health = "health"
    observe = "observe"
    alerts = "alerts"


def _upstream_auth(ctx: SessionContext, request: Request) -> tuple[dict[str, str], bool]:
    """The headers to send upstream, and whether they carry this service's own token."""
    if ctx.is_admin(request):
        token = ctx.settings.SESSION_HEALTH_ADMIN_TOKEN
        return ({"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}), True
    presented = request.headers.get("authorization")
    return ({"Authorization": presented} if presented else {}), False


@router.get("/{view}")
async def session_health_view(
    view: View, ctx: ContextDep, request: Request,
    session_id: Annotated[str | None, Query(pattern=SESSION_ID_PATTERN)] = None,
) -> JSONResponse:
    path = f"/sessions/{session_id}/{view.value}" if session_id else f"/session/{view.value}"
    headers, own_token = _upstream_auth(ctx, request)
    try:
        upstream = await ctx.health_api.get(path, headers=headers)
    except httpx.TimeoutException:
        raise HTTPException(504, UPSTREAM_TIMEOUT) from None
    except httpx.TransportError:
        ctx.log.warning("session health API unreachable", extra={"session_health.view": view.value})
        raise HTTPException(502, UPSTREAM_UNAVAILABLE) from None
    if upstream.status_code in (401, 403):
        if not own_token:
            raise HTTPException(401, ADMIN_REQUIRED, headers={"WWW-Authenticate": "Bearer"})
        # The caller is our admin: the refused token is this service's own, wrong or missing.
        ctx.log.warning("session health API refused the admin token",
                        extra={"http.response.status_code": upstream.status_code})
        raise HTTPException(502, UPSTREAM_REFUSED)
    try:
        body = upstream.json()
    except ValueError:
        raise HTTPException(502, UPSTREAM_INVALID) from None
    return JSONResponse(body, status_code=upstream.status_code)
