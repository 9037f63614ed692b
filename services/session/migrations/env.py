"""Alembic environment: runs on the connection ``db.upgrade`` hands over, or on DATABASE_URL from the CLI."""

from __future__ import annotations

import os

import sqlalchemy
from alembic import context

from services.session.db import VERSION_TABLE, sqlalchemy_url
from services.session.models import Base


def _run(connection: sqlalchemy.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    with sqlalchemy.create_engine(sqlalchemy_url(url)).begin() as conn:
        _run(conn)
