"""The PII key policy that the ``obs`` SDK (the first line, in each service) and the redaction processor (the
second, in the pipeline) share, so that a value is replaced the same way on either side.

The values are those a user of the Collector's redactionprocessor expects: ``****`` as the mask, strings cut
to 4096 characters, arrays and maps to 10 items.
"""

from __future__ import annotations

MASK = "****"
MAX_STRING_LENGTH = 4096  # characters kept of a string, the last one becoming TRUNCATION_MARK
TRUNCATION_MARK = "…"
MAX_ITEMS = 10  # items kept of an array or a map

# Keys whose values are replaced whatever they hold: message bodies, file keys, tokens and the usual
# credentials. Regexes searched anywhere in the key, ignoring case (RE2 and Python ``re`` alike).
BLOCKED_KEY_PATTERNS: tuple[str, ...] = (
    r"passw(?:or)?d|passphrase",
    r"secret",
    r"(?:^|[._-]|[a-z])token(?:$|[^a-z])|csrf|xsrf",
    r"authori[sz]ation",
    r"cookie",
    r"signature",
    r"api[._-]?key|access[._-]?key|private[._-]?key",
    r"(?:^|[._-])(?:file|object|s3|blob|storage)[._-]?key(?:$|[._-])",
    r"(?:^|[._-])(?:message|msg)[._-]?(?:body|text|content)$|(?:^|[._-])body$",
)
# Blocked by key in the SDK as well: the processor finds emails, phone numbers and JWTs by their shape in any
# value, and scans free text, which the SDK (with no phone detector, and no context to judge text) cannot.
SDK_BLOCKED_KEY_PATTERNS: tuple[str, ...] = (
    r"(?:^|[._-])(?:body|text|content|email|e_mail|phone|jwt)(?:$|[._-])",
)

# Keys whose whole value is an SQL statement: its literals are replaced, the rest kept.
SQL_STATEMENT_KEYS: tuple[str, ...] = ("db.statement", "db.query.text")


def truncate(text: str, limit: int = MAX_STRING_LENGTH) -> str:
    """``text`` cut to ``limit`` characters, the last one becoming the mark; 0 = no limit."""
    if not limit or len(text) <= limit:
        return text
    return text[:limit - 1] + TRUNCATION_MARK
