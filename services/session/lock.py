"""A per-session lock in Redis, so that two replicas never drive one session.

``SET NX PX`` takes it; release deletes it only if we still hold it, in a
WATCH/MULTI transaction (a Lua compare-and-delete would need Lua in fakeredis,
which the in-process fallback does not have).
"""

from __future__ import annotations

import redis


class SessionLock:
    def __init__(self, client: redis.Redis, *, prefix: str, holder: str, ttl_ms: int = 30_000) -> None:
        self._redis = client
        self._prefix = prefix
        self.holder = holder
        self._ttl_ms = ttl_ms

    def _key(self, session_id: str) -> str:
        return f"{self._prefix}lock:{session_id}"

    def acquire(self, session_id: str) -> bool:
        return bool(self._redis.set(self._key(session_id), self.holder, nx=True, px=self._ttl_ms))

    def holder_of(self, session_id: str) -> str | None:
        return self._redis.get(self._key(session_id))

    def release(self, session_id: str) -> bool:
        """True when we held the lock and dropped it."""
        key = self._key(session_id)
        with self._redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                if pipe.get(key) != self.holder:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.delete(key)
                pipe.execute()
                return True
            except redis.WatchError:
                return False
