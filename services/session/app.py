"""The WhatsApp session service: ``create_app(settings=None)``.

Simulated sessions emit the ``wa.session.*`` events (services/session/README.md) as OTLP log
records; the backend proxy routes read the fleet view back from the
session-health API. A live tick steps every session (heartbeats, reconnects)
every ``SESSION_TICK_INTERVAL_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import httpx
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from opentelemetry.sdk.metrics.export import MetricReader

from services import obs
from services.common import faults, stores
from services.common.docs import docs_routes
from services.obs.ops import admin_guard
from services.session import db
from services.session.credentials import CredentialStore
from services.session.deps import SessionContext
from services.session.lock import SessionLock
from services.session.machine import Policy
from services.session.manager import SessionManager
from services.session.routers import proxy, sessions
from services.session.settings import SessionSettings, get_settings
from services.session.telemetry import EventCounter, events_logger

METRICS_PREFIX = "whatsapp_session"


def policy_of(settings: SessionSettings) -> Policy:
    return Policy(
        missed_heartbeats_limit=settings.SESSION_MISSED_HEARTBEATS_LIMIT,
        max_reconnect_attempts=settings.SESSION_MAX_RECONNECT_ATTEMPTS,
        breaker_threshold=settings.SESSION_BREAKER_THRESHOLD,
        breaker_cooldown_s=settings.SESSION_BREAKER_COOLDOWN_S,
    )


async def _tick_forever(manager: SessionManager, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        await run_in_threadpool(manager.tick)


def create_app(settings: SessionSettings | None = None, *, obs_settings: obs.ObsSettings | None = None,
               metric_readers: Sequence[MetricReader] = ()) -> FastAPI:
    settings = settings if settings is not None else get_settings()
    redis_client = stores.redis_client(settings.REDIS_URL)
    stores.require_redis(redis_client, settings.REDIS_URL, service=settings.SERVICE_NAME)
    engine = db.make_engine(settings.DATABASE_URL)
    # No default credentials: the proxy chooses them per request, from the caller's (routers/proxy.py).
    health_api = httpx.AsyncClient(base_url=settings.SESSION_HEALTH_URL, timeout=settings.SESSION_HEALTH_TIMEOUT_S)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(db.MIGRATIONS.upgrade, engine)
        ticker = None
        if settings.SESSION_TICK_INTERVAL_S > 0:
            ticker = asyncio.create_task(_tick_forever(app.state.session.manager, settings.SESSION_TICK_INTERVAL_S))
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            await health_api.aclose()
            redis_client.close()
            stores.dispose_engine(engine)

    app = FastAPI(title="WhatsApp session", lifespan=lifespan, **docs_routes(settings))
    app.include_router(sessions.router)
    app.include_router(proxy.router)
    faults.install(app)  # test-only, off by default; inside obs, so its metrics see the faults

    o = obs.init(app, obs_settings, service_name=settings.SERVICE_NAME, metrics_prefix=METRICS_PREFIX,
                 extra_metric_readers=metric_readers)
    o.use_redis(redis_client)
    o.use_database(engine, migrations=False)
    o.add_readiness_check("migrations", db.MIGRATIONS.readiness_check(engine, db.HEAD))
    o.use_httpx(health_api)
    log = o.get_logger("session")
    event_log = events_logger(o)
    event_log.addHandler(EventCounter(o.meter))

    manager = SessionManager(
        credentials=CredentialStore(engine),
        lock=SessionLock(redis_client, prefix=settings.REDIS_KEY_PREFIX, holder=settings.SESSION_REPLICA_ID,
                         ttl_ms=settings.SESSION_LOCK_TTL_MS),
        events_logger=event_log, policy=policy_of(settings),
        heartbeat_interval_s=settings.SESSION_HEARTBEAT_INTERVAL_S, log=log,
    )
    app.state.session = SessionContext(
        settings=settings, manager=manager, health_api=health_api, log=log,
        # These routes change state: the admin token always, whatever OBS_METRICS_PUBLIC says.
        admin_guard=admin_guard(o.settings.model_copy(update={"OBS_METRICS_PUBLIC": False})),
    )
    return app
