"""The sliding-window limiter on a real Redis, with a clock the test moves."""

from __future__ import annotations

import uuid

import pytest
import redis

from services.ingest.ratelimit import SlidingWindowLimiter
from tests.support.servers import RedisServer


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def limiter_parts(redis_srv: RedisServer) -> tuple[redis.Redis, Clock, str]:
    return redis.Redis.from_url(redis_srv.url, decode_responses=True), Clock(), f"t{uuid.uuid4().hex[:8]}:"


def test_the_window_slides_rather_than_resetting(limiter_parts: tuple[redis.Redis, Clock, str]) -> None:
    client, clock, prefix = limiter_parts
    limiter = SlidingWindowLimiter(client, prefix=prefix, limit=3, window_s=60, clock=clock)

    allowed = []
    for _ in range(3):  # at t0, t0+10, t0+20
        allowed.append(limiter.check("ingest", "c").allowed)
        clock.t += 10
    assert allowed == [True, True, True]
    refused = limiter.check("ingest", "c")  # t0+30: the oldest leaves at t0+60
    assert not refused.allowed and refused.retry_after_s == 30
    clock.t += 30.5  # only the request of t0 has left the window
    assert limiter.check("ingest", "c").allowed
    assert not limiter.check("ingest", "c").allowed


def test_refused_requests_do_not_extend_the_lockout(limiter_parts: tuple[redis.Redis, Clock, str]) -> None:
    client, clock, prefix = limiter_parts
    limiter = SlidingWindowLimiter(client, prefix=prefix, limit=1, window_s=10, clock=clock)

    assert limiter.check("ingest", "c").allowed
    for _ in range(20):
        clock.t += 0.25
        assert not limiter.check("ingest", "c").allowed
    clock.t += 5.1
    assert limiter.check("ingest", "c").allowed


def test_scopes_and_subjects_are_separate(limiter_parts: tuple[redis.Redis, Clock, str]) -> None:
    client, clock, prefix = limiter_parts
    limiter = SlidingWindowLimiter(client, prefix=prefix, limit=1, clock=clock)

    assert limiter.check("ingest", "a").allowed
    assert limiter.check("ingest", "b").allowed
    assert limiter.check("media", "a").allowed
    assert not limiter.check("ingest", "a").allowed


def test_a_limit_below_one_is_refused(limiter_parts: tuple[redis.Redis, Clock, str]) -> None:
    client, clock, prefix = limiter_parts
    with pytest.raises(ValueError, match="limit must be at least 1, got 0"):
        SlidingWindowLimiter(client, prefix=prefix, limit=0, clock=clock)
