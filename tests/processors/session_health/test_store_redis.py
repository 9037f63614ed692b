"""The Redis store against a real Redis: several replicas fold into, and
serve, one fleet view; only the lease holder announces and emits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest

from processors.api import Signal
from processors.session_health import events as ev
from processors.session_health.store import RedisStore
from tests.processors.session_health.helpers import T0, FakeClock, Session, ignored, make_connector, payload, record
from tests.processors.session_health.test_connector import Sink
from tests.support.procs import free_port

TOKEN = "replica-token"


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"  # each test its own keys on the shared server


@pytest.fixture
async def replicas(redis_srv, prefix) -> AsyncIterator[tuple]:
    """Two connectors on one Redis, each with its own API, sharing one clock."""
    clock = FakeClock()
    conns = []
    for _ in range(2):
        conn = make_connector(clock, store=RedisStore(redis_srv.url, prefix), token=TOKEN,
                              evaluation_interval_s=3600, api={"endpoint": "127.0.0.1:0"})
        await conn.start()
        conns.append(conn)
    try:
        yield clock, conns[0], conns[1]
    finally:
        for conn in conns:
            await conn.shutdown()


async def get(conn, path: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{conn.api.port}{path}", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
        return r.status, await r.json()


async def test_state_round_trips_through_redis(redis_srv, prefix) -> None:
    store = RedisStore(redis_srv.url, prefix)
    await store.start()
    try:
        conn = make_connector(FakeClock(), store=store)
        s = Session(conn, conn.rollup.clock, "jid-1@s.whatsapp.net", "acme")
        await s.connect()
        await s.send("reconnect_attempt", "reconnecting")
        await s.send("reconnect_success", "connected", **{"wa.reconnect.latency_ms": 1234})
        await s.send("lock", **{"wa.lock.held": True, "wa.lock.holder": "w1", "wa.lock.operation": "save"})
        got = await store.get("jid-1@s.whatsapp.net")
        assert got is not None
        assert (got.state, got.tenant_id, got.reconnect_total, got.reconnect_latencies_ms, got.lock_holder) == (
            "connected", "acme", 1, [1234.0], "w1")
        assert [st.session_id for st in await store.all()] == ["jid-1@s.whatsapp.net"]
        await store.forget(["jid-1@s.whatsapp.net"])
        assert await store.get("jid-1@s.whatsapp.net") is None and await store.all() == []
    finally:
        await store.close()


async def test_two_replicas_share_one_fleet_view(replicas) -> None:
    clock, a, b = replicas
    # The Collector's loadbalancing exporter may send one session's events to either replica.
    sa, sb = Session(a, clock, "s1", "acme"), Session(b, clock, "s1", "acme")
    await sa.send("state_change", "connected")
    await sb.send("heartbeat")
    await sa.send("reconnect_attempt", "reconnecting")
    await sb.send("reconnect_attempt", "reconnecting")
    await sa.send("reconnect_attempt")
    await Session(b, clock, "s2", "zeta").send("corruption_detected")
    clock.advance(10)

    (sa_status, obs_a), (sb_status, obs_b) = await get(a, "/sessions/s1/observe"), await get(b, "/sessions/s1/observe")
    assert sa_status == sb_status == 200
    assert obs_a == obs_b
    assert obs_a["reconnect"]["attempts"] == 3 and obs_a["heartbeat"]["count"] == 1
    assert [x["code"] for x in obs_a["alerts"]] == ["RECONNECT_ATTEMPTS_HIGH"]

    await a.evaluate_now()
    await b.evaluate_now()
    _, fleet_a = await get(a, "/sessions")
    _, fleet_b = await get(b, "/sessions")
    assert fleet_a == fleet_b
    assert fleet_a["byStatus"] == {"ok": 0, "warning": 1, "critical": 1}


async def test_concurrent_replicas_lose_no_event(replicas) -> None:
    clock, a, b = replicas
    sessions = [f"s{i}" for i in range(5)]
    for sid in sessions:
        await a.export(payload(record("state_change", ts=T0, session=sid)))

    async def beat(conn, n: int) -> None:
        for _ in range(n):
            await conn.export(payload(*(record("heartbeat", ts=T0, session=sid) for sid in sessions)))

    # Both replicas write the same sessions at once: conflicting writes are retried, not lost.
    await asyncio.gather(beat(a, 40), beat(b, 40))
    counts = {st.session_id: st.heartbeat_count for st in await a.store.all()}
    assert counts == dict.fromkeys(sessions, 80)
    assert ignored(a, ev.STORE_CONFLICT) == ignored(b, ev.STORE_CONFLICT) == 0


async def test_out_of_order_across_replicas(replicas) -> None:
    clock, a, b = replicas
    await a.export(payload(record("heartbeat", ts=T0 + 10)))
    await b.export(payload(record("state_change", ts=T0 + 5, state="disconnected")))
    assert ignored(b, ev.OUT_OF_ORDER) == 1
    assert (await a.rollup.session("s1")).state.state == "connected"


async def test_only_the_lease_holder_emits_and_another_takes_over(replicas) -> None:
    clock, a, b = replicas
    sinks = {}
    for conn in (a, b):
        sinks[conn] = (Sink(), Sink())
        conn.attach(Signal.METRICS, sinks[conn][0])
        conn.attach(Signal.LOGS, sinks[conn][1])
    await Session(a, clock).connect()
    clock.advance(61)
    await a.evaluate_now()
    await b.evaluate_now()
    emitted = {conn: len(sinks[conn][0].payloads) for conn in (a, b)}
    assert sorted(emitted.values()) == [0, 2]  # one tick: the sessions, then the tenants
    leader, other = (a, b) if emitted[a] else (b, a)
    assert len(sinks[leader][1].payloads) == 1 and sinks[other][1].payloads == []  # one transition record

    await leader.evaluate_now()
    assert len(sinks[leader][1].payloads) == 1  # the level did not change again

    await leader.shutdown()  # gives the lease up
    clock.advance(300)
    await other.evaluate_now()
    assert len(sinks[other][0].payloads) == 2
    # The new leader knows the level already announced: only warning -> critical is new.
    logs = sinks[other][1].payloads
    assert len(logs) == 1
    rec = logs[0].message.resource_logs[0].scope_logs[0].log_records[0]
    assert {kv.key: kv.value.string_value for kv in rec.attributes}["wa.alert.previous_level"] == "warning"


async def test_an_unreachable_store_is_counted_not_raised() -> None:
    conn = make_connector(FakeClock(), store=RedisStore(f"redis://127.0.0.1:{free_port()}/0", "down"))
    await conn.export(payload(record("heartbeat", ts=T0), record("heartbeat", ts=T0, session="s2")))
    assert ignored(conn, ev.STORE_UNAVAILABLE) == 2
    await conn.store.close()


async def test_api_with_the_store_down() -> None:
    conn = make_connector(FakeClock(), store=RedisStore(f"redis://127.0.0.1:{free_port()}/0", "down"), token=TOKEN,
                          api={"endpoint": "127.0.0.1:0"})
    await conn.api.start()  # not conn.start(): that refuses to start without its store
    try:
        conn.rollup.clock.advance(3600)  # the fleet view is stale, and cannot be refreshed
        status, body = await get(conn, "/sessions/s1/observe")
        assert (status, body) == (503, {"error": "session store unavailable"})
        status, body = await get(conn, "/session/alerts")
        assert status == 200 and body["count"] == 0  # the last view
    finally:
        await conn.api.stop()
        await conn.store.close()
