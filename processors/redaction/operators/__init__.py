"""The operators a rule can apply to what it finds: mask, redact, hash."""

from __future__ import annotations

from processors.redaction.operators.base import Operator
from processors.redaction.operators.hash import HashOperator
from processors.redaction.operators.mask import MaskOperator
from processors.redaction.operators.redact import RedactOperator

OPERATOR_NAMES = ("mask", "redact", "hash")

__all__ = ["OPERATOR_NAMES", "HashOperator", "MaskOperator", "Operator", "RedactOperator"]
