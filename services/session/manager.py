"""The sessions this replica drives, each a machine over a simulated link.

Calls into one session are serialised by its own mutex: HTTP requests (in
worker threads) and the live tick may reach the same session at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.session.clock import SimClock
from services.session.credentials import CredentialStore
from services.session.events import SessionEvents
from services.session.lock import SessionLock
from services.session.machine import Policy, SessionMachine
from services.session.simulator import Simulator
from services.session.transport import SimulatedTransport

T = TypeVar("T")


@dataclass
class ManagedSession:
    machine: SessionMachine
    simulator: Simulator
    mutex: threading.Lock = field(default_factory=threading.Lock)

    def view(self) -> dict[str, Any]:
        m = self.machine
        now = m.clock.now()
        return {
            "sessionId": m.session_id,
            "tenantId": m.events.tenant_id,
            "state": m.state.value,
            "stateAgeMs": round((now - m.state_since) * 1000),
            "authMethod": m.auth_method,
            "credentialsVersion": m.credentials_version,
            "missedHeartbeats": m.missed_heartbeats,
            "reconnectAttempts": m.reconnect_attempts,
            "circuitBreaker": {"open": m.breaker_open, "consecutiveFailures": m.consecutive_failures,
                               "threshold": m.policy.breaker_threshold},
        }


class SessionManager:
    def __init__(self, *, credentials: CredentialStore, lock: SessionLock, events_logger: logging.Logger,
                 policy: Policy, heartbeat_interval_s: float, log: logging.Logger) -> None:
        self._credentials = credentials
        self._lock = lock
        self._events_logger = events_logger
        self._policy = policy
        self._heartbeat_interval_s = heartbeat_interval_s
        self._log = log
        self._sessions: dict[str, ManagedSession] = {}
        self._guard = threading.Lock()

    def get(self, session_id: str) -> ManagedSession | None:
        with self._guard:
            return self._sessions.get(session_id)

    def ensure(self, session_id: str, tenant_id: str) -> ManagedSession:
        with self._guard:
            found = self._sessions.get(session_id)
            if found is None:
                clock = SimClock()
                transport = SimulatedTransport(clock)
                machine = SessionMachine(
                    events=SessionEvents(self._events_logger, session_id=session_id, tenant_id=tenant_id),
                    transport=transport, credentials=self._credentials, lock=self._lock, clock=clock,
                    policy=self._policy,
                )
                simulator = Simulator(machine, transport, clock, credentials=self._credentials,
                                      heartbeat_interval_s=self._heartbeat_interval_s)
                found = self._sessions[session_id] = ManagedSession(machine, simulator)
            return found

    def all(self) -> list[ManagedSession]:
        with self._guard:
            return list(self._sessions.values())

    @staticmethod
    def run(session: ManagedSession, action: Callable[[ManagedSession], T]) -> T:
        with session.mutex:
            return action(session)

    def tick(self) -> None:
        """One live step of every session; a failing session does not stop the others."""
        for session in self.all():
            try:
                self.run(session, lambda s: s.machine.step())
            except Exception:  # noqa: BLE001 - logged; one session's failure must not stop the others' step
                self._log.exception("session step failed", extra={"wa.session.id": session.machine.session_id})
