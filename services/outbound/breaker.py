"""A circuit breaker per tenant: closed, open, half-open.

Closed: deliveries go through; ``threshold`` consecutive failures open it.
Open: deliveries are refused (requeued with a delay) for ``open_seconds``.
Half-open: then one delivery is let through as a trial; success closes the
breaker, failure opens it again for another ``open_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
STATES = (CLOSED, OPEN, HALF_OPEN)


@dataclass
class Breaker:
    threshold: int
    open_seconds: float
    clock: Callable[[], float] = time.monotonic
    state: str = CLOSED
    failures: int = 0
    opened_at: float = 0.0
    trial_in_flight: bool = False

    def allow(self) -> bool:
        if self.state == OPEN and self.clock() - self.opened_at >= self.open_seconds:
            self.state, self.trial_in_flight = HALF_OPEN, False
        if self.state == CLOSED:
            return True
        if self.state == HALF_OPEN and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def success(self) -> None:
        self.state, self.failures, self.trial_in_flight = CLOSED, 0, False

    def failure(self) -> None:
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            self.state, self.opened_at, self.trial_in_flight = OPEN, self.clock(), False


@dataclass
class Breakers:
    threshold: int
    open_seconds: float
    clock: Callable[[], float] = time.monotonic
    by_tenant: dict[str, Breaker] = field(default_factory=dict)

    def get(self, tenant: str) -> Breaker:
        b = self.by_tenant.get(tenant)
        if b is None:
            b = self.by_tenant[tenant] = Breaker(self.threshold, self.open_seconds, self.clock)
        return b

    def states(self) -> dict[str, str]:
        # Reading a state moves an expired open breaker to half-open, as the next delivery would see it.
        for b in self.by_tenant.values():
            if b.state == OPEN and b.clock() - b.opened_at >= b.open_seconds:
                b.state, b.trial_in_flight = HALF_OPEN, False
        return {t: b.state for t, b in self.by_tenant.items()}
