"""SQL literals in ``db.statement`` / ``db.query.text``: strings, numbers and
hex constants become ``?`` (as the Collector's database obfuscators do), so the
statement's shape survives and the values do not. Identifiers, placeholders
(``$1``, ``:name``, ``?``) and keywords are kept."""

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


def findings(text: str) -> list[Finding]:
    return [Finding(m.start(), m.end(), RULE, m.group()) for m in _LITERAL.finditer(text)]
