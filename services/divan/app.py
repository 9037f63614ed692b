"""divan-api: ``create_app(settings=None)`` builds one app with its own stores and telemetry."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import socketio
from fastapi import FastAPI
from opentelemetry.sdk.metrics.export import MetricReader

from services import obs
from services.common import faults
from services.common import stores as common_stores
from services.common.docs import docs_routes
from services.divan import leaderboard, stores
from services.divan.deps import DivanState
from services.divan.metrics import DivanMetrics
from services.divan.routers import api_router
from services.divan.settings import Settings, get_settings
from services.divan.sockets import build_socketio

SERVICE_NAME = "divan-api"
SOCKETIO_MOUNT = "/ws"


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    # Give pooled connections back, so a database shutting down does not wait on this process.
    state: DivanState = app.state.divan
    common_stores.dispose_engine(state.engine)
    state.redis.close()


def create_app(settings: Settings | None = None, *, extra_metric_readers: Sequence[MetricReader] = ()) -> FastAPI:
    settings = settings if settings is not None else get_settings()
    # Before obs starts its exporters: an unreachable Redis ends the process here, with one line.
    redis_client = stores.redis_client(settings)
    common_stores.require_redis(redis_client, settings.REDIS_URL, service=SERVICE_NAME)
    app = FastAPI(title=SERVICE_NAME, lifespan=_lifespan, **docs_routes(settings))
    faults.install(app)  # test-only, off by default; inside obs, so its metrics see the faults
    o = obs.init(app, settings, service_name=SERVICE_NAME, metrics_prefix="divan",
                 extra_metric_readers=extra_metric_readers)
    o.use_redis(redis_client)
    engine = o.use_database(stores.engine(settings))
    if settings.DIVAN_AUTO_MIGRATE:
        try:
            stores.migrate(engine)
        except Exception:
            o.logger.exception("migrations failed")
    state = DivanState(settings, o, redis_client, engine, DivanMetrics(o.meter))
    state.sio = build_socketio(state)
    obs.instrument_socketio(state.sio, o)
    app.state.divan = state

    app.include_router(api_router)
    # Starlette hands a mounted app the full path (root_path is informational), and engine.io
    # matches the full path, so the mount prefix is part of socketio_path.
    app.mount(SOCKETIO_MOUNT, socketio.ASGIApp(state.sio, socketio_path=f"{SOCKETIO_MOUNT.strip('/')}/socket.io"))
    o.add_rollover_hook("lb_snapshot", lambda: leaderboard.snapshot(state))
    o.add_startup_check("divan_config", settings.config_problem)
    return app
