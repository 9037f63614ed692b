"""The session state machine emits the wa.session.* events (contracts/session_events.py), in
order, through the OTel logs bridge (captured by the SDK's in-memory exporter).
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

from processors.session_health import events as contract
from services.session.events import SessionEvents
from services.session.machine import InvalidTransition, Policy, SessionBusy, SessionState
from services.session.simulator import SCENARIOS
from tests.services.session.conftest import TENANT, Captured, MakeRig

FIRST_CONNECT = [
    ("wa.session.lock", "disconnected"),
    ("wa.session.state_change", "initializing"),
    ("wa.session.state_change", "authenticating"),
    ("wa.session.state_change", "qr_required"),  # no stored credentials: pair by QR
    ("wa.session.state_change", "authenticating"),
    ("wa.session.auth", "authenticating"),
    ("wa.session.credentials_written", "authenticating"),
    ("wa.session.state_change", "connected"),
    ("wa.session.lock", "connected"),
]


def test_a_first_connect_pairs_by_qr_and_writes_credentials(make_rig: MakeRig, captured: Captured) -> None:
    rig = make_rig()

    assert rig.machine.connect() is SessionState.CONNECTED

    assert captured.trail() == FIRST_CONNECT
    assert captured.of("wa.session.auth")[0].attributes["wa.auth.method"] == "qr_pairing"
    assert captured.of("wa.session.credentials_written")[0].attributes["wa.credentials.version"] == 1
    locks = [(r.attributes["wa.lock.held"], r.attributes["wa.lock.operation"]) for r in captured.of("wa.session.lock")]
    assert locks == [(True, "connect"), (False, "connect")]


def test_a_later_connect_restores_the_session(make_rig: MakeRig, captured: Captured) -> None:
    rig = make_rig()
    rig.machine.connect()
    rig.machine.disconnect()
    captured.clear()

    rig.machine.connect()

    assert "qr_required" not in [state for _, state in captured.trail()]
    assert captured.of("wa.session.auth")[0].attributes["wa.auth.method"] == "session_restore"
    assert captured.of("wa.session.credentials_written")[0].attributes["wa.credentials.version"] == 2


def test_every_record_meets_the_connector_contract(make_rig: MakeRig, captured: Captured) -> None:
    rig = make_rig()
    SCENARIOS["connect"](rig.sim)
    rig.machine.disconnect()
    SCENARIOS["heartbeat_loss"](rig.sim)
    rig.sim.trip_breaker()
    rig.sim.recover()
    rig.sim.damage_credentials(corrupt=True)
    rig.sim.lose_heartbeats()
    rig.sim.run_until_state(SessionState.CONNECTED)

    for record in captured.records():
        assert record.attributes["wa.session.id"] == "sess-1"
        assert record.attributes["tenant.id"] == TENANT
        assert record.attributes["wa.session.state"] in contract.STATES
    # The connector's own parser takes every one of them, exactly as an OTLP exporter would send them.
    events, rejected = contract.parse_logs(captured.otlp_request(), now=0.0)
    assert not rejected
    assert len(events) == len(captured.records())
    kinds = {e.kind for e in events}
    assert kinds == contract.KINDS - {"validation_failure"}


def test_lost_heartbeats_lead_to_a_reconnect_with_its_latency(make_rig: MakeRig, captured: Captured) -> None:
    rig = make_rig()
    rig.machine.connect()
    rig.sim.heartbeats(2)
    captured.clear()

    rig.sim.lose_heartbeats(3)
    assert rig.machine.state is SessionState.RECONNECTING
    rig.sim.tick()

    assert captured.names() == [
        "wa.session.heartbeat_missed", "wa.session.heartbeat_missed", "wa.session.heartbeat_missed",
        "wa.session.state_change",
        "wa.session.reconnect_attempt", "wa.session.lock", "wa.session.auth", "wa.session.credentials_written",
        "wa.session.reconnect_success", "wa.session.state_change", "wa.session.lock",
    ]
    missed = captured.of("wa.session.heartbeat_missed")
    assert [r.attributes["wa.heartbeat.missed"] for r in missed] == [1, 2, 3]
    assert {r.severity_text for r in missed} == {"WARN"}
    assert captured.of("wa.session.state_change")[0].attributes["wa.session.reason"] == "heartbeat_timeout"
    # The outage began at the third lost heartbeat; one tick later the link opened on the first attempt.
    expected_ms = round((rig.sim.heartbeat_interval_s + rig.transport.timing.open_s) * 1000)
    success = captured.of("wa.session.reconnect_success")[0]
    assert success.attributes["wa.reconnect.latency_ms"] == expected_ms
    assert success.attributes["wa.reconnect.attempt"] == 1
    assert rig.machine.state is SessionState.CONNECTED


def test_the_breaker_trips_after_three_failures_and_recovers_after_its_cooldown(
        make_rig: MakeRig, captured: Captured) -> None:
    rig = make_rig(policy=Policy(breaker_cooldown_s=60))
    rig.machine.connect()
    rig.sim.lose_heartbeats()
    captured.clear()

    rig.sim.trip_breaker()

    assert rig.machine.breaker_open and rig.machine.state is SessionState.DISCONNECTED
    assert [r.attributes["wa.reconnect.attempt"] for r in captured.of("wa.session.reconnect_attempt")] == [1, 2, 3]
    (opened,) = captured.of("wa.session.circuit_breaker")
    assert (opened.attributes["wa.circuit_breaker.state"], opened.severity_text) == ("open", "ERROR")
    assert opened.attributes["wa.circuit_breaker.consecutive_failures"] == 3
    assert opened.attributes["wa.circuit_breaker.threshold"] == 3
    with pytest.raises(InvalidTransition, match="circuit breaker is open"):
        rig.machine.connect()

    captured.clear()
    rig.sim.tick()  # 20 s into a 60 s cooldown: nothing happens
    assert captured.names() == []
    rig.sim.recover()

    breaker = [r.attributes["wa.circuit_breaker.state"] for r in captured.of("wa.session.circuit_breaker")]
    assert breaker == ["half_open", "closed"]
    assert captured.of("wa.session.reconnect_attempt")[0].attributes["wa.reconnect.attempt"] == 4
    assert rig.machine.state is SessionState.CONNECTED and not rig.machine.breaker_open


def test_a_session_that_never_reconnects_fails_after_max_attempts(make_rig: MakeRig, captured: Captured) -> None:
    rig = make_rig()

    SCENARIOS["exhaustion"](rig.sim)

    attempts = [r.attributes["wa.reconnect.attempt"] for r in captured.of("wa.session.reconnect_attempt")]
    assert attempts == list(range(1, 11))
    assert captured.trail()[-1] == ("wa.session.state_change", "failed")
    captured.clear()
    rig.sim.tick()
    assert captured.names() == []


@pytest.mark.parametrize(("corrupt", "event", "reason"), [
    (False, "wa.session.validation_failure", "credentials_invalid"),
    (True, "wa.session.corruption_detected", "credentials_corrupt"),
])
def test_damaged_credentials_are_reported_and_the_session_pairs_again(
        make_rig: MakeRig, captured: Captured, corrupt: bool, event: str, reason: str) -> None:
    rig = make_rig()
    rig.machine.connect()
    rig.sim.damage_credentials(corrupt=corrupt)
    rig.sim.lose_heartbeats()
    captured.clear()

    rig.sim.run_until_state(SessionState.CONNECTED)

    assert len(captured.of(event)) == 1
    qr = [r for r in captured.of("wa.session.state_change") if r.attributes["wa.session.state"] == "qr_required"]
    assert [r.attributes["wa.session.reason"] for r in qr] == [reason]
    assert captured.of("wa.session.auth")[0].attributes["wa.auth.method"] == "qr_pairing"
    assert rig.credentials.load("sess-1") is not None  # fresh, intact credentials were written


def test_a_session_locked_by_another_replica_is_not_driven(make_rig: MakeRig, captured: Captured) -> None:
    other = make_rig(holder="replica-b")
    assert other.lock.acquire("sess-1")
    rig = make_rig(holder="replica-a")

    with pytest.raises(SessionBusy):
        rig.machine.connect()

    assert rig.machine.state is SessionState.DISCONNECTED
    (lock,) = captured.records()
    assert lock.event_name == "wa.session.lock"
    assert (lock.attributes["wa.lock.acquired"], lock.attributes["wa.lock.holder"]) == (False, "replica-b")


def test_operations_outside_their_states_are_refused(make_rig: MakeRig, captured: Captured) -> None:
    rig = make_rig()
    with pytest.raises(InvalidTransition, match="session is disconnected, expected connected"):
        rig.machine.heartbeat()
    with pytest.raises(InvalidTransition, match="expected reconnecting"):
        rig.machine.reconnect()
    assert captured.records() == []


def test_events_carry_the_current_trace(make_rig: MakeRig, captured: Captured) -> None:
    tracer = TracerProvider().get_tracer("test")
    rig = make_rig()

    with tracer.start_as_current_span("request") as span:
        rig.machine.connect()

    trace_id = span.get_span_context().trace_id
    assert {r.trace_id for r in captured.records()} == {trace_id}


def test_unknown_events_are_refused_before_they_are_logged(captured: Captured) -> None:
    with pytest.raises(ValueError, match="unknown session event 'wa.session.teleport'"):
        SessionEvents(captured.logger, session_id="s", tenant_id="t").emit("wa.session.teleport", "connected")
    assert captured.records() == []
