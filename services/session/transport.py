"""The link to WhatsApp, simulated: a script of connection and heartbeat outcomes.

``SimulatedTransport`` answers ``open`` and ``ping`` from queues that a test
or the simulator fills ("the next 3 opens fail", "the next 4 heartbeats are
lost"); with empty queues the link is healthy. Time spent is taken from the
clock, so latencies are part of the script too.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from services.session.clock import Clock


class TransportError(Exception):
    """The link failed: a connection refused or a heartbeat lost."""


class Transport(Protocol):
    def open(self) -> None:
        """Open the link; raises TransportError."""

    def ping(self) -> float:
        """One heartbeat round trip in seconds; raises TransportError when it is lost."""

    def close(self) -> None:
        """Drop the link."""


@dataclass(frozen=True)
class LinkTiming:
    open_s: float = 0.8
    failed_open_s: float = 2.0
    ping_s: float = 0.05
    lost_ping_s: float = 10.0


class SimulatedTransport:
    def __init__(self, clock: Clock, timing: LinkTiming | None = None) -> None:
        self._clock = clock
        self.timing = timing or LinkTiming()
        self._opens: deque[float | None] = deque()  # a latency to succeed after, or None to fail
        self._pings: deque[bool] = deque()  # False: this heartbeat is lost
        self._lock = threading.Lock()
        self.is_open = False

    # --- script -------------------------------------------------------------------
    def fail_opens(self, count: int) -> None:
        with self._lock:
            self._opens.extend([None] * count)

    def succeed_open(self, latency_s: float | None = None) -> None:
        with self._lock:
            self._opens.append(self.timing.open_s if latency_s is None else latency_s)

    def lose_heartbeats(self, count: int) -> None:
        with self._lock:
            self._pings.extend([False] * count)

    def clear(self) -> None:
        with self._lock:
            self._opens.clear()
            self._pings.clear()

    # --- Transport ----------------------------------------------------------------
    def open(self) -> None:
        with self._lock:
            outcome = self._opens.popleft() if self._opens else self.timing.open_s
        if outcome is None:
            self._clock.sleep(self.timing.failed_open_s)
            self.is_open = False
            raise TransportError("connection refused")
        self._clock.sleep(outcome)
        self.is_open = True

    def ping(self) -> float:
        with self._lock:
            ok = self._pings.popleft() if self._pings else True
        if not ok or not self.is_open:
            self._clock.sleep(self.timing.lost_ping_s)
            raise TransportError("heartbeat lost")
        self._clock.sleep(self.timing.ping_s)
        return self.timing.ping_s

    def close(self) -> None:
        self.is_open = False
