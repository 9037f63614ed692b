"""The WhatsApp session state machine, over any ``Transport``.

    disconnected ─connect─► initializing ─► authenticating ─────────────► connected
                                               │ no usable credentials   ▲     │ 3 heartbeats lost
                                               └► qr_required ─► authenticating └► reconnecting
    connected ◄── reconnect_success ◄── reconnecting ◄─────────────────────────────────┘
    disconnected (breaker open) ◄── 3 consecutive failures; after the cooldown, half-open: one attempt
    failed ◄── 10 attempts without success

The states are the ones the session-health connector folds
(``processors/session_health/events.py``): an open circuit breaker is
``disconnected`` plus the breaker's own ``wa.session.circuit_breaker`` events.

Every transition and every notable step is a ``wa.session.*`` event
(``events.py``). Methods are synchronous and not thread-safe: the caller
(``SessionManager``) serialises calls per session.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from contracts import session_events as ev
from services.session.clock import Clock
from services.session.credentials import CredentialsCorrupt, CredentialsInvalid, CredentialStore
from services.session.lock import SessionLock
from services.session.transport import Transport, TransportError


class SessionState(enum.StrEnum):
    DISCONNECTED = "disconnected"
    INITIALIZING = "initializing"
    QR_REQUIRED = "qr_required"
    AUTHENTICATING = "authenticating"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    FAILED = "failed"


class InvalidTransition(Exception):
    """The operation does not apply in the session's current state."""


class SessionBusy(Exception):
    """Another replica holds the session's lock."""


@dataclass(frozen=True)
class Policy:
    """The limits: warning at 3 reconnect attempts, critical at 7, give up at 10."""

    missed_heartbeats_limit: int = 3
    max_reconnect_attempts: int = 10
    breaker_threshold: int = 3
    breaker_cooldown_s: float = 30.0


class SessionMachine:
    def __init__(self, *, events: ev.SessionEvents, transport: Transport, credentials: CredentialStore,
                 lock: SessionLock, clock: Clock, policy: Policy | None = None) -> None:
        self.events = events
        self.transport = transport
        self.credentials = credentials
        self.lock = lock
        self.clock = clock
        self.policy = policy or Policy()
        self.state = SessionState.DISCONNECTED
        self.state_since = clock.now()
        self.missed_heartbeats = 0
        self.reconnect_attempts = 0
        self.consecutive_failures = 0
        self.breaker_open = False
        self.breaker_opened_at: float | None = None
        self.outage_started_at: float | None = None
        self.last_heartbeat_at: float | None = None
        self.auth_method: str | None = None
        self.credentials_version: int | None = None

    @property
    def session_id(self) -> str:
        return self.events.session_id

    # --- operations -----------------------------------------------------------------
    def connect(self) -> SessionState:
        """Open, authenticate and reach ``connected``; back to ``disconnected`` if the link refuses."""
        self._require(SessionState.DISCONNECTED, SessionState.FAILED)
        if self.breaker_open:
            raise InvalidTransition("circuit breaker is open; the session reconnects after the cooldown")
        with self._locked("connect"):
            self._transition(SessionState.INITIALIZING, "connect")
            try:
                self.transport.open()
            except TransportError:
                self._transition(SessionState.DISCONNECTED, "connect_failed")
                return self.state
            self._transition(SessionState.AUTHENTICATING, "link_open")
            try:
                self._authenticate()
            except Exception:
                # The credential store failed (not the credentials): leave a state a later connect can start from.
                self.transport.close()
                self._transition(SessionState.DISCONNECTED, "auth_error")
                raise
            self._reset_link_counters()
            self._transition(SessionState.CONNECTED, "authenticated")
        return self.state

    def heartbeat(self) -> SessionState:
        """One heartbeat; after ``missed_heartbeats_limit`` lost in a row the session starts reconnecting."""
        self._require(SessionState.CONNECTED)
        try:
            rtt = self.transport.ping()
        except TransportError:
            self.missed_heartbeats += 1
            self._emit(ev.HEARTBEAT_MISSED, {ev.ATTR_HEARTBEAT_MISSED_COUNT: self.missed_heartbeats})
            if self.missed_heartbeats >= self.policy.missed_heartbeats_limit:
                self.transport.close()
                self.outage_started_at = self.clock.now()
                self.reconnect_attempts = 0
                self._transition(SessionState.RECONNECTING, "heartbeat_timeout")
            return self.state
        self.missed_heartbeats = 0
        self.last_heartbeat_at = self.clock.now()
        self._emit(ev.HEARTBEAT, {ev.ATTR_HEARTBEAT_RTT_MS: round(rtt * 1000, 3)})
        return self.state

    def reconnect(self) -> SessionState:
        """One reconnect attempt."""
        self._require(SessionState.RECONNECTING)
        self.reconnect_attempts += 1
        self._emit(ev.RECONNECT_ATTEMPT, {ev.ATTR_RECONNECT_ATTEMPT_NO: self.reconnect_attempts,
                                          ev.ATTR_RECONNECT_MAX_ATTEMPTS: self.policy.max_reconnect_attempts})
        try:
            self.transport.open()
        except TransportError:
            self._attempt_failed()
            return self.state
        with self._locked("reconnect"):
            self._authenticate()
            assert self.outage_started_at is not None
            latency_ms = round((self.clock.now() - self.outage_started_at) * 1000)
            self._emit(ev.RECONNECT_SUCCESS, {ev.ATTR_RECONNECT_LATENCY_MS: latency_ms,
                                              ev.ATTR_RECONNECT_ATTEMPT_NO: self.reconnect_attempts})
            if self.breaker_open:
                self.breaker_open, self.breaker_opened_at = False, None
                self._emit_breaker("closed")
            self._reset_link_counters()
            self._transition(SessionState.CONNECTED, "reconnected")
        return self.state

    def step(self) -> SessionState:
        """Whatever the current state calls for next: the live service's tick."""
        if self.state is SessionState.CONNECTED:
            return self.heartbeat()
        if self.state is SessionState.RECONNECTING:
            return self.reconnect()
        if self.state is SessionState.DISCONNECTED and self.breaker_open:
            assert self.breaker_opened_at is not None
            if self.clock.now() - self.breaker_opened_at < self.policy.breaker_cooldown_s:
                return self.state
            self._emit_breaker("half_open")
            self._transition(SessionState.RECONNECTING, "breaker_half_open")
            return self.reconnect()
        return self.state

    def disconnect(self) -> SessionState:
        if self.state is not SessionState.DISCONNECTED:
            self.transport.close()
            self._transition(SessionState.DISCONNECTED, "requested")
        return self.state

    # --- internals ------------------------------------------------------------------
    def _attempt_failed(self) -> None:
        self.consecutive_failures += 1
        if self.reconnect_attempts >= self.policy.max_reconnect_attempts:
            self._transition(SessionState.FAILED, "max_reconnect_attempts")
            return
        if self.consecutive_failures >= self.policy.breaker_threshold:
            self.breaker_open, self.breaker_opened_at = True, self.clock.now()
            self._emit_breaker("open")
            self._transition(SessionState.DISCONNECTED, "breaker_open")

    def _authenticate(self) -> None:
        missing = "no_credentials"
        try:
            stored = self.credentials.load(self.session_id)
        except CredentialsInvalid:
            self._emit(ev.VALIDATION_FAILURE, {ev.ATTR_VALIDATION_REASON: "checksum_mismatch"})
            stored, missing = None, "credentials_invalid"
        except CredentialsCorrupt:
            self._emit(ev.CORRUPTION_DETECTED, {ev.ATTR_VALIDATION_REASON: "undecodable"})
            stored, missing = None, "credentials_corrupt"
        # Restoring needs intact credentials; otherwise the (simulated) device pairs again by QR.
        if stored is None:
            self._transition(SessionState.QR_REQUIRED, missing)
            self._transition(SessionState.AUTHENTICATING, "qr_scanned")
        self.auth_method = "session_restore" if stored is not None else "qr_pairing"
        self._emit(ev.AUTH, {ev.ATTR_AUTH_METHOD: self.auth_method, ev.ATTR_AUTH_SUCCESS: True})
        written = self.credentials.write(self.session_id, self.events.tenant_id)
        self.credentials_version = written.version
        self._emit(ev.CREDENTIALS_WRITTEN, {ev.ATTR_CREDENTIALS_VERSION: written.version})

    def _reset_link_counters(self) -> None:
        self.missed_heartbeats = 0
        self.reconnect_attempts = 0
        self.consecutive_failures = 0
        self.outage_started_at = None
        self.last_heartbeat_at = self.clock.now()

    @contextmanager
    def _locked(self, operation: str) -> Iterator[None]:
        if not self.lock.acquire(self.session_id):
            self._emit(ev.LOCK, {ev.ATTR_LOCK_HELD: True, ev.ATTR_LOCK_ACQUIRED: False,
                                 ev.ATTR_LOCK_OPERATION: operation,
                                 ev.ATTR_LOCK_HOLDER: self.lock.holder_of(self.session_id)})
            raise SessionBusy(self.session_id)
        self._emit(ev.LOCK, {ev.ATTR_LOCK_HELD: True, ev.ATTR_LOCK_ACQUIRED: True, ev.ATTR_LOCK_OPERATION: operation,
                             ev.ATTR_LOCK_HOLDER: self.lock.holder})
        try:
            yield
        finally:
            self.lock.release(self.session_id)
            self._emit(ev.LOCK, {ev.ATTR_LOCK_HELD: False, ev.ATTR_LOCK_OPERATION: operation,
                                 ev.ATTR_LOCK_HOLDER: self.lock.holder})

    def _require(self, *states: SessionState) -> None:
        if self.state not in states:
            wanted = " or ".join(s.value for s in states)
            raise InvalidTransition(f"session is {self.state.value}, expected {wanted}")

    def _transition(self, new: SessionState, reason: str) -> None:
        previous, self.state, self.state_since = self.state, new, self.clock.now()
        self._emit(ev.STATE_CHANGE, {ev.ATTR_PREVIOUS_STATE: previous.value, ev.ATTR_REASON: reason})

    def _emit_breaker(self, state: str) -> None:
        self._emit(ev.CIRCUIT_BREAKER, {ev.ATTR_BREAKER_STATE: state,
                                        ev.ATTR_BREAKER_FAILURES: self.consecutive_failures,
                                        ev.ATTR_BREAKER_THRESHOLD: self.policy.breaker_threshold})

    def _emit(self, event: str, attributes: dict[str, object]) -> None:
        self.events.emit(event, self.state.value, attributes)
