"""Credentials: bearer and basic authorization values, ``key=value`` secrets
in text, the token shapes of cloud and SaaS providers (AWS, Google, GitHub,
GitLab, npm, PyPI, OpenAI and Anthropic, SendGrid, Twilio, Azure storage,
Slack, Stripe), PEM private-key blocks, and random-looking values under keys
that name a credential.

Each shape is confirmed by a validator: real secrets are random, placeholders
(``xxxx``, ``<token>``, ``AKIA1234567890123456``) and identifiers are not."""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter

from processors.redaction.detectors.base import Detector, Pattern

_HEX = frozenset("0123456789abcdefABCDEF")
# The last word of a key that holds a credential's description, not the credential.
_NOT_SECRET_WORDS = frozenset({"id", "ids", "type", "name", "method", "scheme", "provider", "kind", "source", "status",
                               "version", "count", "expires", "expiry", "at", "ttl", "url", "uri", "host", "path",
                               "enabled", "required", "hash", "fingerprint", "length", "algorithm", "alg", "format"})
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=]{16}")


def _looks_random(text: str, min_distinct: int) -> bool:
    """Real secrets are random; placeholders (xxxx, ****, <token>) are not."""
    return len(set(text)) >= min_distinct


def _classes(text: str) -> int:
    """How many of lower case, upper case and digits a text mixes."""
    return any(c.islower() for c in text) + any(c.isupper() for c in text) + any(c.isdigit() for c in text)


def _random_token(text: str, min_distinct: int = 10) -> bool:
    """A token body: many distinct characters from at least two of lower, upper and digits
    (kebab-case names and counting placeholders are neither)."""
    return _looks_random(text, min_distinct) and _classes(text) >= 2


def shannon_entropy(text: str) -> float:
    """Bits per character of the text's own character distribution."""
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values()) if n else 0.0


def high_entropy(text: str) -> bool:
    """A random-looking value, as secret scanners judge it: hex digits at 3 bits per character or
    more, other values at 3.5 bits or more with letters and digits. Thresholds below what random
    text of the same length reaches, and above words, names and sentences."""
    body = text.rstrip("=")
    if len(body) < 16:
        return False
    if set(body) <= _HEX:
        return shannon_entropy(body) >= 3.0
    letters = any(c.isalpha() for c in body)
    digits = any(c.isdigit() for c in body)
    return letters and digits and _classes(body) >= 2 and shannon_entropy(body) >= 3.5


class ApiKeyDetector(Detector):
    KIND = "api_key"
    PRIORITY = 20
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
            r"|refresh[_-]?token|auth[_-]?token|password|passwd|pwd|passphrase|token|secret|credentials?"
            r"|private[_-]?key|signing[_-]?key|account[_-]?key))[\"']?\s*[=:]\s*[\"']?(?P<pii>[^\s&\"',;]{6,})",
            0.6,
            scan=r"(?i)(?:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|client[_-]?secret|access[_-]?token"
                 r"|refresh[_-]?token|auth[_-]?token|password|passwd|pwd|passphrase|token|secret|credentials?"
                 r"|private[_-]?key|signing[_-]?key|account[_-]?key)[\"']?\s*[=:]\s*[\"']?[^\s&\"',;]{6}",
        ),
        # Scanners in wide use accept any digit in the 16 characters after the prefix.
        Pattern("aws_access_key_id", r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Za-z0-9])", 0.4,
                scan=r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}"),
        Pattern("google_api_key", r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])", 0.4, scan=r"AIza[0-9A-Za-z_-]{35}"),
        Pattern("gitlab_token", r"(?<![\w-])gl(?:pat|dt|rt|ptt|ft|oas|cbt|soat|agent|imt|ffct)-[0-9A-Za-z_.-]{20,300}",
                0.4, scan=r"gl(?:pat|dt|rt|ptt|ft|oas|cbt|soat|agent|imt|ffct)-[0-9A-Za-z_.-]{20}"),
        Pattern("npm_token", r"(?<![\w-])npm_[A-Za-z0-9]{36}(?![\w-])", 0.4, scan=r"npm_[A-Za-z0-9]{36}"),
        # PyPI tokens are macaroons: a fixed base64 prefix that says "pypi.org".
        Pattern("pypi_token", r"(?<![\w-])pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}", 0.8,
                scan=r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50}"),
        # OpenAI (sk-..., sk-proj-..., sk-svcacct-...) and Anthropic (sk-ant-api03-...) keys.
        Pattern("sk_token",
                r"(?<![\w-])sk-(?:(?:proj|svcacct|admin|ant-(?:api|admin)[0-9]{2}|None)-)?[A-Za-z0-9_-]{32,}",
                0.4, scan=r"sk-[A-Za-z0-9_-]{20}"),
        Pattern("sendgrid_key", r"(?<![\w.-])SG\.[A-Za-z0-9_-]{16,32}\.[A-Za-z0-9_-]{16,64}(?![\w-])", 0.4,
                scan=r"SG\.[A-Za-z0-9_-]{16}"),
        # Twilio account SIDs and API key SIDs: AC or SK and 32 lowercase hex digits.
        Pattern("twilio_sid", r"(?<![A-Za-z0-9])(?:AC|SK)[0-9a-f]{32}(?![A-Za-z0-9])", 0.4,
                scan=r"(?:AC|SK)[0-9a-f]{32}"),
        # Azure storage: AccountKey= in a connection string, and bare account keys (64 bytes in base64).
        Pattern("azure_account_key", r"(?i:accountkey|sharedaccesskey)\s*=\s*(?P<pii>[A-Za-z0-9+/]{20,}={0,2})", 0.8,
                scan=r"(?i)(?:accountkey|sharedaccesskey)\s*=\s*[A-Za-z0-9+/]{20}"),
        Pattern("azure_storage_key", r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])", 0.4,
                scan=r"[A-Za-z0-9+/]{86}=="),
        # The key material of a PEM private key block, header to footer (or to the end of a cut text).
        Pattern("private_key_block",
                r"-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----(?P<pii>[\s\S]*?)(?:-----END|\Z)", 0.9,
                scan=r"-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY"),
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
        # Under a key that names a credential (see in_context): any long value that looks random.
        Pattern("high_entropy_in_context", r"(?<![A-Za-z0-9+/=_.~-])[A-Za-z0-9+/_.~-]{16,}={0,2}(?![A-Za-z0-9+/=_.~-])",
                0.3, needs_context=True),
    )
    # Keys that name a credential. "key" alone is not one (cache keys, partition keys, object keys).
    CONTEXT = ("api_key", "apikey", "token", "secret", "credential", "credentials", "auth", "access_key",
               "secret_key", "private_key", "signing_key", "client_key", "master_key", "encryption_key",
               "account_key", "app_key", "license_key", "subscription_key", "shared_key", "sas")

    def in_context(self, key_tokens: str) -> bool:
        # "auth.user_id", "credential.type": the key names a credential but describes it.
        last = key_tokens.rstrip("_").rsplit("_", 1)[-1]
        return last not in _NOT_SECRET_WORDS and super().in_context(key_tokens)

    def validate_result(self, text: str, pattern: Pattern) -> bool | None:
        name = pattern.name
        if name == "basic":
            try:
                decoded = base64.b64decode(text, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                return False
            return ":" in decoded
        if name == "aws_access_key_id":
            # Letters and digits mixed: AKIA1234567890123456 is a placeholder.
            tail = text[4:]
            return sum(c.isalpha() for c in tail) >= 2 and _looks_random(tail, 8)
        if name in ("github_token", "slack_token", "stripe_key", "stripe_webhook_secret"):
            tail = text.split("_", 2)[-1] if name != "slack_token" else text[5:]
            return _looks_random(tail, 10)
        if name in ("google_api_key", "gitlab_token", "npm_token", "sk_token", "sendgrid_key", "azure_storage_key",
                    "azure_account_key"):
            return _random_token(text.split("-", 1)[-1] if name in ("gitlab_token", "sk_token") else text)
        if name == "twilio_sid":
            return _looks_random(text[2:], 10)
        if name == "pypi_token":
            return _looks_random(text[20:], 10)
        if name == "private_key_block":
            return _PEM_BODY.search(text) is not None
        if name == "high_entropy_in_context":
            return high_entropy(text)
        if name in ("bearer", "secret_assignment"):
            return None if _looks_random(text, 5) else False
        return None
