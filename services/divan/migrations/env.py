"""Alembic environment of divan (see services.common.alembic_env): on the command
line, DATABASE_URL is read through divan's settings."""

from __future__ import annotations

from services.common.alembic_env import run_migrations
from services.divan.models import metadata
from services.divan.settings import Settings

run_migrations(metadata, database_url=lambda: Settings().DATABASE_URL)
