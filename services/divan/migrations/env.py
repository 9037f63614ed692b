"""Alembic environment: runs on the connection handed in by ``stores.migrate``,
or on DATABASE_URL when called from the ``alembic`` command line."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from services.divan.models import metadata
from services.divan.settings import Settings

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = Settings().sqlalchemy_url
    if not url:
        raise SystemExit("DATABASE_URL is not set")
    with create_engine(url).begin() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()


run()
