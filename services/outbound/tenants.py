"""The tenant service (credentials per tenant) and the outbound service's cached client of it.

The tenant service is a small local service: ``GET
/tenants/{tenant}/whatsapp-credentials`` answers a tenant's WhatsApp Business
phone-number id and access token, 404 for a tenant it does not know. Its
``PUT /_admin/faults/{tenant}`` (admin token) makes a tenant's fetch answer an
error status, which is how the tests and ``make run`` produce credential
failures. Tokens are derived from ``TENANT_SERVICE_SECRET`` and never logged.

``TenantClient`` caches credentials for ``CREDENTIAL_CACHE_TTL_S`` and times
every fetch in ``credential_fetch_duration_seconds{tenant,cached}``; failures
count in ``tenant_service_errors_total{tenant,reason}``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from services.outbound.metrics import OutboundMetrics

TENANT_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_TENANTS = ("acme", "globex", "initech", "umbrella")


class CredentialsUnavailable(Exception):
    """The tenant service could not answer (retryable)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownTenant(Exception):
    """The tenant service does not know the tenant (permanent)."""


@dataclass(frozen=True)
class Credentials:
    phone_number_id: str
    access_token: str


class TenantClient:
    def __init__(self, http: httpx.AsyncClient, base_url: str, metrics: OutboundMetrics, *, ttl: float,
                 token: str | None = None, clock: Any = time.monotonic) -> None:
        self.http, self.base_url, self.metrics, self.ttl, self.clock = http, base_url, metrics, ttl, clock
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._cache: dict[str, tuple[float, Credentials]] = {}

    def invalidate(self, tenant: str) -> None:
        self._cache.pop(tenant, None)

    async def get(self, tenant: str) -> Credentials:
        start = self.clock()
        hit = self._cache.get(tenant)
        cached = hit is not None and start - hit[0] < self.ttl
        try:
            if cached:
                return hit[1]  # type: ignore[index]
            return await self._fetch(tenant)
        finally:
            self.metrics.credential_duration.record(self.clock() - start,
                                                    {"tenant": tenant, "cached": str(cached).lower()})

    async def _fetch(self, tenant: str) -> Credentials:
        try:
            r = await self.http.get(f"{self.base_url}/tenants/{tenant}/whatsapp-credentials", headers=self.headers)
        except httpx.TimeoutException:
            self._error(tenant, "timeout")
        except httpx.HTTPError:
            self._error(tenant, "unreachable")
        if r.status_code == 404:
            raise UnknownTenant(tenant)
        if r.status_code != 200:
            self._error(tenant, f"http_{r.status_code}")
        body = r.json()
        creds = Credentials(body["phone_number_id"], body["access_token"])
        self._cache[tenant] = (self.clock(), creds)
        return creds

    def _error(self, tenant: str, reason: str) -> None:
        self.metrics.tenant_errors.add(1, {"tenant": tenant, "reason": reason})
        raise CredentialsUnavailable(reason)

    async def health(self) -> None:
        r = await self.http.get(f"{self.base_url}/health")
        r.raise_for_status()


# --- the tenant service ---------------------------------------------------------------

class Fault(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: int = Field(503, ge=400, le=599, description="status the tenant's fetches answer; default 503")


def create_app() -> FastAPI:
    """The tenant service. Environment: ``TENANT_SERVICE_TENANTS`` (comma-separated; default acme, globex,
    initech, umbrella), ``TENANT_SERVICE_SECRET`` (derives the access tokens; default a random one),
    ``TENANT_SERVICE_ADMIN_TOKEN`` (for ``/_admin``; unset: ``/_admin`` answers 401)."""
    tenants = {t.strip() for t in os.environ.get("TENANT_SERVICE_TENANTS", ",".join(DEFAULT_TENANTS)).split(",")
               if t.strip()}
    secret = (os.environ.get("TENANT_SERVICE_SECRET") or os.urandom(16).hex()).encode()
    admin = os.environ.get("TENANT_SERVICE_ADMIN_TOKEN") or ""
    faults: dict[str, int] = {}
    app = FastAPI(title="tenant-service", docs_url=None, redoc_url=None, openapi_url=None)

    def _admin(authorization: str | None) -> None:
        if not admin or not hmac.compare_digest(authorization or "", f"Bearer {admin}"):
            raise HTTPException(401, "admin token required")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/tenants/{tenant}/whatsapp-credentials")
    async def credentials(tenant: str) -> dict[str, str]:
        if not TENANT_RE.match(tenant) or tenant not in tenants:
            raise HTTPException(404, "unknown tenant")
        if tenant in faults:
            raise HTTPException(faults[tenant], "tenant store unavailable")
        token = "EAAG" + hmac.new(secret, tenant.encode(), hashlib.sha256).hexdigest()[:40]
        return {"tenant": tenant, "phone_number_id": f"pn-{tenant}", "access_token": token}

    @app.put("/_admin/faults/{tenant}")
    async def set_fault(tenant: str, fault: Fault, authorization: str | None = Header(None)) -> dict[str, Any]:
        _admin(authorization)
        faults[tenant] = fault.status
        return {"tenant": tenant, "status": fault.status}

    @app.delete("/_admin/faults/{tenant}")
    async def clear_fault(tenant: str, authorization: str | None = Header(None)) -> dict[str, Any]:
        _admin(authorization)
        faults.pop(tenant, None)
        return {"tenant": tenant, "status": None}

    return app
