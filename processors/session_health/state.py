"""Per-session state, folded from session events in timestamp order.

``apply`` is the only writer. It returns a reason instead of changing
anything when an event is older than the last one applied, so a late or
replayed record can never move a session backwards, and when the record is
one of the session's last ``RECENT_RECORDS`` folded, so a record sent again
(a Collector retrying after its next hop failed) is never counted twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from contracts import session_events as contract
from processors.session_health import events as ev

LATENCY_SAMPLES = 64  # recent reconnect latencies kept for the percentiles
# Identities of the last records folded. A repeat of an older record is older than the session's newest
# event, so out_of_order already keeps it out; these cover the newest ones, which that check lets through.
RECENT_RECORDS = 16
MAX_TEXT_CHARS = 256  # auth method, lock holder and operation are kept (and served) cut to this
DEFAULT_BREAKER_THRESHOLD = 3  # breaker threshold when the event carries no wa.circuit_breaker.threshold


@dataclass(slots=True)
class SessionState:
    session_id: str
    tenant_id: str
    state: str
    first_seen_at: float
    state_changed_at: float
    last_event_at: float
    connected_since: float | None = None
    # Since the session last left `connected` (or was first seen, if never connected).
    disconnected_since: float | None = None
    init_successful: bool = False

    reconnect_attempts: int = 0  # in the current reconnect
    reconnect_total: int = 0  # over the session's life
    reconnect_started_at: float | None = None
    reconnect_latencies_ms: list[float] = field(default_factory=list)

    heartbeat_last_at: float | None = None
    heartbeat_count: int = 0
    heartbeat_missed: int = 0  # consecutive, reset by a heartbeat

    auth_last_at: float | None = None
    auth_method: str | None = None
    credentials_written_at: float | None = None

    lock_held: bool = False
    lock_holder: str | None = None
    lock_operation: str | None = None

    validation_failures: int = 0  # since the last credentials write or auth
    corrupted: bool = False

    breaker_open: bool = False
    breaker_failures: int = 0
    breaker_threshold: int = DEFAULT_BREAKER_THRESHOLD

    recent_records: list[str] = field(default_factory=list)  # oldest first, at most RECENT_RECORDS

    @classmethod
    def new(cls, event: ev.SessionEvent) -> SessionState:
        connected = event.state == contract.CONNECTED
        return cls(
            session_id=event.session_id, tenant_id=event.tenant_id, state=event.state,
            first_seen_at=event.ts, state_changed_at=event.ts, last_event_at=event.ts,
            connected_since=event.ts if connected else None,
            disconnected_since=None if connected else event.ts,
            init_successful=connected,
        )

    @property
    def connected(self) -> bool:
        return self.state == contract.CONNECTED

    @property
    def reconnect_in_progress(self) -> bool:
        return self.reconnect_started_at is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def apply(state: SessionState | None, event: ev.SessionEvent) -> tuple[SessionState, str | None]:
    """Fold one event. Returns the (possibly new) state, and a reason when it was ignored."""
    if state is None:
        state = SessionState.new(event)
    elif event.record_id and event.record_id in state.recent_records:
        return state, ev.DUPLICATE
    elif event.ts < state.last_event_at:
        return state, ev.OUT_OF_ORDER
    if event.record_id:
        state.recent_records.append(event.record_id)
        del state.recent_records[:-RECENT_RECORDS]
    state.last_event_at = event.ts
    state.tenant_id = event.tenant_id
    _apply_kind(state, event)
    _enter(state, event.state, event.ts)
    return state, None


def _enter(st: SessionState, new: str, ts: float) -> None:
    if new == st.state:
        return
    was_connected = st.connected
    st.state = new
    st.state_changed_at = ts
    if new == contract.CONNECTED:
        st.connected_since = ts
        st.disconnected_since = None
        st.init_successful = True
        _end_reconnect(st)
    elif was_connected:
        st.connected_since = None
        st.disconnected_since = ts


def _end_reconnect(st: SessionState) -> None:
    st.reconnect_attempts = 0
    st.reconnect_started_at = None


def _reset_integrity(st: SessionState) -> None:
    # Fresh session data (a re-auth or a good write) replaces whatever failed validation.
    st.validation_failures = 0
    st.corrupted = False


def _apply_kind(st: SessionState, event: ev.SessionEvent) -> None:
    kind, attrs, ts = event.kind, event.attrs, event.ts
    if kind == contract.KIND_HEARTBEAT:
        st.heartbeat_last_at = ts
        st.heartbeat_count += 1
        st.heartbeat_missed = 0
    elif kind == contract.KIND_HEARTBEAT_MISSED:
        st.heartbeat_missed += 1
    elif kind == contract.KIND_RECONNECT_ATTEMPT:
        st.reconnect_attempts += 1
        st.reconnect_total += 1
        if st.reconnect_started_at is None:
            st.reconnect_started_at = ts
    elif kind == contract.KIND_RECONNECT_SUCCESS:
        latency = attrs.get(contract.ATTR_RECONNECT_LATENCY_MS)
        if latency is None and st.reconnect_started_at is not None:
            latency = (ts - st.reconnect_started_at) * 1000
        if latency is not None:
            st.reconnect_latencies_ms.append(float(latency))
            del st.reconnect_latencies_ms[:-LATENCY_SAMPLES]
        _end_reconnect(st)
    elif kind == contract.KIND_AUTH:
        st.auth_last_at = ts
        method = attrs.get(contract.ATTR_AUTH_METHOD)
        if isinstance(method, str):
            st.auth_method = method[:MAX_TEXT_CHARS]
        _reset_integrity(st)
    elif kind == contract.KIND_CREDENTIALS_WRITTEN:
        st.credentials_written_at = ts
        _reset_integrity(st)
    elif kind == contract.KIND_VALIDATION_FAILURE:
        st.validation_failures += 1
    elif kind == contract.KIND_CORRUPTION_DETECTED:
        st.corrupted = True
    elif kind == contract.KIND_CIRCUIT_BREAKER:
        st.breaker_open = attrs[contract.ATTR_BREAKER_STATE] == "open"
        failures = attrs.get(contract.ATTR_BREAKER_FAILURES)
        if failures is not None:
            st.breaker_failures = int(failures)
        elif attrs[contract.ATTR_BREAKER_STATE] == "closed":
            st.breaker_failures = 0
        threshold = attrs.get(contract.ATTR_BREAKER_THRESHOLD)
        if isinstance(threshold, int) and not isinstance(threshold, bool) and threshold > 0:
            st.breaker_threshold = threshold
    elif kind == contract.KIND_LOCK:
        st.lock_held = attrs[contract.ATTR_LOCK_HELD]
        holder, operation = attrs.get(contract.ATTR_LOCK_HOLDER), attrs.get(contract.ATTR_LOCK_OPERATION)
        st.lock_holder = str(holder)[:MAX_TEXT_CHARS] if st.lock_held and holder is not None else None
        st.lock_operation = str(operation)[:MAX_TEXT_CHARS] if st.lock_held and operation is not None else None
