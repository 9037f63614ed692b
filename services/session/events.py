"""The ``wa.session.*`` event contract (DESIGN §6), emitted as OTLP log records.

Each event is one stdlib log record on the emitter's logger; the OTel logs
bridge (``LoggingHandler``) turns it into an OTLP log record whose
``event_name`` is the event (the bridge promotes the ``event.name`` extra to
that field) and whose attributes always include ``wa.session.id``,
``tenant.id`` and ``wa.session.state``, plus the event's own attributes below.
No phone number, JID, credential or message content is ever an attribute.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

STATE_CHANGE = "wa.session.state_change"
HEARTBEAT = "wa.session.heartbeat"
HEARTBEAT_MISSED = "wa.session.heartbeat_missed"
RECONNECT_ATTEMPT = "wa.session.reconnect_attempt"
RECONNECT_SUCCESS = "wa.session.reconnect_success"
AUTH = "wa.session.auth"
CREDENTIALS_WRITTEN = "wa.session.credentials_written"
VALIDATION_FAILURE = "wa.session.validation_failure"
CORRUPTION_DETECTED = "wa.session.corruption_detected"
CIRCUIT_BREAKER = "wa.session.circuit_breaker"
LOCK = "wa.session.lock"

ALL_EVENTS = (
    STATE_CHANGE, HEARTBEAT, HEARTBEAT_MISSED, RECONNECT_ATTEMPT, RECONNECT_SUCCESS, AUTH,
    CREDENTIALS_WRITTEN, VALIDATION_FAILURE, CORRUPTION_DETECTED, CIRCUIT_BREAKER, LOCK,
)

# --- attributes -------------------------------------------------------------------
EVENT_NAME = "event.name"
SESSION_ID = "wa.session.id"
TENANT_ID = "tenant.id"
STATE = "wa.session.state"
PREVIOUS_STATE = "wa.session.previous_state"
REASON = "wa.session.reason"
HEARTBEAT_MISSED_COUNT = "wa.heartbeat.missed"
HEARTBEAT_RTT_MS = "wa.heartbeat.rtt_ms"
RECONNECT_ATTEMPT_NO = "wa.reconnect.attempt"
RECONNECT_MAX_ATTEMPTS = "wa.reconnect.max_attempts"
RECONNECT_LATENCY_MS = "wa.reconnect.latency_ms"
AUTH_METHOD = "wa.auth.method"
AUTH_SUCCESS = "wa.auth.success"
CREDENTIALS_VERSION = "wa.credentials.version"
VALIDATION_REASON = "wa.validation.reason"
BREAKER_STATE = "wa.circuit_breaker.state"
BREAKER_FAILURES = "wa.circuit_breaker.consecutive_failures"
BREAKER_THRESHOLD = "wa.circuit_breaker.threshold"
LOCK_HELD = "wa.lock.held"
LOCK_HOLDER = "wa.lock.holder"
LOCK_OPERATION = "wa.lock.operation"
LOCK_ACQUIRED = "wa.lock.acquired"

# Events that mean something is wrong are WARN or ERROR, so that no sampler drops them.
_LEVELS: Mapping[str, int] = {
    HEARTBEAT_MISSED: logging.WARNING,
    RECONNECT_ATTEMPT: logging.WARNING,
    VALIDATION_FAILURE: logging.WARNING,
    CORRUPTION_DETECTED: logging.ERROR,
}


class SessionEvents:
    """Emits the events of one session through ``logger``."""

    def __init__(self, logger: logging.Logger, *, session_id: str, tenant_id: str) -> None:
        self._logger = logger
        self.session_id = session_id
        self.tenant_id = tenant_id

    def emit(self, event: str, state: str, attributes: Mapping[str, Any] | None = None, *,
             level: int | None = None) -> None:
        if event not in ALL_EVENTS:
            raise ValueError(f"unknown session event {event!r}")
        attributes = attributes or {}
        extra = {EVENT_NAME: event, SESSION_ID: self.session_id, TENANT_ID: self.tenant_id, STATE: state}
        extra.update({k: v for k, v in attributes.items() if v is not None})
        if level is None:
            level = _LEVELS.get(event, logging.INFO)
        if event == CIRCUIT_BREAKER and attributes.get(BREAKER_STATE) == "open":
            level = logging.ERROR
        self._logger.log(level, event, extra=extra)
