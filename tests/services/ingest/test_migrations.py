"""Alembic migrations on PostgreSQL: upgrade, downgrade, and the readiness check that reads them."""

from __future__ import annotations

import sqlalchemy

from services.common import stores
from services.ingest import db
from tests.services.ingest.conftest import MakeIngest

TABLES = {"whatsapp_chats", "whatsapp_messages", "whatsapp_offers", "whatsapp_media"}


def test_upgrade_and_downgrade_on_postgres(pg_url: str) -> None:
    engine = db.make_engine(pg_url)
    try:
        db.MIGRATIONS.upgrade(engine)
        assert set(sqlalchemy.inspect(engine).get_table_names()) >= TABLES
        assert db.MIGRATIONS.current_revision(engine) == db.HEAD
        # Its own version table: other services' Alembic histories can share the database.
        assert "alembic_version" not in sqlalchemy.inspect(engine).get_table_names()

        _downgrade(engine)
        assert not TABLES & set(sqlalchemy.inspect(engine).get_table_names())
        assert db.MIGRATIONS.current_revision(engine) is None
    finally:
        stores.dispose_engine(engine)


def _downgrade(engine: sqlalchemy.Engine) -> None:
    from alembic import command

    cfg = db.MIGRATIONS.config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")


def test_readiness_fails_when_the_schema_is_behind(make_ingest: MakeIngest, pg_url: str, redis_url: str) -> None:
    app = make_ingest(DATABASE_URL=pg_url, REDIS_URL=redis_url)
    ready = app.client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["postgres"]["ok"] is True
    assert ready.json()["checks"]["redis"]["ok"] is True

    _downgrade(app.app.state.ingest.store.engine)

    behind = app.client.get("/health/ready")
    assert behind.status_code == 503
    assert behind.json()["checks"]["migrations"] == {"ok": False, "version": None, "required": "0001"}
