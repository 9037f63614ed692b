"""One detector per kind of personal data, presidio-style: each module holds
its ``PATTERNS``, its ``CONTEXT`` words and its validator."""

from __future__ import annotations

from processors.redaction.detectors.api_key import ApiKeyDetector
from processors.redaction.detectors.base import Detector, Finding, Pattern, context_tokens
from processors.redaction.detectors.credit_card import CreditCardDetector
from processors.redaction.detectors.email import EmailDetector
from processors.redaction.detectors.geo import GeoDetector
from processors.redaction.detectors.iban import IbanDetector
from processors.redaction.detectors.ip import IpDetector
from processors.redaction.detectors.jwt import JwtDetector
from processors.redaction.detectors.phone import PhoneDetector

# In priority order: when two findings cover the same text, the earlier kind wins.
DETECTORS: dict[str, type[Detector]] = {
    "jwt": JwtDetector,
    "api_key": ApiKeyDetector,
    "email": EmailDetector,
    "phone": PhoneDetector,
    "credit_card": CreditCardDetector,
    "iban": IbanDetector,
    "ip": IpDetector,
    "geo": GeoDetector,
}

__all__ = ["DETECTORS", "Detector", "Finding", "Pattern", "context_tokens"]
