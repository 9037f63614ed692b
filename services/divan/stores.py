"""Backing stores: real Redis and PostgreSQL when REDIS_URL / DATABASE_URL are set,
fakeredis and an in-memory SQLite otherwise. Callers see the same client types
(a sync ``redis.Redis``, a SQLAlchemy ``Engine``), so there is one code path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import StaticPool

from services.divan.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Short socket timeouts: a stopped dependency should fail a request or probe fast, not hang it.
_REDIS_TIMEOUT_S = 1.0


def redis_client(settings: Settings) -> redis.Redis:
    if settings.REDIS_URL:
        return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_timeout=_REDIS_TIMEOUT_S,
                                    socket_connect_timeout=_REDIS_TIMEOUT_S)
    import fakeredis

    return fakeredis.FakeRedis(decode_responses=True)


def engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if url:
        connect_args: dict[str, Any] = {"connect_timeout": 2} if url.startswith("postgresql") else {}
        # pre_ping: after PostgreSQL restarts, pooled connections are stale; the ping replaces them.
        return create_engine(url, pool_pre_ping=True, pool_size=5, connect_args=connect_args)
    # One shared connection: every session of an in-memory SQLite sees the same database.
    return create_engine("sqlite+pysqlite:///:memory:", poolclass=StaticPool,
                         connect_args={"check_same_thread": False})


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(eng: Engine, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` on ``eng``."""
    cfg = alembic_config()
    with eng.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
