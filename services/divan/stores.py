"""divan's backing stores, wired by ``services.common.stores``: real Redis and
PostgreSQL when REDIS_URL / DATABASE_URL are set, fakeredis and a SQLite file
of its own otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine

from services.common import stores
from services.divan.settings import Settings

# divan records its revisions in Alembic's default version table.
MIGRATIONS = stores.Migrations(Path(__file__).resolve().parent / "migrations")
# Short socket timeouts: a stopped dependency should fail a request or probe fast, not hang it.
_REDIS_TIMEOUT_S = 1.0


def redis_client(settings: Settings) -> redis.Redis:
    return stores.redis_client(settings.REDIS_URL, timeout_s=_REDIS_TIMEOUT_S)


def engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if url:
        connect_args: dict[str, Any] = {"connect_timeout": 2} if url.startswith("postgresql") else {}
        return stores.server_engine(url, pool_size=5, connect_args=connect_args)
    # A SQLite file of its own, with a connection per session: one shared in-memory connection
    # fails concurrent requests ("cannot commit transaction - SQL statements in progress").
    return stores.make_engine(None, name="divan")


def migrate(eng: Engine, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` on ``eng``."""
    MIGRATIONS.upgrade(eng, revision)
