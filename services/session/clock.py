"""Clocks the state machine reads: manual for tests, simulated for the live service.

The transport "takes time" by calling ``sleep``. ``ManualClock`` and
``SimClock`` advance virtual time instead of blocking, so that a scripted
outage with a 12 s reconnect finishes in microseconds while its events still
report a 12 s latency.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass."""


class ManualClock:
    """Time moves only when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"seconds must not be negative, got {seconds}")
        self._now += seconds


class SimClock:
    """Real monotonic time plus the virtual time that simulated waits have added."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() + self._offset

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += max(0.0, seconds)
