"""Health endpoints (services/obs/README.md, Health): JSON shape, codes, budgets, startup validation.

Readiness against real Redis and PostgreSQL that stop and come back is in
tests/services/divan/test_readiness.py, on a real service.
"""

from __future__ import annotations

import time

import fakeredis
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.pool import StaticPool

from tests.services.obs.capture import build_app


def _sqlite():
    return create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})


def test_live_is_always_ok() -> None:
    app, _, _ = build_app()
    with TestClient(app) as client:
        body = client.get("/health/live").json()
    assert body["status"] == "ok" and body["uptime_s"] >= 0


def test_ready_reports_each_dependency_in_the_seed_shape() -> None:
    app, o, cap = build_app(HEALTH_MIN_MIGRATION="0002")
    engine = _sqlite()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0002_rooms')"))
    o.use_redis(fakeredis.FakeRedis())
    o.use_database(engine)
    with TestClient(app) as client:
        resp = client.get("/health/ready")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"redis", "sqlite", "migrations"}
    assert body["checks"]["redis"]["ok"] is True and body["checks"]["redis"]["latency_ms"] >= 0
    assert body["checks"]["migrations"] == {"ok": True, "version": "0002_rooms", "required": "0002"}
    assert cap.metric_names() >= {"demo_redis_up", "demo_redis_latency_seconds", "demo_sqlite_up"}


def test_migration_below_the_minimum_fails_readiness() -> None:
    app, o, _ = build_app(HEALTH_MIN_MIGRATION="0008")
    engine = _sqlite()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0007')"))
    o.use_database(engine)
    with TestClient(app) as client:
        resp = client.get("/health/ready")
    assert resp.status_code == 503
    assert resp.json()["checks"]["migrations"] == {"ok": False, "version": "0007", "required": "0008"}


def test_missing_migration_table_fails_readiness() -> None:
    app, o, _ = build_app()
    o.use_database(_sqlite())
    with TestClient(app) as client:
        resp = client.get("/health/ready")
    assert resp.status_code == 503
    assert resp.json()["checks"]["migrations"]["ok"] is False


def test_a_probe_over_budget_fails_and_the_up_gauge_drops() -> None:
    app, o, cap = build_app(HEALTH_REDIS_BUDGET_MS=20)

    class SlowRedis(fakeredis.FakeRedis):
        def ping(self, **kw):
            time.sleep(0.06)
            return super().ping(**kw)

    o.use_redis(SlowRedis())
    with TestClient(app) as client:
        resp = client.get("/health/ready")
    assert resp.status_code == 503
    check = resp.json()["checks"]["redis"]
    assert check["ok"] is False and check["latency_ms"] >= 60 and "20 ms" in check["error"]
    up = [p.value for name, p in cap.metric_points() if name == "demo_redis_up"]
    assert up == [0]


def test_a_failing_probe_reports_the_error_class_not_its_message() -> None:
    app, o, _ = build_app()

    def probe() -> None:
        raise ConnectionError("redis://:hunter2@cache:6379 refused")

    o.add_readiness_check("cache", probe, budget_ms=50)
    with TestClient(app) as client:
        resp = client.get("/health/ready")
    assert resp.status_code == 503
    assert resp.json()["checks"]["cache"]["error"] == "ConnectionError"
    assert "hunter2" not in resp.text


def test_startup_validates_config_strictly_outside_dev() -> None:
    app, _, _ = build_app(ENV="staging", OBS_ADMIN_TOKEN="short")
    with TestClient(app) as client:
        resp = client.get("/health/startup")
    assert resp.status_code == 503
    assert "OTEL_EXPORTER_OTLP_ENDPOINT" in resp.json()["checks"]["config"]["error"]

    app, _, _ = build_app(ENV="staging", OBS_ADMIN_TOKEN="short", OBS_TRACING_ENABLED=False)
    with TestClient(app) as client:
        resp = client.get("/health/startup")
    assert resp.status_code == 503 and "OBS_ADMIN_TOKEN" in resp.json()["checks"]["config"]["error"]
    assert "short" not in resp.text


def test_startup_runs_service_checks_and_caches_success() -> None:
    app, o, _ = build_app()
    calls: list[int] = []

    def jwt_secret_length() -> str | None:
        calls.append(1)
        return None if len(calls) > 1 else "JWT_SECRET too short"

    o.add_startup_check("jwt", jwt_secret_length)
    with TestClient(app) as client:
        first = client.get("/health/startup")
        second = client.get("/health/startup")
        third = client.get("/health/startup")
    assert first.status_code == 503 and first.json()["checks"]["jwt"] == {"ok": False, "error": "JWT_SECRET too short"}
    assert second.status_code == 200 and third.status_code == 200
    assert len(calls) == 2
