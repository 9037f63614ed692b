"""The per-threshold session gauges, and no metric without data points."""

from __future__ import annotations

from processors.api import Signal
from processors.session_health import emit
from tests.processors.session_health.helpers import FakeClock, Session, make_connector
from tests.processors.session_health.test_connector import Sink, ids, points


def _metrics(sink: Sink) -> list:
    return [m for p in sink.payloads for rm in p.message.resource_metrics for sm in rm.scope_metrics
            for m in sm.metrics]


async def test_each_threshold_has_a_gauge_that_agrees_with_the_connector() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    sink = Sink()
    conn.attach(Signal.METRICS, sink)
    fresh, stale, slow = (Session(conn, clock, sid, "acme") for sid in ("fresh", "stale", "slow"))
    for s in (fresh, stale, slow):
        await s.connect()
    await stale.send("credentials_written")
    clock.advance(24 * 3600)  # stale's credentials reach the 24 h warning now
    for s in (fresh, stale, slow):
        await s.send("heartbeat")
    await fresh.send("credentials_written")
    await slow.send("reconnect_attempt", "reconnecting")
    for _ in range(3):
        await slow.send("heartbeat_missed")
    clock.advance(30)  # slow's reconnect has taken 30 s; 3 heartbeats missed
    sink.payloads.clear()
    await conn.evaluate_now()

    req = [p.message for p in sink.payloads]
    # No credentials written yet: no point rather than a made-up age.
    assert points(req, emit.CREDENTIAL_AGE) == {ids("fresh", "acme"): 30.0, ids("stale", "acme"): 24 * 3600 + 30.0}
    assert points(req, emit.RECONNECT_LATENCY) == {
        ids("fresh", "acme"): 0.0, ids("stale", "acme"): 0.0, ids("slow", "acme"): 30.0}
    assert points(req, emit.MISSED_HEARTBEATS) == {
        ids("fresh", "acme"): 0, ids("stale", "acme"): 0, ids("slow", "acme"): 3}
    # The rules' thresholds (24 h, 30 s, 3) are where the connector raises the same warnings.
    codes = {sid: {a.code for a in conn.rollup.snapshot.views[sid].alerts} for sid in ("fresh", "stale", "slow")}
    assert "CREDENTIALS_STALE" in codes["stale"] and "CREDENTIALS_STALE" not in codes["fresh"]
    assert {"RECONNECT_SLOW", "HEARTBEATS_MISSED"} <= codes["slow"]
    units = {m.name: m.unit for m in _metrics(sink)}
    assert units[emit.CREDENTIAL_AGE] == units[emit.RECONNECT_LATENCY] == "s"

    await slow.send("heartbeat")
    await slow.send("reconnect_success", "connected")
    await conn.evaluate_now()
    latest = [sink.payloads[-2].message]
    assert points(latest, emit.RECONNECT_LATENCY)[ids("slow", "acme")] == 0.0
    assert points(latest, emit.MISSED_HEARTBEATS)[ids("slow", "acme")] == 0


async def test_an_idle_connector_emits_no_metric() -> None:
    conn = make_connector(FakeClock())
    sink = Sink()
    conn.attach(Signal.METRICS, sink)
    for _ in range(3):
        await conn.evaluate_now()
    assert sink.payloads == []


async def test_no_emitted_metric_is_without_data_points() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    sink = Sink()
    conn.attach(Signal.METRICS, sink)
    # No session wrote credentials: the credential-age gauge has nothing to say and is left out.
    for i in range(3):
        await Session(conn, clock, f"s{i}", "acme").connect()
    await conn.evaluate_now()
    names = [m.name for m in _metrics(sink)]
    assert emit.CREDENTIAL_AGE not in names and emit.TENANT_SESSIONS in names
    empty = [m.name for m in _metrics(sink) if not getattr(m, m.WhichOneof("data") or "gauge").data_points]
    assert empty == []
