"""User tokens: ``<user_id>.<HMAC-SHA256(JWT_SECRET, user_id)>``, base64url.

Signed opaque tokens keep the example service free of a JWT library; the
point here is that a token exists, is checked, and never reaches a log or span.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from pydantic import SecretStr


def _signature(secret: SecretStr, user_id: int) -> str:
    mac = hmac.new(secret.get_secret_value().encode(), f"divan:{user_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def issue_token(secret: SecretStr, user_id: int) -> str:
    return f"{user_id}.{_signature(secret, user_id)}"


def verify_token(secret: SecretStr, token: str) -> int | None:
    """The user id, or None when the token is malformed or its signature is wrong."""
    head, _, sig = token.partition(".")
    if not head.isdigit() or not sig:
        return None
    user_id = int(head)
    return user_id if hmac.compare_digest(sig, _signature(secret, user_id)) else None
