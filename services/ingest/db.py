"""The SQL engine and the Alembic migrations of the ingest service.

``DATABASE_URL`` unset means a SQLite file in a temp dir: the same SQLAlchemy
and Alembic code path as PostgreSQL, without a server.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from services.common import stores

# Each service keeps its own version table, so that services can share one database.
MIGRATIONS = stores.Migrations(Path(__file__).resolve().parent / "migrations", version_table="alembic_version_ingest")
HEAD = "0001"


def make_engine(url: str | None) -> Engine:
    return stores.make_engine(url, name="ingest")
