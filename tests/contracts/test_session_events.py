"""The session service and the session-health connector read the ``wa.session.*`` contract from one module."""

from __future__ import annotations

from contracts import session_events as contract
from processors.session_health import events as connector_events
from processors.session_health import state as connector_state
from services.session import events as service_events
from services.session import machine, telemetry


def test_both_sides_hold_the_contracts_own_objects() -> None:
    assert service_events.ALL_EVENTS is contract.ALL_EVENTS
    assert telemetry.ALL_EVENTS is contract.ALL_EVENTS
    assert connector_events.KINDS is contract.KINDS
    assert connector_events.STATES is contract.STATES
    assert connector_events.valid_attributes is contract.valid_attributes
    for name in ("ATTR_EVENT_NAME", "ATTR_SESSION_ID", "ATTR_TENANT_ID", "ATTR_STATE"):
        assert getattr(service_events, name) is getattr(connector_events, name) is getattr(contract, name)
    assert machine.ev is contract and connector_state.contract is contract


def test_every_event_the_service_emits_is_a_kind_the_connector_folds() -> None:
    assert all(name.startswith(connector_events.EVENT_PREFIX) for name in service_events.ALL_EVENTS)
    kinds = {name.removeprefix(contract.EVENT_PREFIX) for name in service_events.ALL_EVENTS}
    assert kinds == connector_events.KINDS
    assert len(service_events.ALL_EVENTS) == len(kinds)
    # A full name and its kind are distinct constants: the full one is what goes on the wire.
    assert contract.STATE_CHANGE == "wa.session.state_change" and contract.KIND_STATE_CHANGE == "state_change"


def test_every_state_of_the_service_machine_is_one_the_connector_accepts() -> None:
    assert {s.value for s in machine.SessionState} <= set(contract.STATES)
