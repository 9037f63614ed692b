"""The per-session lock on a real Redis."""

from __future__ import annotations

import time
import uuid

import redis

from services.session.lock import SessionLock
from tests.support.servers import RedisServer


def _locks(redis_srv: RedisServer, ttl_ms: int = 30_000) -> tuple[SessionLock, SessionLock]:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    client = redis.Redis.from_url(redis_srv.url, decode_responses=True)
    return (SessionLock(client, prefix=prefix, holder="a", ttl_ms=ttl_ms),
            SessionLock(client, prefix=prefix, holder="b", ttl_ms=ttl_ms))


def test_one_holder_at_a_time(redis_srv: RedisServer) -> None:
    a, b = _locks(redis_srv)

    assert a.acquire("s1")
    assert not b.acquire("s1")
    assert b.holder_of("s1") == "a"
    assert b.acquire("s2")


def test_only_the_holder_releases(redis_srv: RedisServer) -> None:
    a, b = _locks(redis_srv)
    a.acquire("s1")

    assert not b.release("s1")
    assert a.holder_of("s1") == "a"
    assert a.release("s1")
    assert b.acquire("s1")


def test_a_crashed_holder_loses_the_lock_after_its_ttl(redis_srv: RedisServer) -> None:
    a, b = _locks(redis_srv, ttl_ms=100)
    a.acquire("s1")

    deadline = time.monotonic() + 5
    while not b.acquire("s1"):
        assert time.monotonic() < deadline, "the lock never expired"
        time.sleep(0.02)
    assert b.holder_of("s1") == "b"
