"""The Redis client: a real server when REDIS_URL is set, fakeredis in process otherwise."""

from __future__ import annotations

import redis


def make_redis(url: str | None) -> redis.Redis:
    if url:
        return redis.Redis.from_url(url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0)
    import fakeredis  # a dev/test fallback; imported only when used

    return fakeredis.FakeRedis(decode_responses=True)
