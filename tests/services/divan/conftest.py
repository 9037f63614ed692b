"""divan-api built from test settings, with its telemetry captured in memory.

``divan`` runs on fakeredis and in-memory SQLite (the no-URL code path);
``divan_real`` runs the same app on the session's real Redis and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from services.divan.app import create_app
from services.divan.deps import DivanState
from services.divan.security import issue_token
from services.divan.settings import Settings
from tests.services.obs.capture import Captured
from tests.support.servers import PostgresServer, RedisServer

ADMIN_TOKEN = "divan-admin-token-0123456789"
JWT_SECRET = "test-secret-" + "x" * 32


def divan_settings(**overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "REDIS_URL": None, "DATABASE_URL": None, "JWT_SECRET": JWT_SECRET, "ENV": "test",
        "OBS_ADMIN_TOKEN": ADMIN_TOKEN, "LOG_SAMPLING_RATE_INFO": 1.0, "PRESENCE_MIN_INTERVAL_SECONDS": 0,
        "HEALTH_PROBE_INTERVAL_SECONDS": 0, "OTEL_EXPORTER_OTLP_ENDPOINT": None,
    }
    return Settings(**{**base, **overrides})


@dataclass
class Divan:
    app: FastAPI
    client: TestClient
    cap: Captured

    @property
    def state(self) -> DivanState:
        return self.app.state.divan

    def auth(self, user_id: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(self.state.settings.JWT_SECRET, user_id)}"}

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def start_divan(settings: Settings) -> Iterator[Divan]:
    cap = Captured()
    app = create_app(settings, extra_metric_readers=[cap.metrics])
    cap.attach(app.state.obs)
    with TestClient(app) as client:
        yield Divan(app, client, cap)


@pytest.fixture
def divan() -> Iterator[Divan]:
    yield from start_divan(divan_settings())


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def divan_real(redis_srv: RedisServer, postgres_srv: PostgresServer) -> Iterator[Divan]:
    """The app on the real servers, from an empty database and Redis."""
    import redis

    _reset_postgres(postgres_srv.url)
    redis.Redis.from_url(redis_srv.url).flushdb()
    yield from start_divan(divan_settings(REDIS_URL=redis_srv.url, DATABASE_URL=postgres_srv.dsn))
