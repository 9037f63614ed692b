"""``mask``: a fixed placeholder instead of the text (``****``; ``?`` for SQL literals)."""

from __future__ import annotations

from processors.redaction.operators.base import Operator


class MaskOperator(Operator):
    NAME = "mask"

    def replace(self, normalized: str, placeholder: str) -> str:
        return placeholder
