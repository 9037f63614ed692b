"""The lean mode against the upstream instrumentations: one app, both modes, every opt-in value, one route set.

Each request's spans are reduced to what a trace backend shows (name, kind,
parent, every attribute key and value, status, events, links, scope) with
only the values that differ from run to run masked (ids, timestamps, ports
handed out by the OS, stack traces). The two modes must give the same, except
for the reviewed differences in ``differential_allowed.py`` beside this file.
Real Redis and PostgreSQL from tests/conftest.py; a three-node Redis Cluster
(tests/services/obs/conftest.py); SQLite for the SQL error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.websockets import WebSocket

from tests.services.obs import semconv
from tests.services.obs.capture import build_app
from tests.services.obs.differential_allowed import ALLOWED, LEAN_REJECTS
from tests.support.servers import PostgresServer, RedisServer

OPT_INS = ["", "http", "database", "http/dup"]
# Values that differ from one run to the next, masked before the comparison.
_VARIABLE = frozenset({"http.request_id", "client.port", "net.peer.port", "exception.stacktrace",
                       "server.port", "net.host.port"})


def _downstream() -> FastAPI:
    """What the HTTPX route calls: echoes the trace context it was sent."""
    app = FastAPI()

    @app.get("/echo")
    def echo(traceparent: str | None = None) -> dict[str, Any]:
        return {"ok": True}

    return app


def _make_app(mode: str, redis_url: str, cluster_port: int, pg_url: str, sqlite: Path) -> tuple[Any, Any]:
    app, o, cap = build_app(OBS_INSTRUMENTATION=mode)
    sync_redis = o.use_redis(redis.Redis.from_url(redis_url), readiness=False)
    async_redis = o.use_redis(aioredis.Redis.from_url(redis_url), readiness=False)
    cluster = o.use_redis(redis.RedisCluster(host="127.0.0.1", port=cluster_port), readiness=False)
    lite = o.use_database(create_engine(f"sqlite:///{sqlite}"), readiness=False, migrations=False)
    pg = o.use_database(create_async_engine(pg_url), readiness=False, migrations=False)
    seen: dict[str, Any] = {}

    def remember(request: httpx.Request) -> httpx.Response:
        seen["traceparent"] = request.headers.get("traceparent")
        return httpx.Response(200, json={"ok": True})

    client = o.use_httpx(httpx.AsyncClient(transport=httpx.MockTransport(remember), base_url="http://down.test"))

    @app.get("/rooms/{room_id}")
    def room(room_id: int) -> dict[str, int]:
        return {"id": room_id}

    @app.get("/missing/{item}")
    def missing(item: str) -> None:
        raise HTTPException(404, "no such item")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"a", b"b", b"c"]), media_type="text/plain")

    @app.websocket("/ws")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text(await socket.receive_text())
        await socket.close()

    @app.get("/redis/get")
    async def redis_get() -> dict[str, Any]:
        await async_redis.set("diff:k", "v")
        return {"v": (await async_redis.get("diff:k")).decode()}

    @app.get("/redis/watch")
    def redis_watch() -> dict[str, Any]:
        with sync_redis.pipeline() as pipe:
            pipe.watch("diff:balance")
            current = int(pipe.get("diff:balance") or 0)  # immediate, inside the pipeline
            pipe.multi()
            pipe.set("diff:balance", current + 1)
            pipe.execute()
        return {"ok": True}

    @app.get("/redis/cluster")
    def redis_cluster_pipe() -> dict[str, Any]:
        pipe = cluster.pipeline()
        pipe.set("diff:c", "1")  # the three keys' slots are on three different nodes
        pipe.set("diff:d", "2")
        pipe.get("diff:b")
        return {"n": len(pipe.execute())}

    @app.get("/sql/error")
    def sql_error() -> dict[str, Any]:
        try:
            with lite.connect() as conn:
                conn.execute(text("SELECT * FROM no_such_table"))
        except Exception:  # noqa: BLE001 - the span is what is compared
            return {"failed": True}
        return {"failed": False}

    @app.get("/sql/async")
    async def sql_async() -> dict[str, Any]:
        async with pg.connect() as conn:
            value = (await conn.execute(text("SELECT 1"))).scalar()
        return {"v": value}

    @app.get("/call")
    async def call() -> dict[str, Any]:
        resp = await client.get("/echo")
        return {"status": resp.status_code, "propagated": seen.get("traceparent") is not None}

    sub = FastAPI()

    @sub.get("/things/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.mount("/api", sub)
    return app, cap


def _requests(client: TestClient) -> Iterator[str]:
    """Each request of the route set, yielded once it has been made (its label)."""
    client.get("/rooms/4?q=x", headers={"user-agent": "diff/1.0"})
    yield "matched"
    client.get("/no/such/path")
    yield "unmatched"
    client.get("/api/things/9")
    yield "mounted"
    client.request("PURGE", "/rooms/4")
    yield "unknown method"
    client.get("/missing/x")
    yield "4xx"
    client.get("/boom")
    yield "5xx"
    with client.websocket_connect("/ws") as socket:
        socket.send_text("hi")
        socket.receive_text()
    yield "websocket"
    client.get("/stream")
    yield "streaming"
    client.get("/redis/get")
    yield "redis command"
    client.get("/redis/watch")
    yield "redis pipeline with WATCH"
    assert client.get("/redis/cluster").json() == {"n": 3}
    yield "redis cluster pipeline"
    client.get("/sql/error")
    yield "sql error"
    client.get("/sql/async")
    yield "async sqlalchemy"
    assert client.get("/call").json() == {"status": 200, "propagated": True}
    yield "httpx with propagation"


def _settle(cap: Any) -> list[Any]:
    """The spans of the request just made: lean children reach the processors just after the response."""
    deadline = time.monotonic() + 5
    count = -1
    while True:
        spans = cap.finished_spans()
        if len(spans) == count:
            return spans
        assert time.monotonic() < deadline, "spans kept coming"
        count = len(spans)
        time.sleep(0.1)


def _reduce(spans: list[Any], tmp: Path) -> list[dict[str, Any]]:
    def _mask(key: str, value: Any) -> Any:
        if key in _VARIABLE:
            return "<varies>"
        return value.replace(str(tmp), "<tmp>") if isinstance(value, str) else value

    by_id = {s.context.span_id: s for s in spans}
    out = []
    for s in spans:
        parent = None
        if s.parent is not None:
            parent = by_id[s.parent.span_id].name if s.parent.span_id in by_id else "<remote or outside>"
        out.append({
            "name": s.name.replace(str(tmp), "<tmp>"), "kind": s.kind.name, "parent": parent,
            "attributes": {k: _mask(k, v) for k, v in sorted(s.attributes.items())},
            "status": (s.status.status_code.name, s.status.description),
            "events": [(e.name, {k: _mask(k, v) for k, v in sorted(e.attributes.items())}) for e in s.events],
            "links": len(s.links),
            "scope": (s.instrumentation_scope.name, s.instrumentation_scope.version,
                      s.instrumentation_scope.schema_url),
        })
    return sorted(out, key=lambda d: (d["kind"], d["name"], str(d["attributes"])))


def _run(mode: str, opt_in: str, redis_url: str, cluster_port: int, pg_url: str, tmp: Path) -> dict[str, Any]:
    with semconv.opt_in(opt_in):
        (tmp / mode).mkdir()
        app, cap = _make_app(mode, redis_url, cluster_port, pg_url, tmp / mode / "app.db")
        out = {}
        with TestClient(app, raise_server_exceptions=False) as client:
            for _ in _requests(client):  # once first: connections opened, first-connect queries made
                pass
            _settle(cap)
            cap.spans.clear()
            for label in _requests(client):
                out[label] = _reduce(_settle(cap), tmp / mode)
                cap.spans.clear()
    return out


def _diff(upstream: list[dict[str, Any]], lean: list[dict[str, Any]]) -> list[str]:
    if upstream == lean:
        return []
    lines = []
    for i in range(max(len(upstream), len(lean))):
        u = upstream[i] if i < len(upstream) else None
        le = lean[i] if i < len(lean) else None
        if u != le:
            lines.append(f"  upstream: {u}\n  lean:     {le}")
    return lines


@pytest.mark.parametrize("opt_in", OPT_INS)
def test_lean_gives_what_the_upstream_instrumentations_give(
        opt_in: str, redis_srv: RedisServer, redis_cluster: int, postgres_srv: PostgresServer,
        tmp_path: Path) -> None:
    pg_url = postgres_srv.url.replace("postgresql+psycopg://", "postgresql+psycopg_async://")
    upstream = _run("opentelemetry", opt_in, redis_srv.url, redis_cluster, pg_url, tmp_path)
    if opt_in in LEAN_REJECTS:
        with pytest.raises(ValueError, match="OTEL_SEMCONV_STABILITY_OPT_IN"):
            _run("lean", opt_in, redis_srv.url, redis_cluster, pg_url, tmp_path)
        return
    lean = _run("lean", opt_in, redis_srv.url, redis_cluster, pg_url, tmp_path)
    problems = []
    for label, spans in upstream.items():
        allowed = ALLOWED.apply(label, opt_in, spans, lean[label])
        lines = _diff(allowed[0], allowed[1])
        if lines:
            problems.append(f"{label}:\n" + "\n".join(lines))
    assert not problems, f"OTEL_SEMCONV_STABILITY_OPT_IN={opt_in!r}\n" + "\n\n".join(problems)


@pytest.mark.parametrize("variable", ["OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST",
                                      "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE"])
def test_lean_refuses_at_init_a_standard_switch_it_cannot_honour(
        monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "x-tenant")
    with pytest.raises(ValueError, match=f"OBS_INSTRUMENTATION=lean does not honour {variable}"):
        build_app(OBS_INSTRUMENTATION="lean")
    build_app()  # the default mode honours it


def test_a_lean_cluster_pipeline_span_names_its_commands(redis_cluster: int, traced) -> None:
    """The lean Redis spans on a cluster client alone, without obs.init."""
    from services.obs.redis_spans import trace_redis

    tracer, spans = traced
    cluster = trace_redis(redis.RedisCluster(host="127.0.0.1", port=redis_cluster), tracer)
    pipe = cluster.pipeline()
    pipe.set("diff:c", "1")
    pipe.get("diff:c")
    assert pipe.execute() == [True, b"1"]
    (span,) = spans.get_finished_spans()
    assert span.name == "SET GET"
    assert span.attributes["db.statement"] == "SET ? ?\nGET ?" and span.attributes["db.redis.pipeline_length"] == 2
