"""Bounds on what senders can make the connector hold: ids longer than
max_session_id_bytes / max_tenant_id_bytes are refused and counted, and past
max_sessions the stalest session is evicted (counted), in memory and in
Redis, so the fleet bodies and /session/metrics stay bounded too."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from processors.session_health import events as ev
from processors.session_health.config import SessionHealthConfig
from processors.session_health.connector import EVICTED_SESSIONS
from processors.session_health.state import MAX_TEXT_CHARS
from processors.session_health.store import MemoryStore, RedisStore
from tests.processors.session_health.helpers import T0, FakeClock, Session, ignored, make_connector, payload, record

TOKEN = "limits-token"


def evicted(conn) -> float:
    return conn.settings.telemetry.value(f"{EVICTED_SESSIONS}_total", component=conn.id, reason="max_sessions")


def test_defaults() -> None:
    cfg = SessionHealthConfig()
    assert (cfg.max_sessions, cfg.max_session_id_bytes, cfg.max_tenant_id_bytes) == (10_000, 128, 128)
    for key in ("max_sessions", "max_session_id_bytes", "max_tenant_id_bytes"):
        assert "Default" in SessionHealthConfig.model_fields[key].description


async def test_an_overlong_session_id_is_refused_and_counted() -> None:
    conn = make_connector(max_session_id_bytes=16)
    ok, long_ascii, long_utf8 = "x" * 16, "x" * 17, "\u00e9" * 9  # 16, 17 and 18 bytes of UTF-8
    await conn.export(payload(*(record("state_change", ts=T0, session=sid) for sid in (ok, long_ascii, long_utf8))))
    assert [st.session_id for st in await conn.store.all()] == [ok]
    assert ignored(conn, ev.SESSION_ID_TOO_LONG) == 2


async def test_an_overlong_tenant_id_is_refused_and_counted() -> None:
    conn = make_connector(max_tenant_id_bytes=8)
    await conn.export(payload(record("state_change", ts=T0, session="a", tenant="t" * 8),
                              record("state_change", ts=T0, session="b", tenant="t" * 9)))
    # On the resource too: the record's own attribute is checked the same way.
    await conn.export(payload(record("state_change", ts=T0, session="c", tenant=None),
                              resource={"tenant.id": "r" * 9}))
    assert [st.session_id for st in await conn.store.all()] == ["a"]
    assert ignored(conn, ev.TENANT_ID_TOO_LONG) == 2


async def test_free_text_kept_per_session_is_cut() -> None:
    conn = make_connector()
    s = Session(conn, FakeClock())
    await s.send("auth", **{"wa.auth.method": "m" * 100_000})
    await s.send("lock", **{"wa.lock.held": True, "wa.lock.holder": "h" * 100_000, "wa.lock.operation": "o" * 300})
    st = (await conn.rollup.session("s1")).state
    assert (st.auth_method, st.lock_holder, st.lock_operation) == ("m" * MAX_TEXT_CHARS, "h" * MAX_TEXT_CHARS,
                                                                    "o" * MAX_TEXT_CHARS)


async def _evict_the_stalest(conn, clock) -> None:
    for sid in ("s0", "s1", "s2"):
        await Session(conn, clock, sid).connect()
        clock.advance(1)
    await Session(conn, clock, "s0").send("heartbeat")  # s1 is now the stalest
    await Session(conn, clock, "s3").connect()
    assert sorted(st.session_id for st in await conn.store.all()) == ["s0", "s2", "s3"]
    await Session(conn, clock, "s4").connect()
    assert sorted(st.session_id for st in await conn.store.all()) == ["s0", "s3", "s4"]
    assert evicted(conn) == 2
    assert await conn.rollup.session("s1") is None


async def test_past_max_sessions_the_stalest_is_evicted_in_memory() -> None:
    clock = FakeClock()
    conn = make_connector(clock, max_sessions=3)
    await _evict_the_stalest(conn, clock)


async def test_past_max_sessions_the_stalest_is_evicted_in_redis(redis_srv) -> None:
    clock = FakeClock()
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    store = RedisStore(redis_srv.url, prefix, max_sessions=3)
    await store.start()
    try:
        conn = make_connector(clock, store=store, max_sessions=3)
        await _evict_the_stalest(conn, clock)
        # A second replica on the same keys sees the same three and evicts in the same order.
        other = RedisStore(redis_srv.url, prefix, max_sessions=3)
        await other.start()
        try:
            conn_b = make_connector(clock, store=other, max_sessions=3)
            await Session(conn_b, clock, "s5").connect()
            assert sorted(st.session_id for st in await other.all()) == ["s3", "s4", "s5"]
            assert evicted(conn_b) == 1
            assert len(await store._redis.zrange(store.k_seen, 0, -1)) == 3  # the recency index is trimmed too
        finally:
            await other.close()
    finally:
        await store.close()


async def test_a_session_evicted_after_an_evaluation_leaves_no_level_behind(redis_srv) -> None:
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    for store in (MemoryStore(max_sessions=1), RedisStore(redis_srv.url, prefix, max_sessions=1)):
        await store.start()
        try:
            conn = make_connector(FakeClock(), store=store, max_sessions=1)
            await conn.export(payload(record("corruption_detected", ts=T0, session="a")))
            snap = await conn.rollup.evaluate()
            await conn.export(payload(record("heartbeat", ts=T0, session="b")))  # evicts a
            assert await store.swap_levels({sid: v.level for sid, v in snap.views.items()}) == {"a": "ok"}
            assert await store.swap_levels({}) == {}
            assert await store.swap_levels({"a": "critical"}) == {"a": "ok"}  # still never recorded
        finally:
            await store.close()


async def test_many_sessions_with_huge_ids_keep_the_fleet_bodies_bounded() -> None:
    clock = FakeClock()
    conn = make_connector(clock, token=TOKEN, evaluation_interval_s=3600, max_sessions=50,
                          api={"endpoint": "127.0.0.1:0"})
    await conn.start()
    try:
        for batch in range(4):
            huge = [record("heartbeat", ts=T0, session=f"{batch}-{i}-" + "x" * 10_000) for i in range(50)]
            fitting = [record("heartbeat", ts=T0, session=f"{batch}-{i}-" + "y" * 100) for i in range(50)]
            await conn.export(payload(*huge, *fitting))
        assert ignored(conn, ev.SESSION_ID_TOO_LONG) == 200
        assert len(await conn.store.all()) == 50 and evicted(conn) == 150
        await conn.evaluate_now()
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{conn.api.port}/session/metrics",
                headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            text = await r.text()
        assert r.status == 200
        assert text.count("wa_heartbeat_age_seconds{") == 50
        # Eleven series per session, each line its two ids (at most 128 bytes each) plus under 100 bytes.
        assert len(text.encode()) < 50 * 11 * (2 * 128 + 100) + 4096
    finally:
        await conn.shutdown()


@pytest.mark.parametrize("key", ["max_sessions", "max_session_id_bytes", "max_tenant_id_bytes"])
def test_the_limits_must_be_positive(key: str) -> None:
    with pytest.raises(ValueError, match=key):
        SessionHealthConfig.model_validate({key: 0})


async def test_a_large_fleet_exposition_is_rendered_off_the_event_loop() -> None:
    """/session/metrics for the largest fleet takes about a second to write: meanwhile the public
    health check still answers at once (timed from a thread of its own: the loop's timers would wait too)."""
    import threading
    import time
    import urllib.request

    clock = FakeClock()
    sessions = 10_000
    conn = make_connector(clock, token=TOKEN, evaluation_interval_s=3600, max_sessions=sessions,
                          api={"endpoint": "127.0.0.1:0"})
    await conn.start()
    try:
        for batch in range(10):
            await conn.export(payload(*(record("heartbeat", ts=T0, session=f"{batch}-{i}-" + "z" * 100)
                                        for i in range(sessions // 10))))
        await conn.evaluate_now()
        base = f"http://127.0.0.1:{conn.api.port}"
        timings: list[float] = []

        def health_checks() -> None:
            time.sleep(0.1)  # into the rendering
            for _ in range(3):
                t0 = time.perf_counter()
                with urllib.request.urlopen(f"{base}/session/health", timeout=10) as r:
                    assert r.status == 200
                timings.append(time.perf_counter() - t0)

        async with aiohttp.ClientSession() as http:
            checker = threading.Thread(target=health_checks)
            t_metrics = time.perf_counter()
            checker.start()
            async with http.get(f"{base}/session/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                size = len(await r.read())
            metrics_s = time.perf_counter() - t_metrics
            while checker.is_alive():
                await asyncio.sleep(0.01)
        assert size > 10 << 20 and len(timings) == 3
        assert metrics_s > 0.3, f"rendering took {metrics_s:.2f}s: too quick to show anything"
        # The checker and this test's own client share the process's GIL with the render: a looser bound
        # than across processes (tests/processors/test_offload.py), still well under a render on the loop.
        assert max(timings) < 0.25, \
            f"health took {max(timings):.3f}s while /session/metrics rendered for {metrics_s:.2f}s"
    finally:
        await conn.shutdown()
