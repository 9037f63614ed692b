"""Payment card numbers: 13 to 19 digits, a known issuer prefix for that length, and the Luhn checksum."""

from __future__ import annotations

from stdnum import luhn

from processors.redaction.detectors.base import Detector, Pattern

# (first digits as a range, allowed lengths). A Luhn check alone passes one random
# number in ten; tying prefixes to lengths rejects most order numbers and timestamps.
_ISSUERS: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),                          # Visa
    (51, 55, frozenset({16})), (2221, 2720, frozenset({16})),  # Mastercard
    (34, 34, frozenset({15})), (37, 37, frozenset({15})),      # American Express
    (6011, 6011, frozenset(range(16, 20))), (644, 649, frozenset(range(16, 20))),
    (65, 65, frozenset(range(16, 20))),                        # Discover
    (3528, 3589, frozenset(range(16, 20))),                    # JCB
    (300, 305, frozenset(range(14, 20))), (36, 36, frozenset(range(14, 20))),
    (38, 39, frozenset(range(16, 20))),                        # Diners Club
    (62, 62, frozenset(range(16, 20))),                        # UnionPay
    (2200, 2204, frozenset(range(16, 20))),                    # Mir
    (50, 50, frozenset(range(13, 20))), (56, 58, frozenset(range(13, 20))),
    (67, 67, frozenset(range(13, 20))),                        # Maestro
)


def _known_issuer(digits: str) -> bool:
    for low, high, lengths in _ISSUERS:
        width = len(str(low))
        if low <= int(digits[:width]) <= high and len(digits) in lengths:
            return True
    return False


class CreditCardDetector(Detector):
    KIND = "credit_card"
    PRIORITY = 50
    DENSE = True
    PATTERNS = (
        Pattern("card", r"(?<![\w.+-])[2-6](?:[ -]?[0-9]){12,18}(?![\w.])", 0.3,
                scan=r"[2-6](?:[ -]?[0-9]){12}"),
    )
    CONTEXT = ("card", "card_number", "pan", "cc", "credit_card")

    def validate_result(self, text: str, pattern: Pattern) -> bool | None:
        digits = text.replace(" ", "").replace("-", "")
        return _known_issuer(digits) and luhn.is_valid(digits)

    def refine(self, value: str, start: int, end: int, pattern: Pattern) -> tuple[int, int] | None:
        # A grouped number can run into a following group ("4111 1111 1111 1111 2024"):
        # retry without the last group before giving up.
        while True:
            if self.validate_result(value[start:end], pattern):
                return start, end
            cut = max(value.rfind(" ", start, end), value.rfind("-", start, end))
            if cut <= start:
                return None
            end = cut

    def normalize(self, text: str) -> str:
        return text.replace(" ", "").replace("-", "")
