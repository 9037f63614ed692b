"""Bearer-token and HMAC signature checks for ingest requests.

The signature is HMAC-SHA256 over ``timestamp + "." + body`` (hex), sent as
``X-Signature`` with ``X-Signature-Timestamp``: the same scheme the collectors
and the load harness sign with. Comparisons are constant-time.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import SecretStr

TOKEN_HEADER = "x-ingest-token"
SIGNATURE_HEADER = "x-signature"
TIMESTAMP_HEADER = "x-signature-timestamp"


class SignatureProblem(enum.StrEnum):
    """Why a signature was refused; the value is the failure reason reported in /metrics."""

    MISSING = "missing_signature"
    MALFORMED = "malformed_signature"
    STALE = "stale_signature"
    MISMATCH = "invalid_signature"


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The token from ``Authorization: Bearer …`` or, failing that, ``X-Ingest-Token``."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = headers.get(TOKEN_HEADER, "").strip()
    return token or None


def token_matches(presented: str | None, expected: SecretStr) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.get_secret_value().encode())


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The hex signature a client sends for ``body`` at ``timestamp``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def parse_timestamp(value: str) -> datetime | None:
    """ISO-8601 (``Z`` allowed) or Unix seconds; None when it is neither."""
    value = value.strip()
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def verify_signature(
    secret: SecretStr, headers: Mapping[str, str], body: bytes, *, now: datetime, max_age_s: int
) -> SignatureProblem | None:
    """None when the request is signed by ``secret`` recently enough, else the problem."""
    signature = headers.get(SIGNATURE_HEADER, "").strip().lower()
    timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    if not signature or not timestamp:
        return SignatureProblem.MISSING
    signed_at = parse_timestamp(timestamp)
    if signed_at is None or len(signature) != 64:
        return SignatureProblem.MALFORMED
    if abs((now - signed_at).total_seconds()) > max_age_s:
        return SignatureProblem.STALE
    expected = sign(secret.get_secret_value(), timestamp, body)
    if not hmac.compare_digest(signature, expected):
        return SignatureProblem.MISMATCH
    return None
