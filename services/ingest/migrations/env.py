"""Alembic environment of the ingest service (see services.common.alembic_env)."""

from __future__ import annotations

from services.common.alembic_env import run_migrations
from services.ingest.db import MIGRATIONS
from services.ingest.models import Base

run_migrations(Base.metadata, version_table=MIGRATIONS.version_table)
