"""Request dependencies of the session service and their stable error details."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, HTTPException, Path, Request

from services.session.manager import SessionManager
from services.session.settings import SessionSettings

UNKNOWN_SESSION = "Unknown session"
UNKNOWN_SCENARIO = "Unknown scenario"
SESSION_BUSY = "Session is locked by another replica"
UPSTREAM_UNAVAILABLE = "Session health API unavailable"
UPSTREAM_TIMEOUT = "Session health API timed out"
UPSTREAM_INVALID = "Session health API answered with invalid JSON"
UPSTREAM_REFUSED = "Session health API refused the admin token"
ADMIN_REQUIRED = "Admin token required"

# Session ids are opaque operational ids; anything else (a phone number with '+', a JID with '@') is refused.
SESSION_ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"


@dataclass
class SessionContext:
    settings: SessionSettings
    manager: SessionManager
    health_api: httpx.AsyncClient
    log: logging.Logger
    # obs's admin guard, without the OBS_METRICS_PUBLIC exemption: these routes change state.
    admin_guard: Callable[[Request], None]

    def is_admin(self, request: Request) -> bool:
        """Whether the caller presented this service's admin token (the guard, without raising)."""
        try:
            self.admin_guard(request)
        except HTTPException:
            return False
        return True


def get_context(request: Request) -> SessionContext:
    return request.app.state.session


ContextDep = Annotated[SessionContext, Depends(get_context)]
SessionIdPath = Annotated[str, Path(pattern=SESSION_ID_PATTERN)]


def require_admin(request: Request, ctx: ContextDep) -> None:
    ctx.admin_guard(request)
