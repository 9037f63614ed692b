"""Folding session events, and bad input: counted by reason, ignored, never raised,
and never leaving a session in a corrupted state."""

from __future__ import annotations

import asyncio
import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.api import Payload, Signal
from processors.session_health import events as ev
from tests.processors.session_health.helpers import (
    T0,
    FakeClock,
    Session,
    ignored,
    make_connector,
    payload,
    record,
)


async def test_a_session_is_folded_from_its_events() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    s = Session(conn, clock, state="authenticating")
    await s.send("auth", **{"wa.auth.method": "session_restore"})
    await s.send("credentials_written")
    clock.advance(5)
    await s.connect()
    await s.send("lock", **{"wa.lock.held": True, "wa.lock.holder": "worker-2", "wa.lock.operation": "save"})
    st_ = (await conn.rollup.session("s1")).state
    assert (st_.state, st_.tenant_id, st_.init_successful, st_.auth_method) == ("connected", "t1", True,
                                                                                "session_restore")
    assert st_.connected_since == st_.state_changed_at == T0 + 5
    assert st_.heartbeat_count == 1 and st_.heartbeat_last_at == T0 + 5
    assert (st_.lock_held, st_.lock_holder, st_.lock_operation) == (True, "worker-2", "save")
    await s.send("lock", **{"wa.lock.held": False})
    assert (await conn.rollup.session("s1")).state.lock_holder is None


async def test_reconnect_episode() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    s = Session(conn, clock)
    await s.connect()
    await s.send("reconnect_attempt", "reconnecting")
    clock.advance(4)
    await s.send("reconnect_attempt")
    clock.advance(2)
    await s.send("reconnect_success", "connected")  # no latency attribute: measured from the first attempt
    await s.send("reconnect_attempt", "reconnecting")
    await s.send("reconnect_success", "connected", **{"wa.reconnect.latency_ms": 1500})
    st_ = (await conn.rollup.session("s1")).state
    assert st_.reconnect_attempts == 0 and st_.reconnect_total == 3
    assert not st_.reconnect_in_progress
    assert st_.reconnect_latencies_ms == [6000.0, 1500.0]


async def test_auth_and_credential_writes_reset_integrity() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    s = Session(conn, clock)
    await s.connect()
    await s.send("validation_failure")
    await s.send("corruption_detected")
    assert {c for _, c, _ in await s.alerts()} == {"VALIDATION_FAILURE", "SESSION_CORRUPTED"}
    await s.send("auth")
    assert await s.alerts() == []


async def test_event_name_as_an_attribute_and_ids_on_the_resource() -> None:
    conn = make_connector()
    rec = record("heartbeat", ts=T0, session=None, tenant=None, name_as_attribute=True)
    await conn.export(payload(rec, resource={"wa.session.id": "res-1", "tenant.id": "acme"}))
    view = await conn.rollup.session("res-1")
    assert view is not None and view.state.tenant_id == "acme" and view.state.heartbeat_count == 1


async def test_ordinary_logs_are_not_session_events_and_not_counted() -> None:
    conn = make_connector()
    await conn.export(payload(record("http.request", ts=T0), record("", ts=T0)))
    assert await conn.rollup.store.all() == []
    assert conn.settings.telemetry.total("otelproc_session_health_ignored_events_total") == 0


async def test_missing_ids_are_counted_and_ignored() -> None:
    conn = make_connector()
    await conn.export(payload(
        record("heartbeat", ts=T0, session=None),
        record("heartbeat", ts=T0, session=""),
        record("heartbeat", ts=T0, tenant=None),
        record("heartbeat", ts=T0, state=None),
    ))
    assert ignored(conn, ev.MISSING_SESSION_ID) == 2
    assert ignored(conn, ev.MISSING_TENANT_ID) == 1
    assert ignored(conn, ev.MISSING_STATE) == 1
    assert await conn.rollup.store.all() == []


async def test_unknown_states_events_and_attributes_leave_the_session_as_it_was() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    s = Session(conn, clock)
    await s.connect()
    before = copy.deepcopy((await conn.rollup.session("s1")).state)
    clock.advance(1)
    await conn.export(payload(
        record("state_change", ts=clock(), state="zombie"),
        record("state_change", ts=clock(), state=""),
        record("teleported", ts=clock()),
        record("circuit_breaker", ts=clock(), attrs={"wa.circuit_breaker.state": "ajar"}),
        record("circuit_breaker", ts=clock()),
        record("lock", ts=clock(), attrs={"wa.lock.held": "yes"}),
        record("reconnect_success", ts=clock(), attrs={"wa.reconnect.latency_ms": -5}),
    ))
    assert ignored(conn, ev.UNKNOWN_STATE) == 1
    assert ignored(conn, ev.MISSING_STATE) == 1
    assert ignored(conn, ev.UNKNOWN_EVENT) == 1
    assert ignored(conn, ev.INVALID_ATTRIBUTE) == 4
    assert (await conn.rollup.session("s1")).state == before


async def test_out_of_order_events_are_counted_and_ignored() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    s = Session(conn, clock)
    await s.connect()
    clock.advance(10)
    await s.send("heartbeat")
    # A late record from before the last one: it must not move the session back.
    await conn.export(payload(record("state_change", ts=T0 + 5, state="disconnected"),
                              record("heartbeat", ts=T0 + 5)))
    st_ = (await conn.rollup.session("s1")).state
    assert ignored(conn, ev.OUT_OF_ORDER) == 2
    assert st_.state == "connected" and st_.heartbeat_last_at == T0 + 10 and st_.heartbeat_count == 2
    # Equal timestamps are in order.
    await s.send("heartbeat")
    assert (await conn.rollup.session("s1")).state.heartbeat_count == 3


async def test_a_malformed_payload_is_counted_not_raised() -> None:
    conn = make_connector()
    await conn.export(Payload(Signal.LOGS, raw=b"\xff\xff\xff not protobuf"))
    assert ignored(conn, ev.MALFORMED_PAYLOAD) == 1


async def test_a_record_without_a_time_takes_the_observed_time_then_the_clock() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    observed = record("heartbeat", ts=0, session="a")
    observed.observed_time_unix_nano = int((T0 - 30) * 1e9)
    await conn.export(payload(observed, record("heartbeat", ts=0, session="b")))
    assert (await conn.rollup.session("a")).state.heartbeat_last_at == T0 - 30
    assert (await conn.rollup.session("b")).state.heartbeat_last_at == T0


KINDS = sorted(ev.KINDS) + ["bogus"]
STATES = list(ev.STATES) + ["zombie", None]


@st.composite
def raw_records(draw):
    kind = draw(st.sampled_from(KINDS))
    attrs = {}
    if kind == "circuit_breaker":
        attrs["wa.circuit_breaker.state"] = draw(st.sampled_from(["open", "closed", "half_open", "x"]))
    if kind == "lock":
        attrs["wa.lock.held"] = draw(st.sampled_from([True, False, "no"]))
    return record(kind, ts=T0 + draw(st.integers(0, 400)), session=draw(st.sampled_from(["a", "b", None])),
                  tenant=draw(st.sampled_from(["t1", "t2", None])), state=draw(st.sampled_from(STATES)), attrs=attrs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(raw_records(), max_size=8), max_size=6))
async def test_any_mix_of_events_never_raises_and_accounts_for_every_event(batches) -> None:
    clock = FakeClock(T0 + 500)
    conn = make_connector(clock)
    sent = 0
    for batch in batches:
        await conn.export(payload(*batch))
        sent += len(batch)
    tel = conn.settings.telemetry
    counted = tel.total("otelproc_session_health_ignored_events_total") + tel.total(
        "otelproc_session_health_applied_events_total")
    assert counted == sent
    for state in await conn.rollup.store.all():
        assert state.state in ev.STATES
        assert state.reconnect_attempts >= 0 and state.heartbeat_missed >= 0
        assert state.first_seen_at <= state.state_changed_at <= state.last_event_at
        snap = await conn.evaluate_now()
        assert snap.views[state.session_id].level in ("ok", "warning", "critical")


async def test_the_reorder_window_folds_late_arrivals_in_timestamp_order() -> None:
    conn = make_connector(FakeClock(T0 + 10), reorder_window_s=0.2)
    await conn.start()
    try:
        # Delivered in reverse, within the window: folded as if they had come in order.
        await conn.export(payload(record("heartbeat", ts=T0 + 3, state="reconnecting")))
        await conn.export(payload(record("reconnect_attempt", ts=T0 + 2, state="reconnecting")))
        await conn.export(payload(record("state_change", ts=T0 + 1, state="disconnected")))
        assert await conn.rollup.session("s1") is None  # still waiting in the window
        for _ in range(100):
            if await conn.rollup.session("s1"):
                break
            await asyncio.sleep(0.02)
        st_ = (await conn.rollup.session("s1")).state
        assert (st_.state, st_.reconnect_total, st_.heartbeat_count, st_.last_event_at) == (
            "reconnecting", 1, 1, T0 + 3)
        assert ignored(conn, ev.OUT_OF_ORDER) == 0
        # Later than the window: too late, counted and ignored.
        await conn.export(payload(record("state_change", ts=T0 + 2.5, state="connected")))
        for _ in range(100):
            if ignored(conn, ev.OUT_OF_ORDER):
                break
            await asyncio.sleep(0.02)
        assert ignored(conn, ev.OUT_OF_ORDER) == 1
        await conn.export(payload(record("heartbeat", ts=T0 + 4)))
    finally:
        await conn.shutdown()  # folds what is still waiting
    assert (await conn.rollup.session("s1")).state.heartbeat_count == 2
