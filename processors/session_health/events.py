"""``wa.session.*`` OTLP log records (the contract in ``contracts.session_events``),
turned into ``SessionEvent``s or counted rejections.

Records whose event name is not under ``wa.session.`` are ordinary logs and
are skipped without a count; the connector sees every log of its pipeline.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts.anyvalue import scalar
from contracts.session_events import (
    ATTR_EVENT_NAME,
    ATTR_SESSION_ID,
    ATTR_STATE,
    ATTR_TENANT_ID,
    EVENT_PREFIX,
    KINDS,
    STATES,
    valid_attributes,
)

_STATE_SET = frozenset(STATES)

# Reasons an event is ignored (the `reason` label of the ignored-events counter).
MISSING_SESSION_ID = "missing_session_id"
MISSING_TENANT_ID = "missing_tenant_id"
MISSING_STATE = "missing_state"
UNKNOWN_STATE = "unknown_state"
UNKNOWN_EVENT = "unknown_event"
INVALID_ATTRIBUTE = "invalid_attribute"
OUT_OF_ORDER = "out_of_order"
MALFORMED_PAYLOAD = "malformed_payload"
STORE_UNAVAILABLE = "store_unavailable"
STORE_CONFLICT = "store_conflict"
SESSION_ID_TOO_LONG = "session_id_too_long"
TENANT_ID_TOO_LONG = "tenant_id_too_long"
DUPLICATE = "duplicate"

# Defaults of the config keys of the same names (parse_logs is also called without a config).
MAX_SESSION_ID_BYTES = 128
MAX_TENANT_ID_BYTES = 128
MAX_SESSIONS = 10_000


@dataclass(slots=True)
class SessionEvent:
    kind: str
    session_id: str
    tenant_id: str
    state: str
    ts: float  # epoch seconds, from the record's time (or observed time)
    attrs: dict[str, Any] = field(default_factory=dict)
    record_id: str = ""  # identity of the log record, to recognise one sent again; "" is never a repeat


def record_identity(rec: Any, session_id: str, tenant_id: str) -> str:
    """A short digest of the whole record (times, trace and span ids, name, body, attributes) and the ids
    it resolved to: a Collector's retry carries the same bytes, two emits of an SDK never do."""
    h = hashlib.blake2b(rec.SerializeToString(deterministic=True), digest_size=12)
    h.update(b"\0" + session_id.encode("utf-8", "surrogatepass") + b"\0" + tenant_id.encode("utf-8", "surrogatepass"))
    return base64.b64encode(h.digest()).decode()


def _attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: scalar(kv.value) for kv in kvs}


def parse_logs(request: Any, now: float, *, max_session_id_bytes: int = MAX_SESSION_ID_BYTES,
               max_tenant_id_bytes: int = MAX_TENANT_ID_BYTES) -> tuple[list[SessionEvent], Counter[str]]:
    """Session events of an ExportLogsServiceRequest, and rejections by reason."""
    events: list[SessionEvent] = []
    rejected: Counter[str] = Counter()
    for rl in request.resource_logs:
        resource: dict[str, Any] | None = None
        for sl in rl.scope_logs:
            for rec in sl.log_records:
                name = rec.event_name
                attrs = None
                if not name:
                    attrs = _attributes(rec.attributes)
                    name = attrs.get(ATTR_EVENT_NAME)
                    if not isinstance(name, str):
                        continue
                if not name.startswith(EVENT_PREFIX):
                    continue
                if attrs is None:
                    attrs = _attributes(rec.attributes)
                if resource is None:
                    resource = _attributes(rl.resource.attributes)
                ts_ns = rec.time_unix_nano or rec.observed_time_unix_nano
                event, reason = make_event(name[len(EVENT_PREFIX):], attrs, resource, ts_ns / 1e9 if ts_ns else now,
                                           max_session_id_bytes=max_session_id_bytes,
                                           max_tenant_id_bytes=max_tenant_id_bytes)
                if event is None:
                    rejected[reason] += 1
                else:
                    event.record_id = record_identity(rec, event.session_id, event.tenant_id)
                    events.append(event)
    return events, rejected


def make_event(kind: str, attrs: dict[str, Any], resource: dict[str, Any], ts: float, *,
               max_session_id_bytes: int = MAX_SESSION_ID_BYTES,
               max_tenant_id_bytes: int = MAX_TENANT_ID_BYTES) -> tuple[SessionEvent | None, str]:
    """Validate one record's attributes; the event, or None and the reason."""
    if kind not in KINDS:
        return None, UNKNOWN_EVENT
    # The record's own attributes win; the resource is a fallback for ids set once per process.
    session_id = attrs.get(ATTR_SESSION_ID) or resource.get(ATTR_SESSION_ID)
    if not isinstance(session_id, str) or not session_id:
        return None, MISSING_SESSION_ID
    if _utf8_len(session_id) > max_session_id_bytes:
        return None, SESSION_ID_TOO_LONG
    tenant_id = attrs.get(ATTR_TENANT_ID) or resource.get(ATTR_TENANT_ID)
    if not isinstance(tenant_id, str) or not tenant_id:
        return None, MISSING_TENANT_ID
    if _utf8_len(tenant_id) > max_tenant_id_bytes:
        return None, TENANT_ID_TOO_LONG
    state = attrs.get(ATTR_STATE)
    if state is None or state == "":
        return None, MISSING_STATE
    if state not in _STATE_SET:
        return None, UNKNOWN_STATE
    if not valid_attributes(kind, attrs):
        return None, INVALID_ATTRIBUTE
    return SessionEvent(kind, session_id, tenant_id, state, ts, attrs), ""


def _utf8_len(text: str) -> int:
    # Bytes, not characters: ids are labels and JSON on the wire, and memory, in bytes.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
