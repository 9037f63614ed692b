"""A record the Collector sends again (its next hop was down, so the
processors answered UNAVAILABLE after the connector had folded it) is folded
once: each session remembers the identities of its last folded records, in
its own state, so this holds in memory and across Redis replicas alike."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest

from processors.session_health import events as ev
from processors.session_health.connector import APPLIED_EVENTS
from processors.session_health.state import RECENT_RECORDS
from processors.session_health.store import RedisStore
from tests.processors.conftest import grpc_port, serving
from tests.processors.session_health.helpers import (
    T0,
    FakeClock,
    Session,
    ignored,
    logs_request,
    make_connector,
    payload,
    record,
)

LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
TOKEN = "retries-token"


def applied(conn) -> float:
    return conn.settings.telemetry.value(f"{APPLIED_EVENTS}_total", component=conn.id)


async def attempts(conn, sid: str = "s1") -> tuple[int, int]:
    st = (await conn.rollup.session(sid)).state
    return st.reconnect_attempts, st.reconnect_total


async def test_a_record_sent_seven_times_is_folded_once() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    await Session(conn, clock).connect()
    clock.advance(1)
    retried = payload(record("reconnect_attempt", ts=clock(), state="reconnecting"))
    for _ in range(7):
        await conn.export(retried)
    assert await attempts(conn) == (1, 1)
    assert ignored(conn, ev.DUPLICATE) == 6 and applied(conn) == 3
    snap = await conn.evaluate_now()
    assert snap.views["s1"].level == "ok"  # seven folds made it critical (7 attempts)


async def test_a_retried_batch_is_folded_once_whatever_it_holds() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    batch = payload(record("state_change", ts=T0, state="connected"), record("heartbeat", ts=T0),
                    record("reconnect_attempt", ts=T0 + 1, state="reconnecting"),
                    record("heartbeat_missed", ts=T0 + 1, state="reconnecting"),
                    record("validation_failure", ts=T0 + 2, state="reconnecting"))
    for _ in range(5):
        await conn.export(batch)
    st = (await conn.rollup.session("s1")).state
    assert (st.heartbeat_count, st.reconnect_total, st.heartbeat_missed, st.validation_failures) == (1, 1, 1, 1)
    assert ignored(conn, ev.DUPLICATE) + ignored(conn, ev.OUT_OF_ORDER) == 4 * 5
    assert ignored(conn, ev.DUPLICATE) >= 4  # the newest record of each retry at least is told apart


async def test_a_retry_inside_the_reorder_window_is_folded_once() -> None:
    clock = FakeClock()
    conn = make_connector(clock, reorder_window_s=30)
    retried = payload(record("reconnect_attempt", ts=T0, state="reconnecting"))
    await conn.export(retried)
    await conn.export(retried)
    await conn.flush(everything=True)
    assert await attempts(conn) == (1, 1)
    assert ignored(conn, ev.DUPLICATE) == 1


async def test_distinct_records_at_one_instant_all_count() -> None:
    conn = make_connector()
    # Same time, same attributes: only the records' own identities differ, as two emits of an SDK do.
    await conn.export(payload(*(record("reconnect_attempt", ts=T0, state="reconnecting") for _ in range(3))))
    await conn.export(payload(record("reconnect_attempt", ts=T0, state="reconnecting")))
    assert await attempts(conn) == (4, 4)
    assert ignored(conn, ev.DUPLICATE) == 0


async def test_the_remembered_identities_are_bounded() -> None:
    conn = make_connector()
    for i in range(3 * RECENT_RECORDS):
        await conn.export(payload(record("heartbeat", ts=T0 + i)))
    assert len((await conn.rollup.session("s1")).state.recent_records) == RECENT_RECORDS


@pytest.fixture
async def replicas(redis_srv) -> AsyncIterator[tuple]:
    clock, prefix, conns = FakeClock(), f"test-{uuid.uuid4().hex[:12]}", []
    for _ in range(2):
        conn = make_connector(clock, store=RedisStore(redis_srv.url, prefix))
        await conn.store.start()
        conns.append(conn)
    try:
        yield clock, conns[0], conns[1]
    finally:
        for conn in conns:
            await conn.store.close()


async def test_a_retry_to_either_redis_replica_is_folded_once(replicas) -> None:
    clock, a, b = replicas
    await Session(a, clock).connect()
    clock.advance(1)
    retried = payload(record("reconnect_attempt", ts=clock(), state="reconnecting"))
    # The loadbalancing exporter may send a retry to another replica when the ring changes.
    for conn in (a, b, a, b, b, a, b):
        await conn.export(retried)
    assert await attempts(a) == await attempts(b) == (1, 1)
    assert ignored(a, ev.DUPLICATE) + ignored(b, ev.DUPLICATE) == 6


async def test_next_hop_down_retries_leave_the_public_health_ok(closed_port, monkeypatch) -> None:
    """Through the real server: each Export folds, then fails on the next hop, and is sent again."""
    monkeypatch.setenv("RETRIES_TEST_TOKEN", TOKEN)
    config = f"""
receivers:
  otlp: {{grpc: {{endpoint: "127.0.0.1:0"}}}}
exporters:
  otlp: {{endpoint: "{closed_port}", timeout_s: 2}}
connectors:
  session_health:
    reorder_window_s: 0
    evaluation_interval_s: 3600
    api: {{endpoint: "127.0.0.1:0", admin_token_env: RETRIES_TEST_TOKEN}}
service:
  pipelines:
    logs: {{receivers: [otlp], exporters: [otlp, session_health]}}
"""
    now = time.time()
    connect = logs_request(record("state_change", ts=now - 2, state="connected"), record("heartbeat", ts=now - 2))
    attempt = logs_request(record("reconnect_attempt", ts=now - 1, state="reconnecting"))
    async with serving(config) as rt:
        conn = rt.service.connectors["session_health"]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(rt)}") as ch:
            call = ch.unary_unary(LOGS_EXPORT, request_serializer=None, response_deserializer=None)
            for body in [connect.SerializeToString()] + [attempt.SerializeToString()] * 7:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call(body, timeout=10)
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        await conn.evaluate_now()
        base = f"http://127.0.0.1:{conn.api.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/session/health") as r:
                assert r.status == 200 and (await r.json())["status"] == "ok"
            async with http.get(f"{base}/sessions/s1/observe", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert (await r.json())["reconnect"]["attempts"] == 1
        assert ignored(conn, ev.DUPLICATE) == 6
