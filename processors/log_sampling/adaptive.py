"""Adaptive mode: each service's rate of sampled records, and the ratio that holds it to its budget."""

from __future__ import annotations

import threading
from collections.abc import Callable

BUCKETS = 10


class RateMeter:
    """Records per second over a sliding window of ``BUCKETS`` buckets.

    The rate is the larger of the whole window and the last one or two buckets,
    so that a step up in load is seen within one bucket (a tenth of the window)
    while a step down takes the whole window to be believed.
    """

    __slots__ = ("_bucket_s", "_window_s", "_counts", "_current")

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._bucket_s = window_s / BUCKETS
        self._counts = [0] * BUCKETS
        self._current: int | None = None

    def _advance(self, now: float) -> int:
        idx = int(now // self._bucket_s)
        cur = self._current
        if cur is None or idx - cur >= BUCKETS:
            self._counts = [0] * BUCKETS
        elif idx > cur:
            for i in range(cur + 1, idx + 1):
                self._counts[i % BUCKETS] = 0
        elif idx < cur:  # a clock that went back: keep counting in the newest bucket
            return cur
        self._current = idx
        return idx

    def add(self, n: int, now: float) -> None:
        idx = self._advance(now)
        self._counts[idx % BUCKETS] += n

    def rate(self, now: float) -> float:
        idx = self._advance(now)
        counts = self._counts
        whole = sum(counts) / self._window_s
        into_bucket = max(0.0, now - idx * self._bucket_s)
        recent = (counts[idx % BUCKETS] + counts[(idx - 1) % BUCKETS]) / (self._bucket_s + into_bucket)
        return max(whole, recent)


class AdaptiveRatio:
    """Per service: ``min(base_ratio, budget / rate)``, so the ratio falls only under load."""

    def __init__(self, base_ratio: float, budget: float, window_s: float,
                 clock: Callable[[], float]) -> None:
        self.base_ratio = base_ratio
        self.budget = budget
        self._window_s = window_s
        self._clock = clock
        self._meters: dict[str, RateMeter] = {}
        self._lock = threading.Lock()  # large requests are sampled on worker threads (processors/offload.py)

    def ratio(self, service: str, arriving: int, now: float | None = None) -> float:
        """Count ``arriving`` sampled records for ``service`` and return the ratio to apply to them."""
        if now is None:
            now = self._clock()
        with self._lock:
            meter = self._meters.get(service)
            if meter is None:
                meter = self._meters[service] = RateMeter(self._window_s)
            meter.add(arriving, now)
            rate = meter.rate(now)
        if rate <= self.budget:
            return self.base_ratio
        return min(self.base_ratio, self.budget / rate)
