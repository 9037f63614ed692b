"""``db.statement`` sanitising: literals out, shape kept.

SQL keeps its keywords, identifiers and placeholders; string, numeric, hex and
boolean-free literals become ``?``. Redis keeps its command name only, as the
redis instrumentation already does, so a client instrumented elsewhere is
sanitised the same way.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Strings and comments in one pass, leftmost first: `--` inside a string is not a
# comment, and a quote inside a comment does not open a string.
_SQL_STRING_OR_COMMENT = re.compile(
    r"(?P<string>E'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|\$\$.*?\$\$)|(?P<comment>/\*.*?\*/|--[^\n]*)", re.DOTALL)
_SQL_NUMBER = re.compile(r"(?<![\w$:.?])-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])")
_SQL_IN_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_MAX_LEN = 2048


def sanitize_sql(statement: str) -> str:
    out = _SQL_STRING_OR_COMMENT.sub(lambda m: "?" if m.group("string") is not None else " ", statement)
    out = _SQL_NUMBER.sub("?", out)
    out = _SQL_IN_LIST.sub("(?)", out)
    out = " ".join(out.split())
    return out[:_MAX_LEN]


def sanitize_redis(statement: str) -> str:
    parts = statement.split()
    if not parts:
        return ""
    return " ".join([parts[0], *("?" for _ in parts[1:])])


# Statements repeat endlessly (the same few hundred texts per app): each is worked out once.
@lru_cache(maxsize=2048)
def sanitize_statement(statement: str, db_system: str | None) -> str:
    """The statement as it may be exported, for the given ``db.system``."""
    if db_system == "redis":
        return sanitize_redis(statement)
    return sanitize_sql(statement)
