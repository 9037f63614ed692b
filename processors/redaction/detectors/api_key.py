"""Credentials: bearer and basic authorization values, ``key=value`` secrets
in text, and the token shapes of AWS, GitHub, Slack and Stripe."""

from __future__ import annotations

import base64
import binascii

from processors.redaction.detectors.base import Detector, Pattern

_BASE32 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def _looks_random(text: str, min_distinct: int) -> bool:
    """Real secrets are random; placeholders (xxxx, ****, <token>) are not."""
    return len(set(text)) >= min_distinct


class ApiKeyDetector(Detector):
    KIND = "api_key"
    PATTERNS = (
        # The scan patterns stop at a fixed length: an open-ended tail would report a hit at
        # every byte of a long token, and each report costs a call into Python.
        Pattern("bearer", r"(?i:\bbearer)\s+(?P<pii>[A-Za-z0-9._~+/-]{16,}=*)", 0.6,
                scan=r"(?i)bearer\s+[A-Za-z0-9._~+/-]{16}"),
        Pattern("basic", r"(?i:\bbasic)\s+(?P<pii>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])", 0.3,
                scan=r"(?i)basic\s+[A-Za-z0-9+/]{8}"),
        Pattern(
            "secret_assignment",
            r"(?i:(?<![A-Za-z0-9])(?:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret|access[_-]?token"
            r"|refresh[_-]?token|auth[_-]?token|password|passwd|pwd))[\"']?\s*[=:]\s*[\"']?(?P<pii>[^\s&\"',;]{6,})",
            0.6,
            scan=r"(?i)(?:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret|access[_-]?token"
                 r"|refresh[_-]?token|auth[_-]?token|password|passwd|pwd)[\"']?\s*[=:]\s*[\"']?[^\s&\"',;]{6}",
        ),
        Pattern("aws_access_key_id", r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])", 0.4),
        Pattern("github_token", r"(?<![\w])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{82})(?![\w])", 0.4,
                scan=r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82}"),
        Pattern("slack_token", r"(?<![\w-])(?:xox[abposre]-[A-Za-z0-9-]{10,250}|xapp-[0-9]-[A-Za-z0-9-]{10,250})", 0.4,
                scan=r"xox[abposre]-[A-Za-z0-9-]{10}|xapp-[0-9]-[A-Za-z0-9-]{10}"),
        Pattern("slack_webhook",
                r"https://hooks\.slack\.com/(?:services|workflows|triggers)/(?P<pii>[A-Za-z0-9/_-]{16,})", 0.8),
        Pattern("stripe_key", r"(?<![\w])(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,247}(?![\w])", 0.4,
                scan=r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16}"),
        Pattern("stripe_webhook_secret", r"(?<![\w])whsec_[A-Za-z0-9+/]{24,}(?![\w])", 0.4,
                scan=r"whsec_[A-Za-z0-9+/]{24}"),
    )
    CONTEXT = ("api_key", "apikey", "token", "secret", "credential")

    def validate_result(self, text, pattern):
        name = pattern.name
        if name == "basic":
            try:
                decoded = base64.b64decode(text, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                return False
            return ":" in decoded
        if name == "aws_access_key_id":
            # Key ids are base32 after the four-letter prefix.
            return set(text[4:]) <= _BASE32
        if name in ("github_token", "slack_token", "stripe_key", "stripe_webhook_secret"):
            tail = text.split("_", 2)[-1] if name != "slack_token" else text[5:]
            return _looks_random(tail, 10)
        if name in ("bearer", "secret_assignment"):
            return None if _looks_random(text, 5) else False
        return None
