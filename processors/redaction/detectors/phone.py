"""Phone numbers: international (E.164, with or without separators), WhatsApp
JIDs, and bare digit runs under a key that says it holds a phone number
(``wa_id``, ``msisdn``). Candidates are confirmed with libphonenumber."""

from __future__ import annotations

import re

import phonenumbers

from processors.redaction.detectors.base import Detector, Pattern

_NON_DIGITS = re.compile(r"\D")


class PhoneDetector(Detector):
    KIND = "phone"
    PRIORITY = 40
    PATTERNS = (
        Pattern("e164", r"(?<![\w+])\+[1-9](?:[ ().-]{0,2}[0-9]){6,14}(?![\w])", 0.4,
                scan=r"\+[1-9][ ().0-9-]{6}"),
        # The number of a JID is replaced, the domain stays: 4915112345678:3@s.whatsapp.net
        Pattern("whatsapp_jid", r"(?<![\w])(?P<pii>[1-9][0-9]{6,14})(?::[0-9]{1,3})?@(?:s\.whatsapp\.net|c\.us)", 0.4),
        Pattern("digits_in_context", r"(?<![\w+.-])\+?[1-9][0-9]{7,14}(?![\w.])", 0.3, needs_context=True),
    )
    CONTEXT = ("phone", "phone_number", "mobile", "msisdn", "telephone", "whatsapp", "wa_id", "wa_phone")

    def validate_result(self, text: str, pattern: Pattern) -> bool | None:
        digits = _NON_DIGITS.sub("", text)
        if not 7 <= len(digits) <= 15:
            return False
        try:
            number = phonenumbers.parse("+" + digits, None)
        except phonenumbers.NumberParseException:
            return False
        return phonenumbers.is_possible_number(number)

    def normalize(self, text: str) -> str:
        # Every spelling of one number hashes alike: +49 151 1234-5678, 4915112345678@s.whatsapp.net.
        return "+" + _NON_DIGITS.sub("", text)
