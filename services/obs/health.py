"""Liveness, readiness and startup checks (services/obs/README.md, Health).

Readiness passes when every registered probe passes within its budget: Redis
``PING`` < 200 ms, PostgreSQL ``SELECT 1`` < 300 ms, and the Alembic revision
at least ``HEALTH_MIN_MIGRATION``. The answer is a JSON document, 200 or 503:

    {"status":"ok","checks":{"redis":{"ok":true,"latency_ms":12},
     "postgres":{"ok":true,"latency_ms":22},"migrations":{"ok":true,"version":"0008"}}}

Probes accept sync or asyncio clients: a sync call runs in a worker thread.
A probe never waits longer than ``PROBE_TIMEOUT_S``, so a hung dependency
answers 503 rather than hanging the probe.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from services.obs.metrics import ProbeMetrics

PROBE_TIMEOUT_S = 1.0
Probe = Callable[[], Awaitable[dict[str, Any] | None] | dict[str, Any] | None]


@dataclass
class Check:
    name: str
    probe: Probe
    budget_ms: float | None = None
    # Whether the dependency gets <prefix>_<name>_up / _latency_seconds.
    metered: bool = False


async def _call(fn: Callable[[], Any]) -> Any:
    if inspect.iscoroutinefunction(fn):
        return await fn()
    result = await asyncio.to_thread(fn)
    return await result if inspect.isawaitable(result) else result


@dataclass
class Readiness:
    metrics: ProbeMetrics
    checks: list[Check] = field(default_factory=list)

    def add(self, check: Check) -> None:
        self.checks = [c for c in self.checks if c.name != check.name] + [check]
        if check.metered:
            self.metrics.track(check.name)

    async def run_one(self, check: Check) -> dict[str, Any]:
        start = time.perf_counter()
        try:
            extra = await asyncio.wait_for(_call(check.probe), PROBE_TIMEOUT_S) or {}
            elapsed = time.perf_counter() - start
            ok = bool(extra.pop("ok", True))
            if check.budget_ms is not None and elapsed * 1000 > check.budget_ms:
                ok, extra["error"] = False, f"slower than {check.budget_ms:g} ms"
        except Exception as exc:  # noqa: BLE001 - any failure is a failed check
            elapsed = time.perf_counter() - start
            # The class name only: messages can carry URLs with credentials.
            ok, extra = False, {"error": "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__}
        result: dict[str, Any] = {"ok": ok}
        if check.budget_ms is not None:
            result["latency_ms"] = round(elapsed * 1000, 1)
        result.update(extra)
        if check.metered:
            self.metrics.record(check.name, ok, elapsed)
        return result

    async def run(self) -> tuple[bool, dict[str, Any]]:
        results = await asyncio.gather(*(self.run_one(c) for c in self.checks))
        checks = {c.name: r for c, r in zip(self.checks, results, strict=True)}
        ok = all(r["ok"] for r in results)
        return ok, {"status": "ok" if ok else "fail", "checks": checks}


# --- probes -------------------------------------------------------------------

def redis_probe(client: Any) -> Probe:
    import redis.asyncio  # the SDK's own dependency; imported here to keep the module light

    if isinstance(client, redis.asyncio.Redis):  # fakeredis' async client is one too
        async def probe() -> dict[str, Any]:
            return {"ok": bool(await client.ping())}
        return probe

    def sync_probe() -> dict[str, Any]:
        return {"ok": bool(client.ping())}
    return sync_probe


def _sync_engine(engine: Any) -> Any:
    # An AsyncEngine wraps a sync one; running the probe on it in a thread keeps one code path.
    return getattr(engine, "sync_engine", engine)


def sql_probe(engine: Any) -> Probe:
    eng = _sync_engine(engine)

    def probe() -> dict[str, Any]:
        with eng.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()
        return {}
    return probe


_LEADING_DIGITS = re.compile(r"^(\d+)")


def revision_number(revision: str | None) -> int | None:
    """The numeric prefix of an Alembic revision id ('0008_rooms' -> 8)."""
    if not revision:
        return None
    m = _LEADING_DIGITS.match(revision)
    return int(m.group(1)) if m else None


def migration_probe(engine: Any, min_version: str) -> Probe:
    eng, wanted = _sync_engine(engine), int(min_version)

    def probe() -> dict[str, Any]:
        with eng.connect() as conn:
            rows = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
        current = max(rows, key=lambda r: revision_number(r) or -1, default=None)
        number = revision_number(current)
        return {"ok": number is not None and number >= wanted, "version": current, "required": min_version}
    return probe


def database_check_name(engine: Any) -> str:
    """The PostgreSQL dependency is reported as ``postgres``; another dialect keeps its own name."""
    name = _sync_engine(engine).dialect.name
    return "postgres" if name == "postgresql" else name


# --- startup ------------------------------------------------------------------

StartupCheck = Callable[[], str | None]


@dataclass
class Startup:
    """One-time boot checks: each returns None when fine, else the problem (no secret values)."""

    checks: dict[str, StartupCheck] = field(default_factory=dict)
    passed: bool = False
    _last: dict[str, Any] | None = None

    def add(self, name: str, check: StartupCheck) -> None:
        self.checks[name] = check
        self.passed = False

    def run(self) -> tuple[bool, dict[str, Any]]:
        # Once passed, later probes answer from the cache: the config does not change under a running process.
        if self.passed and self._last is not None:
            return True, self._last
        results: dict[str, Any] = {}
        for name, check in self.checks.items():
            try:
                problem = check()
            except Exception as exc:  # noqa: BLE001
                problem = f"check raised {type(exc).__name__}"
            results[name] = {"ok": problem is None, **({"error": problem} if problem else {})}
        ok = all(r["ok"] for r in results.values())
        self.passed, self._last = ok, {"status": "ok" if ok else "fail", "checks": results}
        return ok, self._last


# --- routes -------------------------------------------------------------------

def add_health_routes(router: APIRouter, readiness: Readiness, startup: Startup) -> None:
    """``/health/{live,ready,startup}`` on ``router`` (the app's own: see ``core.init`` for why)."""
    started = time.monotonic()

    @router.get("/health/live", tags=["health"])
    async def live() -> dict[str, Any]:
        # Answering at all is the event-loop heartbeat: a blocked loop answers nothing.
        return {"status": "ok", "uptime_s": round(time.monotonic() - started, 1)}

    @router.get("/health/ready", tags=["health"])
    async def ready() -> JSONResponse:
        ok, body = await readiness.run()
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/health/startup", tags=["health"])
    async def startup_check() -> JSONResponse:
        ok, body = startup.run()
        return JSONResponse(body, status_code=200 if ok else 503)
