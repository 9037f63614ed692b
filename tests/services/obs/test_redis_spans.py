"""Lean Redis spans on a real redis-server: one CLIENT span per command or pipeline, values never recorded."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis
from opentelemetry.trace import SpanKind, StatusCode

from services.obs.redis_spans import connection_attributes, statement, trace_redis
from tests.support.servers import RedisServer


def test_each_command_is_a_client_span_with_its_shape_not_its_values(redis_srv: RedisServer, traced) -> None:
    tracer, spans = traced
    client = trace_redis(redis.Redis.from_url(redis_srv.url), tracer)
    client.set("user:7:email", "ada@example.com")
    assert client.get("user:7:email") == b"ada@example.com"
    set_span, get_span = spans.get_finished_spans()
    assert (set_span.name, get_span.name) == ("SET", "GET")
    assert set_span.kind is SpanKind.CLIENT
    assert dict(set_span.attributes) == {
        "db.system": "redis", "db.redis.database_index": 0, "net.peer.name": "127.0.0.1",
        "net.peer.port": redis_srv.port, "db.statement": "SET ? ?", "db.redis.args_length": 3,
        "net.transport": "ip_tcp",
    }


def test_a_pipeline_is_one_span_naming_its_commands(redis_srv: RedisServer, traced) -> None:
    tracer, spans = traced
    client = trace_redis(redis.Redis.from_url(redis_srv.url), tracer)
    client.delete("pipeline:hits")
    spans.clear()
    with client.pipeline() as pipe:
        pipe.incr("pipeline:hits").expire("pipeline:hits", 60)
        assert pipe.execute() == [1, True]
    (span,) = spans.get_finished_spans()
    assert span.name == "INCRBY EXPIRE"
    assert span.attributes["db.statement"] == "INCRBY ? ?\nEXPIRE ? ?"
    assert span.attributes["db.redis.pipeline_length"] == 2


def test_a_failed_command_marks_the_span_without_its_message(redis_srv: RedisServer, traced) -> None:
    tracer, spans = traced
    client = trace_redis(redis.Redis.from_url(redis_srv.url), tracer)
    client.set("name", "ada")
    with pytest.raises(redis.ResponseError):
        client.incr("name")
    failed = spans.get_finished_spans()[-1]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "ResponseError" and failed.events == ()


def test_a_watch_conflict_is_not_an_error(redis_srv: RedisServer, traced) -> None:
    tracer, spans = traced
    client = trace_redis(redis.Redis.from_url(redis_srv.url), tracer)
    other = redis.Redis.from_url(redis_srv.url)
    with client.pipeline() as pipe:
        pipe.watch("balance")
        other.set("balance", 10)  # changed under the watch
        pipe.multi()
        pipe.set("balance", 5)
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert spans.get_finished_spans()[-1].status.status_code is StatusCode.UNSET


def test_asyncio_clients_and_a_second_call_trace_once(redis_srv: RedisServer, traced) -> None:
    tracer, spans = traced
    client = aioredis.Redis.from_url(redis_srv.url)
    assert trace_redis(trace_redis(client, tracer), tracer) is client

    async def run() -> None:
        await client.set("k", "v")
        async with client.pipeline() as pipe:
            await pipe.get("k").get("k").execute()
        await client.aclose()

    asyncio.run(run())
    assert [s.name for s in spans.get_finished_spans()] == ["SET", "GET GET"]


def test_statements_are_bounded() -> None:
    assert statement(()) == ""
    assert statement(("MSET", *["k", "v"] * 600)).endswith("...") and len(statement(("MSET", *"kv" * 600))) == 1000


def test_a_client_without_one_connection_pool_claims_no_server_address() -> None:
    class ClusterLike:  # a cluster client routes each command to one of many servers
        def execute_command(self, *args: object) -> None:
            return None

    assert connection_attributes(ClusterLike()) == {"db.system": "redis"}
    assert connection_attributes(redis.Redis(host="cache.internal", port=6380, db=2)) == {
        "db.system": "redis", "db.redis.database_index": 2, "net.peer.name": "cache.internal", "net.peer.port": 6380,
        "net.transport": "ip_tcp"}


def test_suppressed_instrumentation_makes_no_span(redis_srv: RedisServer, traced) -> None:
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    tracer, spans = traced
    client = trace_redis(redis.Redis.from_url(redis_srv.url), tracer)
    with suppress_instrumentation():
        client.set("quiet", "1")
        with client.pipeline() as pipe:
            pipe.get("quiet")
            pipe.execute()
    client.get("quiet")
    assert [s.name for s in spans.get_finished_spans()] == ["GET"]
