"""What the connector emits on the clock: OTLP metrics per session and tenant,
and one log record per change of alert level, into the attached pipelines."""

from __future__ import annotations

import asyncio
import time

from processors.api import Payload, Signal
from processors.session_health import emit
from processors.session_health.connector import EMIT_FAILURES
from tests.processors.session_health.helpers import T0, FakeClock, Session, make_connector


class Sink:
    """A pipeline entry that keeps what it is given."""

    def __init__(self) -> None:
        self.payloads: list[Payload] = []
        self.fail = False

    async def __call__(self, p: Payload) -> None:
        if self.fail:
            raise RuntimeError("next pipeline down")
        self.payloads.append(Payload(p.signal, raw=p.raw))  # as the wire would carry it


def points(requests, name: str) -> dict[tuple, float]:
    """{sorted attribute items: value} of one metric, over the requests of one tick."""
    out = {}
    for rm in (rm for request in requests for rm in request.resource_metrics):
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name != name:
                    continue
                data = getattr(m, m.WhichOneof("data"))
                for dp in data.data_points:
                    key = tuple(sorted((a.key, a.value.string_value) for a in dp.attributes))
                    out[key] = dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double
    return out


def ids(session: str, tenant: str, **extra: str) -> tuple:
    return tuple(sorted({"wa.session.id": session, "tenant.id": tenant, **extra}.items()))


def records(request) -> list:
    return [r for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]


def attrs(rec) -> dict:
    return {a.key: a.value.string_value for a in rec.attributes}


async def test_metrics_per_session_and_per_tenant() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    metrics = Sink()
    conn.attach(Signal.METRICS, metrics)
    a = Session(conn, clock, "a", "acme")
    b = Session(conn, clock, "b", "acme")
    c = Session(conn, clock, "c", "zeta")
    for s in (a, b, c):
        await s.connect()
    for _ in range(4):
        await b.send("reconnect_attempt", "reconnecting")
    await c.send("circuit_breaker", **{"wa.circuit_breaker.state": "open"})
    clock.advance(65)
    await a.send("heartbeat")
    await conn.evaluate_now()

    req = [p.message for p in metrics.payloads]
    assert len(req) == 2  # the sessions, then the per-tenant counts
    state = points(req, emit.SESSION_STATE)
    assert state[ids("a", "acme", state="connected")] == 1
    assert state[ids("a", "acme", state="disconnected")] == 0
    assert state[ids("b", "acme", state="reconnecting")] == 1
    assert state[ids("b", "acme", state="connected")] == 0
    assert len(state) == 3 * 8  # a state set per session
    assert points(req, emit.RECONNECT_ATTEMPTS) == {ids("a", "acme"): 0, ids("b", "acme"): 4, ids("c", "zeta"): 0}
    assert points(req, emit.HEARTBEAT_AGE) == {ids("a", "acme"): 0.0, ids("b", "acme"): 65.0, ids("c", "zeta"): 65.0}
    assert points(req, emit.BREAKER_OPEN) == {ids("a", "acme"): 0, ids("b", "acme"): 0, ids("c", "zeta"): 1}
    alerts = points(req, emit.SESSION_ALERTS)
    # b: 4 attempts (warning), reconnect taking 65s (warning), heartbeat 65s (warning).
    assert alerts[ids("b", "acme", level="warning")] == 3
    assert alerts[ids("c", "zeta", level="critical")] == 1 and alerts[ids("c", "zeta", level="warning")] == 1
    assert points(req, emit.TENANT_SESSIONS) == {
        (("status", "ok"), ("tenant.id", "acme")): 1, (("status", "warning"), ("tenant.id", "acme")): 1,
        (("status", "critical"), ("tenant.id", "acme")): 0,
        (("status", "ok"), ("tenant.id", "zeta")): 0, (("status", "warning"), ("tenant.id", "zeta")): 0,
        (("status", "critical"), ("tenant.id", "zeta")): 1,
    }
    assert points(req, emit.TENANT_ALERTS)[(("level", "warning"), ("tenant.id", "acme"))] == 3
    attempts = next(m for m in req[0].resource_metrics[0].scope_metrics[0].metrics if m.name == emit.RECONNECT_ATTEMPTS)
    assert attempts.sum.is_monotonic and attempts.sum.data_points[0].start_time_unix_nano == int(T0 * 1e9)
    resource = {a.key: a.value.string_value for a in req[0].resource_metrics[0].resource.attributes}
    assert resource["service.name"] == emit.SERVICE_NAME


async def test_a_large_fleet_is_emitted_in_bounded_requests() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    metrics = Sink()
    conn.attach(Signal.METRICS, metrics)
    for i in range(450):
        await Session(conn, clock, f"s{i:03d}", f"t{i % 3}").connect()
    await conn.evaluate_now()
    assert len(metrics.payloads) == 4  # 200 + 200 + 50 sessions, then the tenants
    state = points([p.message for p in metrics.payloads], emit.SESSION_STATE)
    assert len(state) == 450 * 8 and sum(state.values()) == 450
    tenants = points([metrics.payloads[-1].message], emit.TENANT_SESSIONS)
    assert tenants[(("status", "ok"), ("tenant.id", "t0"))] == 150


async def test_one_log_record_per_change_of_level() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    logs = Sink()
    conn.attach(Signal.LOGS, logs)
    s = Session(conn, clock, "s1", "acme")
    await s.connect()
    await conn.evaluate_now()
    assert logs.payloads == []  # ok from the start: nothing changed

    clock.advance(61)
    await conn.evaluate_now()
    clock.advance(10)
    await conn.evaluate_now()  # still warning: no second record
    clock.advance(240)
    await conn.evaluate_now()
    await s.send("heartbeat")
    await conn.evaluate_now()

    recs = [r for p in logs.payloads for r in records(p.message)]
    assert [(attrs(r)["wa.alert.previous_level"], attrs(r)["wa.alert.level"]) for r in recs] == [
        ("ok", "warning"), ("warning", "critical"), ("critical", "ok")]
    assert [r.severity_text for r in recs] == ["WARN", "ERROR", "INFO"]
    first = recs[0]
    assert first.event_name == emit.TRANSITION_EVENT
    assert attrs(first)["wa.session.id"] == "s1" and attrs(first)["tenant.id"] == "acme"
    assert "HEARTBEAT_STALE: No heartbeat for 61s" in first.body.string_value
    codes = next(a for a in recs[1].attributes if a.key == emit.ATTR_ALERT_CODES)
    assert [v.string_value for v in codes.value.array_value.values] == ["HEARTBEAT_LOST"]


async def test_transition_records_are_not_folded_back_in() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    logs = Sink()
    conn.attach(Signal.LOGS, logs)
    await Session(conn, clock).connect()
    clock.advance(400)
    await conn.evaluate_now()
    before = (await conn.rollup.session("s1")).state.last_event_at
    await conn.export(logs.payloads[0])  # a pipeline loop back into the connector
    assert (await conn.rollup.session("s1")).state.last_event_at == before
    assert conn.settings.telemetry.total("otelproc_session_health_ignored_events_total") == 0


async def test_a_refusing_pipeline_is_counted_and_the_next_tick_emits_again() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    metrics = Sink()
    metrics.fail = True
    conn.attach(Signal.METRICS, metrics)
    await Session(conn, clock).connect()
    await conn.evaluate_now()
    assert conn.settings.telemetry.value(f"{EMIT_FAILURES}_total", component="session_health", signal="metrics") == 2
    metrics.fail = False
    await conn.evaluate_now()
    assert len(metrics.payloads) == 2


async def test_expired_sessions_are_forgotten() -> None:
    clock = FakeClock()
    conn = make_connector(clock, session_ttl_h=1)
    await Session(conn, clock, "old").connect()
    clock.advance(1800)
    await Session(conn, clock, "new").connect()
    clock.advance(1801)
    snap = await conn.evaluate_now()
    assert set(snap.views) == {"new"}
    assert await conn.rollup.session("old") is None


async def test_start_evaluates_on_a_real_clock_until_shutdown() -> None:
    conn = make_connector(time.time, evaluation_interval_s=0.05)
    metrics = Sink()
    conn.attach(Signal.METRICS, metrics)
    await Session(conn, time.time, "s1", "t1").connect()  # a fleet to report: an idle connector sends nothing
    await conn.start()
    try:
        for _ in range(100):
            if len(metrics.payloads) >= 2:
                break
            await asyncio.sleep(0.02)
        assert len(metrics.payloads) >= 2
    finally:
        await conn.shutdown()
    n = len(metrics.payloads)
    await asyncio.sleep(0.15)
    assert len(metrics.payloads) == n  # the task is gone
