"""Auto-instrumentation on real Redis and PostgreSQL: FastAPI, Redis, SQLAlchemy and HTTPX spans in one trace."""

from __future__ import annotations

import httpx
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import create_engine, text

from services import obs
from tests.services.obs.capture import Captured, build_app
from tests.support.servers import PostgresServer, RedisServer


@pytest.mark.parametrize("mode", ["lean", "opentelemetry"])
def test_one_request_yields_server_redis_sql_and_httpx_spans_in_one_trace(
        mode: str, redis_srv: RedisServer, postgres_srv: PostgresServer) -> None:
    app, o, cap = build_app(OBS_INSTRUMENTATION=mode)
    r = o.use_redis(redis.Redis.from_url(redis_srv.url))
    engine = o.use_database(create_engine(postgres_srv.url), migrations=False)
    upstream = httpx.Client(transport=httpx.MockTransport(lambda req: httpx.Response(204)))
    o.use_httpx(upstream)

    @app.get("/profile/{user_id}")
    def profile(user_id: int) -> dict[str, int]:
        r.set(f"seen:{user_id}", "ada@example.com")
        with engine.connect() as conn:
            found = conn.execute(text("SELECT count(*) FROM pg_class WHERE relname = 'ada@example.com'")).scalar_one()
        upstream.get("http://avatars.internal/v1/avatars?email=ada@example.com")
        return {"found": found}

    with TestClient(app) as client:
        resp = client.get("/profile/7")
    assert resp.status_code == 200
    trace_id = int(resp.headers["traceparent"].split("-")[1], 16)
    spans = [s for s in cap.finished_spans() if s.context.trace_id == trace_id]
    by_name = {s.name: s for s in spans}
    assert "GET /profile/{user_id}" in by_name
    redis_span = by_name["SET"]
    assert redis_span.attributes["db.system"] == "redis" and redis_span.attributes["db.statement"] == "SET ? ?"
    assert redis_span.attributes["net.peer.port"] == redis_srv.port and redis_span.kind is SpanKind.CLIENT
    # (The lean mode also traces the dialect's first-connect queries, such as its version check.)
    sql = [s for s in spans
           if s.attributes.get("db.system") == "postgresql" and "pg_class" in s.attributes["db.statement"]]
    assert len(sql) == 1 and sql[0].attributes["db.statement"] == "SELECT count(*) FROM pg_class WHERE relname = ?"
    # Both modes name a statement's span after its operation and database.
    assert sql[0].name == f"SELECT {sql[0].attributes['db.name']}" and sql[0].kind is SpanKind.CLIENT
    # One instrumentation scope per library in either mode (opentelemetry.instrumentation.* or services.obs.*).
    assert redis_span.instrumentation_scope.name.endswith(".redis")
    assert sql[0].instrumentation_scope.name.endswith(".sqlalchemy")
    client_span = [s for s in spans if s.name == "GET" and s.attributes.get("http.method") == "GET"]
    assert client_span, [s.name for s in spans]
    server = by_name["GET /profile/{user_id}"]
    assert all(s.context.trace_id == server.context.trace_id for s in (redis_span, sql[0], client_span[0]))
    assert "ada@example.com" not in "\n".join(str(dict(s.attributes)) for s in spans)


@pytest.mark.parametrize("mode", ["lean", "opentelemetry"])
def test_async_clients_are_instrumented_too(mode: str, redis_srv: RedisServer) -> None:
    import redis.asyncio as aioredis

    app, o, cap = build_app(OBS_INSTRUMENTATION=mode)
    r = o.use_redis(aioredis.Redis.from_url(redis_srv.url))

    @app.get("/count")
    async def count() -> dict[str, int]:
        return {"n": await r.incr("hits")}

    with TestClient(app) as client:
        assert client.get("/count").status_code == 200
        assert client.get("/health/ready").json()["checks"]["redis"]["ok"] is True
    # redis-py sends INCR as INCRBY.
    assert any(s.name.startswith("INCR") and s.attributes["db.system"] == "redis" for s in cap.finished_spans())


def test_obs_disabled_keeps_health_and_ids_but_records_no_spans() -> None:
    app, o, cap = build_app(OBS_ENABLED=False)

    @app.get("/x")
    def x() -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app) as client:
        resp = client.get("/x")
        assert client.get("/health/live").status_code == 200
    assert resp.headers["x-request-id"]
    assert cap.finished_spans() == []


@pytest.mark.parametrize(("mode", "scope"), [("lean", "services.obs.fastapi"),
                                             ("opentelemetry", "opentelemetry.instrumentation.fastapi")])
def test_the_instrumentation_mode_decides_who_makes_the_server_span(mode: str, scope: str) -> None:
    app, o, cap = build_app(**({} if mode == "opentelemetry" else {"OBS_INSTRUMENTATION": mode}))
    assert mode == o.settings.OBS_INSTRUMENTATION

    @app.get("/rooms/{room_id}")
    def room(room_id: int) -> dict[str, int]:
        return {"id": room_id}

    with TestClient(app) as client:
        resp = client.get("/rooms/4")
    trace_id = int(resp.headers["traceparent"].split("-")[1], 16)
    server = [s for s in cap.finished_spans() if s.context.trace_id == trace_id and s.name == "GET /rooms/{room_id}"]
    assert len(server) == 1
    assert server[0].instrumentation_scope.name == scope
    assert server[0].attributes["http.route"] == "/rooms/{room_id}"


def _native_telemetry_app() -> tuple[FastAPI, InMemorySpanExporter, InMemoryMetricReader]:
    """An app whose FastAPI-native telemetry has providers of its own, as global providers would give it."""
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    app = FastAPI(telemetry={"tracer_provider": tracer_provider,
                             "meter_provider": MeterProvider(metric_readers=[metrics])})

    @app.get("/users/{user_id}")
    def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    return app, spans, metrics


@pytest.mark.skipif(not hasattr(FastAPI(), "_telemetry"), reason="this FastAPI has no native telemetry")
@pytest.mark.parametrize("mode", ["lean", "opentelemetry"])
def test_fastapi_native_telemetry_is_turned_off_so_each_request_is_recorded_once(mode: str) -> None:
    bare, bare_spans, bare_metrics = _native_telemetry_app()
    with TestClient(bare) as client:
        client.get("/users/3?email=ada@example.com")
    # Without obs, FastAPI records the request itself, outside obs's PII policy.
    native = bare_spans.get_finished_spans()
    assert "GET /users/{user_id}" in [s.name for s in native]
    assert any("ada%40example.com" in str(dict(s.attributes)) for s in native)  # url.query, as sent
    assert bare_metrics.get_metrics_data() is not None

    app, spans, metrics = _native_telemetry_app()
    cap = Captured()
    o = obs.init(app, obs.ObsSettings(OBS_INSTRUMENTATION=mode, OBS_ADMIN_TOKEN="a" * 24,
                                      HEALTH_PROBE_INTERVAL_SECONDS=0),
                 service_name="demo-api", extra_metric_readers=[cap.metrics])
    cap.attach(o)
    with TestClient(app) as client:
        resp = client.get("/users/3?email=ada@example.com")
        assert client.get("/health/ready").status_code == 200
    assert resp.status_code == 200
    assert spans.get_finished_spans() == ()
    assert metrics.get_metrics_data() is None
    assert [s.name for s in cap.finished_spans()] == ["GET /users/{user_id}", "GET /health/ready"]


def test_sql_pool_listeners_only_run_with_the_pool_metric(tmp_path) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
        InMemorySpanExporter,
    )

    from services.obs.instrument import instrument_sqlalchemy

    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    plain = instrument_sqlalchemy(create_engine(f"sqlite:///{tmp_path / 'a.db'}"), tracer_provider,
                                  mode="opentelemetry")
    reader = InMemoryMetricReader()
    metered = instrument_sqlalchemy(create_engine(f"sqlite:///{tmp_path / 'b.db'}"), tracer_provider,
                                    mode="opentelemetry", pool_metrics=MeterProvider(metric_readers=[reader]))
    for engine in (plain, metered):
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert len(plain.pool.dispatch.checkout) == 0 and len(metered.pool.dispatch.checkout) == 1
    # Both are traced; only the metered one reports pool usage.
    assert [s.attributes["db.system"] for s in spans.get_finished_spans()] == ["sqlite", "sqlite"]
    usage = [m.name for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    assert usage == ["db.client.connections.usage"]


def test_the_upstream_instrumentations_are_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBS_INSTRUMENTATION", raising=False)
    assert obs.ObsSettings().OBS_INSTRUMENTATION == "opentelemetry"


@pytest.mark.parametrize("variable", ["OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"])
def test_the_excluded_urls_variable_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    """Set, it decides alone (the probes are then traced unless it names them); obs adds nothing to it."""
    from services.obs import instrument

    monkeypatch.setenv(variable, "rooms/\\d+$")
    assert instrument.untraced_urls(("/health/live",)) == "rooms/\\d+$"
    monkeypatch.delenv(variable)
    assert instrument.untraced_urls(("/health/live", "/metrics")) == "health/live,metrics"
