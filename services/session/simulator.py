"""A driver that scripts a simulated session: connect, heartbeat loss,
reconnects, a breaker trip and recovery.

Each step fills the transport's script and then steps the machine the way the
live tick would, advancing the clock by the heartbeat interval, so that the
events and their latencies are those of a real outage of that shape.
``SCENARIOS`` names the stories the service and the traffic driver run.
"""

from __future__ import annotations

from collections.abc import Callable

from services.session.clock import Clock
from services.session.credentials import CredentialStore
from services.session.machine import SessionMachine, SessionState
from services.session.transport import SimulatedTransport

Condition = Callable[[SessionMachine], bool]

_MAX_STEPS = 100


class ScenarioError(RuntimeError):
    """The machine did not reach the state a step expected."""


class Simulator:
    def __init__(self, machine: SessionMachine, transport: SimulatedTransport, clock: Clock, *,
                 credentials: CredentialStore, heartbeat_interval_s: float = 20.0) -> None:
        self.machine = machine
        self.transport = transport
        self.clock = clock
        self.credentials = credentials
        self.heartbeat_interval_s = heartbeat_interval_s

    def tick(self) -> SessionState:
        self.clock.sleep(self.heartbeat_interval_s)
        return self.machine.step()

    def run_until(self, done: Condition, what: str, max_steps: int = _MAX_STEPS) -> SessionState:
        for _ in range(max_steps):
            if done(self.machine):
                return self.machine.state
            self.tick()
        if done(self.machine):
            return self.machine.state
        raise ScenarioError(f"session stayed {self.machine.state.value} for {max_steps} steps, expected {what}")

    def run_until_state(self, state: SessionState, max_steps: int = _MAX_STEPS) -> SessionState:
        return self.run_until(lambda m: m.state is state, state.value, max_steps)

    # --- steps ------------------------------------------------------------------------
    def connect(self) -> SessionState:
        if self.machine.state is not SessionState.CONNECTED:
            self.machine.connect()
        return self.machine.state

    def heartbeats(self, count: int) -> SessionState:
        """``count`` healthy heartbeats."""
        for _ in range(count):
            self.tick()
        return self.machine.state

    def lose_heartbeats(self, count: int | None = None) -> SessionState:
        """Lose heartbeats until the session starts reconnecting (``count`` defaults to the policy's limit)."""
        count = count or self.machine.policy.missed_heartbeats_limit
        self.transport.lose_heartbeats(count)
        for _ in range(count):
            self.tick()
        return self.machine.state

    def fail_reconnects(self, count: int) -> SessionState:
        self.transport.fail_opens(count)
        return self.machine.state

    def trip_breaker(self) -> SessionState:
        """Fail reconnects until the breaker opens (losing the link first when still connected)."""
        # Queued first, so that no reconnect can slip through while heartbeats are being lost.
        self.transport.fail_opens(self.machine.policy.breaker_threshold - self.machine.consecutive_failures)
        if self.machine.state is SessionState.CONNECTED:
            self.lose_heartbeats()
        return self.run_until(lambda m: m.breaker_open, "the circuit breaker open")

    def recover(self, latency_s: float | None = None) -> SessionState:
        """Let the next connection succeed and wait (cooldown included) until connected again."""
        self.transport.clear()
        self.transport.succeed_open(latency_s)
        return self.run_until_state(SessionState.CONNECTED)

    def damage_credentials(self, *, corrupt: bool) -> None:
        """Checksum mismatch (``corrupt=False``) or undecodable blob (``corrupt=True``) for the next auth."""
        self.credentials.damage(self.machine.session_id, keep_checksum=not corrupt)


def _connect(sim: Simulator) -> None:
    sim.connect()
    sim.heartbeats(1)


def _heartbeat_loss(sim: Simulator) -> None:
    sim.connect()
    sim.heartbeats(2)
    sim.lose_heartbeats()
    sim.fail_reconnects(1)
    sim.run_until_state(SessionState.CONNECTED)


def _breaker_trip(sim: Simulator) -> None:
    sim.connect()
    sim.trip_breaker()


def _recovery(sim: Simulator) -> None:
    _breaker_trip(sim)
    sim.recover()
    sim.heartbeats(1)


def _corruption(sim: Simulator) -> None:
    sim.connect()
    sim.damage_credentials(corrupt=True)
    sim.lose_heartbeats()
    sim.run_until_state(SessionState.CONNECTED)


def _validation_failure(sim: Simulator) -> None:
    sim.connect()
    sim.damage_credentials(corrupt=False)
    sim.lose_heartbeats()
    sim.run_until_state(SessionState.CONNECTED)


def _exhaustion(sim: Simulator) -> None:
    sim.connect()
    sim.lose_heartbeats()
    sim.fail_reconnects(sim.machine.policy.max_reconnect_attempts)
    sim.run_until_state(SessionState.FAILED, max_steps=_MAX_STEPS * 2)


SCENARIOS: dict[str, Callable[[Simulator], None]] = {
    "connect": _connect,
    "heartbeat_loss": _heartbeat_loss,
    "breaker_trip": _breaker_trip,
    "recovery": _recovery,
    "corruption": _corruption,
    "validation_failure": _validation_failure,
    "exhaustion": _exhaustion,
}
