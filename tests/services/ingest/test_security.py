"""Token and HMAC signature checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from services.ingest.security import (
    SignatureProblem,
    parse_timestamp,
    presented_token,
    sign,
    token_matches,
    verify_signature,
)

SECRET = SecretStr("s3cret")
NOW = datetime(2026, 2, 5, 12, 0, tzinfo=UTC)


def _headers(body: bytes, ts: str, secret: str = "s3cret") -> dict[str, str]:
    return {"x-signature": sign(secret, ts, body), "x-signature-timestamp": ts}


def test_bearer_wins_over_the_ingest_token_header() -> None:
    assert presented_token({"authorization": "Bearer abc", "x-ingest-token": "xyz"}) == "abc"
    assert presented_token({"authorization": "Basic abc", "x-ingest-token": "xyz"}) == "xyz"
    assert presented_token({}) is None
    assert token_matches("abc", SecretStr("abc")) and not token_matches("abd", SecretStr("abc"))
    assert not token_matches(None, SecretStr("abc"))


def test_a_signature_over_timestamp_and_body_verifies() -> None:
    body = b'{"client_id":"c"}'
    ts = "2026-02-05T11:59:00Z"

    assert verify_signature(SECRET, _headers(body, ts), body, now=NOW, max_age_s=300) is None
    tampered = verify_signature(SECRET, _headers(body, ts), body + b" ", now=NOW, max_age_s=300)
    other_secret = verify_signature(SECRET, _headers(body, ts, "other"), body, now=NOW, max_age_s=300)
    assert tampered is SignatureProblem.MISMATCH and other_secret is SignatureProblem.MISMATCH


def test_signature_problems_are_told_apart() -> None:
    body = b"{}"
    old = (NOW - timedelta(minutes=10)).isoformat()

    assert verify_signature(SECRET, {}, body, now=NOW, max_age_s=300) is SignatureProblem.MISSING
    assert verify_signature(SECRET, {"x-signature": "ab" * 32, "x-signature-timestamp": "yesterday"}, body,
                            now=NOW, max_age_s=300) is SignatureProblem.MALFORMED
    assert verify_signature(SECRET, _headers(body, old), body, now=NOW, max_age_s=300) is SignatureProblem.STALE


def test_timestamps_are_iso_or_unix_seconds() -> None:
    assert parse_timestamp("2026-02-05T12:00:00Z") == NOW
    assert parse_timestamp(str(NOW.timestamp())) == NOW
    assert parse_timestamp("2026-02-05T12:00:00") == NOW  # naive means UTC
    assert parse_timestamp("soon") is None
