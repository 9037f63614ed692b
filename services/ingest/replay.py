"""Signatures already used: a signed request is processed once within its signature window.

The HMAC covers the timestamp and the body, so the signature names the request.
The first ``SET NX`` of its digest wins; the key lives until the timestamp
leaves the window (``WHATSAPP_SIGNATURE_MAX_AGE_S`` either side of now), after
which the signature is refused as stale anyway. A request that fails after its
claim releases it, so that the client's retry of the same signed request is
not refused as a replay.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime

import redis


class SeenSignatures:
    def __init__(self, client: redis.Redis, *, prefix: str, max_age_s: int) -> None:
        self._redis = client
        self._prefix = prefix
        self._max_age_s = max_age_s

    def _key(self, signature: str) -> str:
        return f"{self._prefix}signature:{hashlib.sha256(signature.encode()).hexdigest()}"

    def claim(self, signature: str, signed_at: datetime, now: datetime) -> str | None:
        """The claim's key the first time ``signature`` is seen; None when it was seen within its window."""
        remaining = self._max_age_s - (now - signed_at).total_seconds()
        key = self._key(signature)
        ok = self._redis.set(key, "1", nx=True, ex=max(1, math.ceil(remaining) + 1))
        return key if ok else None

    def release(self, key: str) -> None:
        self._redis.delete(key)
