"""International bank account numbers: country, check digits and BBAN, in
print (groups of four) or electronic form, confirmed by the country's length
and format and the ISO 7064 mod-97 checksum (python-stdnum)."""

from __future__ import annotations

from stdnum import iban as _iban
from stdnum.exceptions import ValidationError

from processors.redaction.detectors.base import Detector, Pattern


class IbanDetector(Detector):
    KIND = "iban"
    PRIORITY = 60
    DENSE = True
    PATTERNS = (
        Pattern("iban",
                r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])", 0.3,
                scan=r"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}"),
    )
    CONTEXT = ("iban", "account", "bank_account")

    def validate_result(self, text: str, pattern: Pattern) -> bool | None:
        try:
            _iban.validate(text)
        except ValidationError:
            return False
        return True

    def refine(self, value: str, start: int, end: int, pattern: Pattern) -> tuple[int, int] | None:
        # A printed IBAN can run into a following word in capitals ("... 0130 00 OK"):
        # retry without the last group before giving up.
        while end - start >= 15:
            if self.validate_result(value[start:end], pattern):
                return start, end
            cut = value.rfind(" ", start, end)
            if cut <= start:
                return None
            end = cut
        return None

    def normalize(self, text: str) -> str:
        return text.replace(" ", "")
