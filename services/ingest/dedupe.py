"""Message dedupe in Redis: the first ``SET NX`` of a message key wins.

The SQL unique constraint on (client_id, message_key) backs this up when keys
have expired or Redis was flushed; Redis answers the common repeat cheaply.
"""

from __future__ import annotations

import redis


class DedupeSet:
    def __init__(self, client: redis.Redis, *, prefix: str, ttl_s: int) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_s = ttl_s

    def _key(self, client_id: str, message_key: str) -> str:
        # message_key is already a digest; client_id is an operational identifier, never message content.
        return f"{self._prefix}dedupe:{client_id}:{message_key}"

    def claim(self, client_id: str, message_key: str) -> bool:
        """True the first time this message is seen within the TTL."""
        return bool(self._redis.set(self._key(client_id, message_key), "1", nx=True, ex=self._ttl_s))

    def release(self, client_id: str, message_key: str) -> None:
        """Forget a claim whose message could not be stored, so that a retry is not deduped."""
        self._redis.delete(self._key(client_id, message_key))
