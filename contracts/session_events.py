"""The ``wa.session.*`` event contract: what the session service emits and the session-health connector reads.

Each event is an OTLP log record whose ``event_name`` (or, from older SDKs, its ``event.name`` attribute) is
one of the full names below, ``wa.session.<kind>``. Its attributes always include ``wa.session.id``,
``tenant.id`` and ``wa.session.state`` (one of ``STATES``), plus the event's own attributes. No phone number,
JID, credential or message content is ever an attribute.

The emitter speaks in full event names; the connector strips ``EVENT_PREFIX`` and folds by kind, so the short
kinds have names of their own (``KIND_*``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EVENT_PREFIX = "wa.session."

# Kinds: the event names without the prefix.
KIND_STATE_CHANGE = "state_change"
KIND_HEARTBEAT = "heartbeat"
KIND_HEARTBEAT_MISSED = "heartbeat_missed"
KIND_RECONNECT_ATTEMPT = "reconnect_attempt"
KIND_RECONNECT_SUCCESS = "reconnect_success"
KIND_AUTH = "auth"
KIND_CREDENTIALS_WRITTEN = "credentials_written"
KIND_VALIDATION_FAILURE = "validation_failure"
KIND_CORRUPTION_DETECTED = "corruption_detected"
KIND_CIRCUIT_BREAKER = "circuit_breaker"
KIND_LOCK = "lock"
KINDS = frozenset({
    KIND_STATE_CHANGE, KIND_HEARTBEAT, KIND_HEARTBEAT_MISSED, KIND_RECONNECT_ATTEMPT, KIND_RECONNECT_SUCCESS,
    KIND_AUTH, KIND_CREDENTIALS_WRITTEN, KIND_VALIDATION_FAILURE, KIND_CORRUPTION_DETECTED, KIND_CIRCUIT_BREAKER,
    KIND_LOCK,
})

# Full event names, as on the wire.
STATE_CHANGE = EVENT_PREFIX + KIND_STATE_CHANGE
HEARTBEAT = EVENT_PREFIX + KIND_HEARTBEAT
HEARTBEAT_MISSED = EVENT_PREFIX + KIND_HEARTBEAT_MISSED
RECONNECT_ATTEMPT = EVENT_PREFIX + KIND_RECONNECT_ATTEMPT
RECONNECT_SUCCESS = EVENT_PREFIX + KIND_RECONNECT_SUCCESS
AUTH = EVENT_PREFIX + KIND_AUTH
CREDENTIALS_WRITTEN = EVENT_PREFIX + KIND_CREDENTIALS_WRITTEN
VALIDATION_FAILURE = EVENT_PREFIX + KIND_VALIDATION_FAILURE
CORRUPTION_DETECTED = EVENT_PREFIX + KIND_CORRUPTION_DETECTED
CIRCUIT_BREAKER = EVENT_PREFIX + KIND_CIRCUIT_BREAKER
LOCK = EVENT_PREFIX + KIND_LOCK
ALL_EVENTS = (
    STATE_CHANGE, HEARTBEAT, HEARTBEAT_MISSED, RECONNECT_ATTEMPT, RECONNECT_SUCCESS, AUTH,
    CREDENTIALS_WRITTEN, VALIDATION_FAILURE, CORRUPTION_DETECTED, CIRCUIT_BREAKER, LOCK,
)

# Attributes.
ATTR_EVENT_NAME = "event.name"  # older SDKs carry the name as an attribute, not the record field
ATTR_SESSION_ID = "wa.session.id"
ATTR_TENANT_ID = "tenant.id"
ATTR_STATE = "wa.session.state"
ATTR_PREVIOUS_STATE = "wa.session.previous_state"
ATTR_REASON = "wa.session.reason"
ATTR_HEARTBEAT_MISSED_COUNT = "wa.heartbeat.missed"
ATTR_HEARTBEAT_RTT_MS = "wa.heartbeat.rtt_ms"
ATTR_RECONNECT_ATTEMPT_NO = "wa.reconnect.attempt"
ATTR_RECONNECT_MAX_ATTEMPTS = "wa.reconnect.max_attempts"
ATTR_RECONNECT_LATENCY_MS = "wa.reconnect.latency_ms"
ATTR_AUTH_METHOD = "wa.auth.method"
ATTR_AUTH_SUCCESS = "wa.auth.success"
ATTR_CREDENTIALS_VERSION = "wa.credentials.version"
ATTR_VALIDATION_REASON = "wa.validation.reason"
ATTR_BREAKER_STATE = "wa.circuit_breaker.state"
ATTR_BREAKER_FAILURES = "wa.circuit_breaker.consecutive_failures"
ATTR_BREAKER_THRESHOLD = "wa.circuit_breaker.threshold"
ATTR_LOCK_HELD = "wa.lock.held"
ATTR_LOCK_HOLDER = "wa.lock.holder"
ATTR_LOCK_OPERATION = "wa.lock.operation"
ATTR_LOCK_ACQUIRED = "wa.lock.acquired"

# The session state machine: the values of wa.session.state.
CONNECTED = "connected"
STATES = (
    "initializing", "qr_required", "authenticating", CONNECTED, "disconnected", "reconnecting", "failed",
    "logged_out",
)
BREAKER_STATES = frozenset({"open", "closed", "half_open"})


def valid_attributes(kind: str, attrs: Mapping[str, Any]) -> bool:
    """Whether the kind's own attributes have the types the contract gives them (absent optional ones pass)."""
    if kind == KIND_RECONNECT_SUCCESS:
        latency = attrs.get(ATTR_RECONNECT_LATENCY_MS)
        return latency is None or (is_number(latency) and latency >= 0)
    if kind == KIND_CIRCUIT_BREAKER:
        failures = attrs.get(ATTR_BREAKER_FAILURES)
        return attrs.get(ATTR_BREAKER_STATE) in BREAKER_STATES and (failures is None or is_number(failures))
    if kind == KIND_LOCK:
        return isinstance(attrs.get(ATTR_LOCK_HELD), bool)
    return True


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
