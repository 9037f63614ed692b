"""A stand-in for the Meta Graph API's WhatsApp Cloud API messages endpoint.

THIS IS A FAKE. The real Graph API (graph.facebook.com) is out of reach from
here, so the outbound service's tests and ``make run`` deliver to this local
server instead. It is the one stand-in of the outbound service; RabbitMQ, the
tenant service and the pipeline are real.

``POST /{version}/{phone_number_id}/messages`` answers as the Cloud API does
(``{"messaging_product": "whatsapp", "messages": [{"id": "wamid..."}]}``, or a
Graph error object ``{"error": {"message", "type", "code", "fbtrace_id"}}``).
The tenant is the phone-number id's suffix (``pn-<tenant>``). Behaviour, per
tenant or for all (``*``), set with ``PUT /_standin/behaviour/{tenant}``:

- ``latency_ms``: added to every answer;
- ``status`` and ``error_code``: answer this error instead of accepting
  (500/code 2 "service unavailable", 400/code 100 "invalid parameter",
  401/code 190 "invalid token" ...);
- ``rate_limit_per_s``: beyond it, 429 with Graph code 80007.

Environment: ``STANDIN_LATENCY_MS`` and ``STANDIN_RATE_LIMIT_PER_S`` give the
``*`` defaults. ``GET /_standin/deliveries`` counts accepted messages by the
sender's ``biz_opaque_callback_data`` (the outbound service puts its message
id there), so a test can tell a message delivered twice.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections import Counter, deque
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

ERROR_TEXT = {1: "An unknown error occurred", 2: "Service temporarily unavailable",
              4: "Application request limit reached", 100: "Invalid parameter", 131000: "Something went wrong",
              190: "Invalid OAuth 2.0 Access Token",
              80007: "Rate limit hit for WhatsApp Business Account"}


class Behaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latency_ms: float = Field(0.0, ge=0, le=60_000, description="added to every answer; default 0")
    status: int | None = Field(None, ge=400, le=599, description="answer this error status; default none (accept)")
    error_code: int = Field(2, description="Graph error code of the error answer; default 2")
    rate_limit_per_s: float | None = Field(None, gt=0, description="accepted messages a second; default unlimited")


def _error(status: int, code: int) -> JSONResponse:
    return JSONResponse({"error": {"message": ERROR_TEXT.get(code, "Error"), "type": "OAuthException", "code": code,
                                   "fbtrace_id": uuid.uuid4().hex[:12]}}, status_code=status)


def create_app() -> FastAPI:
    default = Behaviour(latency_ms=float(os.environ.get("STANDIN_LATENCY_MS", "0") or 0),
                        rate_limit_per_s=float(os.environ["STANDIN_RATE_LIMIT_PER_S"])
                        if os.environ.get("STANDIN_RATE_LIMIT_PER_S") else None)
    behaviours: dict[str, Behaviour] = {"*": default}
    deliveries: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    recent: dict[str, deque[float]] = {}
    app = FastAPI(title="meta-graph-api-standin", docs_url=None, redoc_url=None, openapi_url=None)

    @app.api_route("/", methods=["GET", "HEAD"])
    async def root() -> dict[str, str]:
        return {"status": "ok", "what": "Meta Graph API stand-in"}

    @app.post("/{version}/{phone_number_id}/messages")
    async def send(version: str, phone_number_id: str, request: Request,
                   authorization: str | None = Header(None)) -> JSONResponse:
        tenant = phone_number_id.removeprefix("pn-")
        b = behaviours.get(tenant, behaviours["*"])
        requests[tenant] += 1
        if b.latency_ms:
            await asyncio.sleep(b.latency_ms / 1000)
        if not authorization or not authorization.startswith("Bearer EAAG"):
            return _error(401, 190)
        if b.status is not None:
            return _error(b.status, b.error_code)
        if b.rate_limit_per_s is not None:
            window = recent.setdefault(tenant, deque())
            now = time.monotonic()
            while window and now - window[0] > 1.0:
                window.popleft()
            if len(window) >= b.rate_limit_per_s:
                return _error(429, 80007)
            window.append(now)
        body: dict[str, Any] = await request.json()
        if body.get("messaging_product") != "whatsapp" or not body.get("to"):
            return _error(400, 100)
        ref = str(body.get("biz_opaque_callback_data") or uuid.uuid4())
        deliveries[ref] += 1
        return JSONResponse({"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                             "messages": [{"id": f"wamid.{uuid.uuid4().hex}"}]})

    @app.put("/_standin/behaviour/{tenant}")
    async def set_behaviour(tenant: str, behaviour: Behaviour) -> dict[str, Any]:
        behaviours[tenant] = behaviour
        return {"tenant": tenant, **behaviour.model_dump()}

    @app.delete("/_standin/behaviour/{tenant}")
    async def reset_behaviour(tenant: str) -> dict[str, Any]:
        if tenant == "*":
            behaviours["*"] = default
        else:
            behaviours.pop(tenant, None)
        return {"tenant": tenant}

    @app.get("/_standin/deliveries")
    async def list_deliveries() -> dict[str, Any]:
        return {"total": sum(deliveries.values()), "distinct": len(deliveries),
                "duplicates": {k: n for k, n in deliveries.items() if n > 1}, "ids": sorted(deliveries),
                "requests": dict(requests)}

    return app
