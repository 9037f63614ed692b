"""The ``wa.session.*`` events (the contract in ``contracts.session_events``), emitted as OTLP log records.

Each event is one stdlib log record on the emitter's logger; the OTel logs
bridge (``LoggingHandler``) turns it into an OTLP log record whose
``event_name`` is the event (the bridge promotes the ``event.name`` extra to
that field) and whose attributes always include ``wa.session.id``,
``tenant.id`` and ``wa.session.state``, plus the event's own attributes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from contracts.session_events import (
    ALL_EVENTS,
    ATTR_BREAKER_STATE,
    ATTR_EVENT_NAME,
    ATTR_SESSION_ID,
    ATTR_STATE,
    ATTR_TENANT_ID,
    CIRCUIT_BREAKER,
    CORRUPTION_DETECTED,
    HEARTBEAT_MISSED,
    RECONNECT_ATTEMPT,
    VALIDATION_FAILURE,
)

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
        extra = {ATTR_EVENT_NAME: event, ATTR_SESSION_ID: self.session_id, ATTR_TENANT_ID: self.tenant_id,
                 ATTR_STATE: state}
        extra.update({k: v for k, v in attributes.items() if v is not None})
        if level is None:
            level = _LEVELS.get(event, logging.INFO)
        if event == CIRCUIT_BREAKER and attributes.get(ATTR_BREAKER_STATE) == "open":
            level = logging.ERROR
        self._logger.log(level, event, extra=extra)
