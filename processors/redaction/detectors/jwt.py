"""JSON Web Tokens: three base64url segments whose header decodes to a JOSE header."""

from __future__ import annotations

import base64
import binascii
import json

from processors.redaction.detectors.base import Detector, Pattern


def _b64url_json(segment: str) -> object:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


class JwtDetector(Detector):
    KIND = "jwt"
    PRIORITY = 10
    PATTERNS = (
        Pattern("jws", r"(?<![\w-])eyJ[A-Za-z0-9_-]{4,}\.ey[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*(?![\w-])", 0.4,
                scan=r"eyJ[A-Za-z0-9_-]{4,}\.ey[A-Za-z0-9_-]{4}"),
    )
    CONTEXT = ("jwt", "id_token", "access_token")

    def validate_result(self, text: str, pattern: Pattern) -> bool | None:
        header, payload, _ = text.split(".", 2)
        try:
            head, body = _b64url_json(header), _b64url_json(payload)
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return False
        return isinstance(head, dict) and ("alg" in head or "typ" in head) and isinstance(body, dict)
