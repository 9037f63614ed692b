"""The body of each service's Alembic ``env.py``: it runs on the connection that
``Migrations.upgrade`` hands over, or, from the ``alembic`` command line, on DATABASE_URL."""

from __future__ import annotations

import os
from collections.abc import Callable

import sqlalchemy
from alembic import context

from services.common.stores import sqlalchemy_url


def _database_url_from_env() -> str | None:
    return os.environ.get("DATABASE_URL")


def _run(connection: sqlalchemy.Connection, target_metadata: sqlalchemy.MetaData, version_table: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table,
        # SQLite alters a table by copying it: autogenerate writes batch operations for it.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations(target_metadata: sqlalchemy.MetaData, *, version_table: str = "alembic_version",
                   database_url: Callable[[], str | None] = _database_url_from_env) -> None:
    """``database_url`` is read only on the command line, where no connection is handed over."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection, target_metadata, version_table)
        return
    url = database_url()
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    with sqlalchemy.create_engine(sqlalchemy_url(url)).begin() as conn:
        _run(conn, target_metadata, version_table)
