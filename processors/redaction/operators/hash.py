"""``hash``: HMAC-SHA256 of the detector's normalised form, as 64 hex digits.

Equal inputs give equal outputs in every signal, so hashed values still join
(the same phone in a span and a log), while without the key nobody can test a
guess (phone numbers and emails are too few to hide behind a plain hash).
"""

from __future__ import annotations

import hashlib
import hmac

from processors.redaction.operators.base import Operator

MIN_KEY_BYTES = 16


class HashOperator(Operator):
    NAME = "hash"

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"hash_key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:  # never show the key
        return "HashOperator(key=***)"

    def replace(self, normalized: str, placeholder: str) -> str:
        return self.replace_bytes(normalized.encode("utf-8"), placeholder)

    def replace_bytes(self, data: bytes, placeholder: str) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()
