"""Backing stores of the services: real Redis and PostgreSQL when a URL is set,
fakeredis and SQLite otherwise. Callers see the same client types (a sync
``redis.Redis``, a SQLAlchemy ``Engine``) either way, so there is one code path;
and each service's Alembic migrations, applied on such an engine.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

_DEFAULT_REDIS_TIMEOUT_S = 2.0


def sqlalchemy_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` use the psycopg 3 driver, which is the one installed."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def redis_client(url: str | None, *, timeout_s: float = _DEFAULT_REDIS_TIMEOUT_S) -> redis.Redis:
    """The server at ``url``; unset: fakeredis in process, the same client type."""
    if url:
        return redis.Redis.from_url(url, decode_responses=True, socket_timeout=timeout_s,
                                    socket_connect_timeout=timeout_s)
    import fakeredis  # a dev/test fallback; imported only when used

    return fakeredis.FakeRedis(decode_responses=True)


class StoreUnreachable(SystemExit):
    """A backing store that does not answer at start-up: one line on stderr and exit status 1
    (``SystemExit`` with a message), instead of a traceback or a service that starts and cannot serve."""


def masked_url(url: str) -> str:
    """``url`` fit to print: the password in its userinfo as ``***``, a query (which may hold one) as ``?***``."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, host = netloc.rpartition("@")
            user, sep, _ = userinfo.partition(":")
            netloc = f"{user}{':***' if sep else ''}@{host}"
        return f"{parts.scheme}://{netloc}{parts.path}{'?***' if parts.query else ''}"
    except ValueError:
        return "<unparseable URL>"


def require_redis(client: redis.Redis, url: str | None, *, service: str, setting: str = "REDIS_URL") -> None:
    """PING the server at ``url`` once; unreachable (or refusing us), raise ``StoreUnreachable``
    naming ``setting``. Unset (fakeredis): nothing to check."""
    if not url:
        return
    try:
        client.ping()
    except redis.RedisError as exc:
        # The exception text names host and port; it is cut at the first line and never holds the URL itself.
        why = str(exc).splitlines()[0] if str(exc) else ""
        password = urlsplit(url).password
        if password:
            why = why.replace(password, "***")
        client.close()
        raise StoreUnreachable(f"{service}: Redis at {setting}={masked_url(url)} is unreachable: "
                               f"{type(exc).__name__}: {why}") from None


def server_engine(url: str, **options: Any) -> Engine:
    # pre_ping: after the database restarts, pooled connections are stale; the ping replaces them.
    return sqlalchemy.create_engine(sqlalchemy_url(url), pool_pre_ping=True, **options)


def make_engine(url: str | None, *, name: str) -> Engine:
    """The database at ``url``; unset: a SQLite file ``<name>.db`` in a temp dir of its own,
    which ``dispose_engine`` removes."""
    if url:
        return server_engine(url)
    tmp = Path(tempfile.mkdtemp(prefix=f"{name}-sqlite-"))
    engine = sqlalchemy.create_engine(f"sqlite+pysqlite:///{tmp / f'{name}.db'}", connect_args={"timeout": 30})
    engine.info_tempdir = tmp  # type: ignore[attr-defined]  # removed by dispose_engine
    return engine


def dispose_engine(engine: Engine) -> None:
    engine.dispose()
    tmp = getattr(engine, "info_tempdir", None)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass(frozen=True)
class Migrations:
    """One service's Alembic scripts and the version table they record themselves in."""

    directory: Path
    # A version table of its own per service lets services share one database.
    version_table: str = "alembic_version"

    def config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(self.directory))
        return cfg

    def upgrade(self, engine: Engine, revision: str = "head") -> None:
        """``alembic upgrade <revision>`` on ``engine`` (the env.py runs on the connection handed over)."""
        cfg = self.config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def current_revision(self, engine: Engine) -> str | None:
        with engine.connect() as conn:
            return MigrationContext.configure(conn, opts={"version_table": self.version_table}).get_current_revision()

    def readiness_check(self, engine: Engine, head: str) -> Callable[[], dict[str, Any]]:
        """Readiness: this service's own version table is at ``head``."""

        def probe() -> dict[str, Any]:
            current = self.current_revision(engine)
            return {"ok": current == head, "version": current, "required": head}

        return probe
