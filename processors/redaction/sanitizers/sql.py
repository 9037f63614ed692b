"""SQL literals: strings, numbers and hex constants become ``?`` (as the
Collector's database obfuscators do), so the statement's shape survives and
the values do not. Identifiers, placeholders (``$1``, ``:name``, ``?``) and
keywords are kept.

Under ``db.statement`` / ``db.query.text`` the whole value is a statement.
In any other string (a log body, an exception message) a statement is looked
for, conservatively: a statement head (``SELECT … FROM``, ``INSERT INTO``,
``UPDATE … SET``, ``DELETE FROM``) followed by a quoted literal that an SQL
operator introduces (``= 'x'``, ``LIKE 'x%'``, ``VALUES ('x'``, ``IN ('x'``).
Prose with a quote ("select an item from the list and click 'Buy'") has no
such operator before its quote and is left alone. Only the text from the
statement head on is sanitised.
"""

from __future__ import annotations

import re

from processors.redaction.detectors.base import Finding

RULE = "sql"
PLACEHOLDER = "?"
_LITERAL = re.compile(
    r"'(?:[^'\\]|\\.|'')*'"                              # 'string', 'it''s', E'\n'
    r"|(?<![\w$.:])0[xX][0-9A-Fa-f]+(?![\w.])"            # 0xBEEF
    r"|(?<![\w$.:])[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![\w.])",  # 42, 3.14, 1e9
    re.ASCII | re.DOTALL,
)
_IDENT = r"[A-Za-z_\"`\[][\w.\"`\[\]]*"
_HEAD = re.compile(
    rf"(?i)(?<![\w.])(?:select\s[\s\S]{{1,500}}?\sfrom\s+{_IDENT}|insert\s+into\s+{_IDENT}"
    rf"|update\s+{_IDENT}\s+set\s+{_IDENT}\s*=|delete\s+from\s+{_IDENT}|(?:replace|upsert)\s+into\s+{_IDENT})",
    re.ASCII,
)
# A quoted literal as an operand: after a comparison, a comma or an opening parenthesis, LIKE or
# ILIKE, with an optional prefix letter (N'', E'', B'', X'').
OPERAND_LITERAL = r"(?:[=<>,(]|(?i:like))\s*[A-Za-z]?'"
_OPERAND_LITERAL = re.compile(OPERAND_LITERAL, re.ASCII)
#: For the raw scan and the value screen: what every statement found in text has.
SCAN_PATTERNS = (OPERAND_LITERAL,)


def findings(text: str, start: int = 0) -> list[Finding]:
    """The literals of a statement, from ``start`` on."""
    return [Finding(m.start(), m.end(), RULE, m.group()) for m in _LITERAL.finditer(text, start)]


def statement_at(text: str) -> int:
    """Where the first SQL statement with a literal operand starts in free text; -1 for none."""
    for head in _HEAD.finditer(text):
        # From the head's start: its own last character may be the operator (UPDATE t SET c =).
        if _OPERAND_LITERAL.search(text, head.start()):
            return head.start()
    return -1


def free_text_findings(text: str) -> list[Finding]:
    """The literals of the statements in a string that is not itself a statement."""
    at = statement_at(text)
    return findings(text, at) if at != -1 else []
