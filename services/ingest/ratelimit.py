"""A sliding-window rate limit per client, kept in a Redis sorted set.

A fixed per-minute counter would let a client send twice the limit across a
window edge (and make tests depend on the wall clock's minute); the sorted set
holds the request times of the last window exactly. Requests refused with 429
are removed again, so that a client that keeps retrying is not locked out for
longer than the window.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int


class SlidingWindowLimiter:
    def __init__(self, client: redis.Redis, *, prefix: str, limit: int, window_s: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self._redis = client
        self._prefix = prefix
        self._limit = limit
        self._window_s = window_s
        self._clock = clock

    def check(self, scope: str, subject: str) -> Decision:
        """Record one request of ``subject`` (a client id) and say whether it is within the limit."""
        key = f"{self._prefix}ratelimit:{scope}:{subject}"
        now = self._clock()
        member = f"{now:.6f}:{uuid.uuid4().hex[:8]}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.zremrangebyscore(key, "-inf", now - self._window_s)
        pipe.zadd(key, {member: now})
        pipe.zcard(key)
        pipe.zrange(key, 0, 0, withscores=True)
        pipe.expire(key, int(self._window_s) + 1)
        _, _, count, oldest, _ = pipe.execute()
        if count <= self._limit:
            return Decision(True, 0)
        self._redis.zrem(key, member)
        oldest_at = oldest[0][1] if oldest else now
        return Decision(False, max(1, int(oldest_at + self._window_s - now + 0.999)))
