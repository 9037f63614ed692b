"""A token bucket per tenant: ``rate`` tokens a second, at most ``burst`` banked."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Bucket:
    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    tokens: float = -1.0
    stamp: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens, self.stamp = float(self.burst), self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def available(self) -> float:
        self._refill()
        return self.tokens

    def take(self) -> float:
        """Take a token: 0 when one was there, else the seconds until one will be (nothing taken)."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class RateLimits:
    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    by_tenant: dict[str, Bucket] = field(default_factory=dict)

    def get(self, tenant: str) -> Bucket:
        b = self.by_tenant.get(tenant)
        if b is None:
            b = self.by_tenant[tenant] = Bucket(self.rate, self.burst, self.clock)
        return b
