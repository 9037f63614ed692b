"""Log severity as a rank 1..6 (TRACE..FATAL), from the OTel severity number or, when
that is unset, from the severity text (sources such as file logs often set only the text)."""

from __future__ import annotations

NAMES = ("UNSPECIFIED", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
RANK = {name: rank for rank, name in enumerate(NAMES)}

# OTel SeverityNumber: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL.
_BY_NUMBER = (0, *(1 + (n - 1) // 4 for n in range(1, 25)))

_BY_TEXT = {
    "TRACE": 1, "FINEST": 1, "FINER": 1,
    "DEBUG": 2, "FINE": 2,
    "INFO": 3, "INFORMATION": 3, "NOTICE": 3,
    "WARN": 4, "WARNING": 4,
    "ERROR": 5, "ERR": 5, "SEVERE": 5,
    "FATAL": 6, "CRITICAL": 6, "CRIT": 6, "ALERT": 6, "EMERG": 6, "EMERGENCY": 6, "PANIC": 6,
}


def rank_of(number: int, text: str, unspecified: int) -> int:
    """The record's rank; ``unspecified`` when neither field says (or the number is out of range)."""
    if 0 < number < len(_BY_NUMBER):
        return _BY_NUMBER[number]
    if text:
        return _BY_TEXT.get(text.strip().upper(), unspecified)
    return unspecified
