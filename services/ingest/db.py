"""The SQL engine and the Alembic migrations of the ingest service.

``DATABASE_URL`` unset means a SQLite file in a temp dir: the same SQLAlchemy
and Alembic code path as PostgreSQL, without a server.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Each service keeps its own version table, so that services can share one database.
VERSION_TABLE = "alembic_version_ingest"
HEAD = "0001"


def sqlalchemy_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` use the psycopg 3 driver, which is the one installed."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def make_engine(url: str | None) -> Engine:
    if url:
        return sqlalchemy.create_engine(sqlalchemy_url(url), pool_pre_ping=True)
    tmp = Path(tempfile.mkdtemp(prefix="ingest-sqlite-"))
    engine = sqlalchemy.create_engine(f"sqlite+pysqlite:///{tmp / 'ingest.db'}", connect_args={"timeout": 30})
    engine.info_tempdir = tmp  # type: ignore[attr-defined]  # removed by dispose_engine
    return engine


def dispose_engine(engine: Engine) -> None:
    engine.dispose()
    tmp = getattr(engine, "info_tempdir", None)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` on ``engine``."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()
