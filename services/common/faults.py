"""Test-only fault injection for the services: a delay and an error rate on every request.

Off by default. The load tests use it to check that their gates fail when a
service is slow or failing. Three environment variables drive it:

- ``OTELPIPE_FAULT_DELAY_MS`` (float ≥ 0, default 0): added before each request is handled.
- ``OTELPIPE_FAULT_ERROR_RATE`` (0..1, default 0): the share of requests answered
  ``OTELPIPE_FAULT_ERROR_STATUS`` (500..599, default 500) without being handled.
- ``OTELPIPE_FAULTS_ENABLED`` (default false): the switch. Without ``true`` the
  values above are ignored, with a warning if any is set. With ``ENV=prod`` the
  switch itself is refused and the service does not start.

``install(app)`` goes in each service's app factory before ``obs.init``. The
middleware therefore sits inside obs's: the injected latency and errors show in
the service's own request metrics and spans, as real ones would. The health
probes that obs answers itself are never delayed or failed, so that a supervisor
does not restart a service under test.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

_log = logging.getLogger(__name__)

SWITCH = "OTELPIPE_FAULTS_ENABLED"
_ENV_OF_FIELD = {"delay_ms": "OTELPIPE_FAULT_DELAY_MS", "error_rate": "OTELPIPE_FAULT_ERROR_RATE",
                 "error_status": "OTELPIPE_FAULT_ERROR_STATUS"}
_TRUE = ("1", "true", "yes", "on")


class FaultSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    delay_ms: float = Field(0.0, ge=0, le=600_000, description="delay before each request, ms (default 0)")
    error_rate: float = Field(0.0, ge=0, le=1, description="share of requests failed (default 0)")
    error_status: int = Field(500, ge=500, le=599, description="status of a failed request (default 500)")

    @property
    def active(self) -> bool:
        return self.delay_ms > 0 or self.error_rate > 0


def settings_from_env(environ: Mapping[str, str] | None = None) -> FaultSettings | None:
    """The faults to inject, or None when there are none or the switch is off.

    A bad value raises ValueError naming the variable; so does the switch with ``ENV=prod``.
    """
    env = os.environ if environ is None else environ
    given = {field: env[name] for field, name in _ENV_OF_FIELD.items() if env.get(name, "").strip()}
    enabled = env.get(SWITCH, "").strip().lower() in _TRUE
    if not enabled:
        if given:
            _log.warning("fault injection settings ignored: %s is not true (%s)", SWITCH,
                         ", ".join(_ENV_OF_FIELD[f] for f in given))
        return None
    if env.get("ENV", "").strip().lower() == "prod":
        raise ValueError(f"{SWITCH}=true is refused with ENV=prod: fault injection is for tests only")
    try:
        settings = FaultSettings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(f"{_ENV_OF_FIELD[str(err['loc'][0])]}: {err['msg']}") from None
    return settings if settings.active else None


class FaultMiddleware:
    """Pure ASGI: HTTP requests are delayed and/or failed; lifespan and websockets pass through."""

    def __init__(self, app: Any, *, faults: FaultSettings, rng: random.Random | None = None) -> None:
        self.app = app
        self.faults = faults
        self._rng = rng or random.Random()
        self._body = json.dumps({"detail": "injected fault"}).encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.faults.delay_ms > 0:
            await asyncio.sleep(self.faults.delay_ms / 1000)
        if self.faults.error_rate > 0 and self._rng.random() < self.faults.error_rate:
            await send({"type": "http.response.start", "status": self.faults.error_status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(self._body)).encode())]})
            await send({"type": "http.response.body", "body": self._body})
            return
        await self.app(scope, receive, send)


def install(app: Any, environ: Mapping[str, str] | None = None) -> FaultSettings | None:
    """Add the fault middleware to a Starlette/FastAPI app when the environment asks for it (and warn)."""
    faults = settings_from_env(environ)
    if faults is None:
        return None
    _log.warning("FAULT INJECTION ON (test only): delay_ms=%s error_rate=%s error_status=%s",
                 faults.delay_ms, faults.error_rate, faults.error_status)
    app.add_middleware(FaultMiddleware, faults=faults)
    return faults
