"""Alembic environment of the session service (see services.common.alembic_env)."""

from __future__ import annotations

from services.common.alembic_env import run_migrations
from services.session.db import MIGRATIONS
from services.session.models import Base

run_migrations(Base.metadata, version_table=MIGRATIONS.version_table)
