"""``redact``: drop the value. An attribute or map entry goes whole; where
there is no key (a log body, an array element, a span name) the matched text
is cut out."""

from __future__ import annotations

from processors.redaction.operators.base import Operator


class RedactOperator(Operator):
    NAME = "redact"
    drops_entry = True

    def replace(self, normalized: str, placeholder: str) -> str:
        return ""
