"""What may appear in a log record or span attribute (the PII policy of services/obs/README.md).

Never message bodies, file keys, tokens, emails or exact geo; arrays and maps
over 10 items are truncated. Values are judged by the key they sit under
(``BLOCKED_KEY``, ``GEO_KEY``) and, for strings, by their shape
(``scrub_text``). This is the service-side first line; the pipeline's
redaction processor is the second. The blocked keys, the mask and the limits
are the ones both share (``contracts.pii``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from contracts import pii

MAX_ITEMS = pii.MAX_ITEMS
MAX_STRING = pii.MAX_STRING_LENGTH
REDACTED = pii.MASK
TRUNCATED_KEY = "truncated_items"

# Key names whose values are never kept: the processor's blocked keys and the ones only the SDK blocks.
BLOCKED_KEY = re.compile(
    "|".join(f"(?:{p})" for p in (*pii.BLOCKED_KEY_PATTERNS, *pii.SDK_BLOCKED_KEY_PATTERNS)), re.IGNORECASE
)
# Key names whose numeric values are coordinates: kept, but coarsened.
GEO_KEY = re.compile(r"(?:^|[._\-])(?:lat|lng|lon|long|latitude|longitude)(?:$|[._\-])|^geo\.", re.IGNORECASE)
_MEASURE_KEY = re.compile(r"(?:size|length|count|_len)$", re.IGNORECASE)
# About 11 km: enough for a region dashboard, not enough to find a person.
GEO_DECIMALS = 1

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=\-]+", re.IGNORECASE)
_QUERY_VALUE = re.compile(r"([?&][^=&#\s?]+)=([^&#\s]*)")
_URL_USERINFO = re.compile(r"(\w+://)[^/@\s:]+(?::[^/@\s]*)?@")
_COORD_PAIR = re.compile(r"(-?\d{1,3}\.\d{2,})(\s*,\s*)(-?\d{1,3}\.\d{2,})")


def _coarse(m: re.Match[str]) -> str:
    return f"{round(float(m.group(1)), GEO_DECIMALS)}{m.group(2)}{round(float(m.group(3)), GEO_DECIMALS)}"


def scrub_text(value: str) -> str:
    """A string with emails, tokens, URL query values, userinfo and coordinate pairs taken out."""
    value = pii.truncate(value, MAX_STRING)
    # Cheap gates first: most strings (routes, ids, status words) have none of these characters.
    if "@" in value:
        value = _EMAIL.sub("[EMAIL]", _URL_USERINFO.sub(r"\1", value))
    if "eyJ" in value:
        value = _JWT.sub("[JWT]", value)
    if " " in value:
        value = _BEARER.sub(r"\1 " + REDACTED, value)
    if "=" in value and ("?" in value or "&" in value):
        value = _QUERY_VALUE.sub(r"\1=" + REDACTED, value)
    if "," in value and "." in value:
        value = _COORD_PAIR.sub(_coarse, value)
    return value


def coarsen_geo(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return round(float(value), GEO_DECIMALS)
    if isinstance(value, str):
        try:
            return str(round(float(value), GEO_DECIMALS))
        except ValueError:
            return REDACTED
    return REDACTED


PLAIN, BLOCKED, BLOCKED_MEASURE, GEO = range(4)


@lru_cache(maxsize=4096)
def key_policy(key: str) -> int:
    """How values under ``key`` are treated; keys repeat endlessly, so the answer is cached."""
    if BLOCKED_KEY.search(key):
        # A size or count of a blocked thing (http.request.body.size) reveals nothing.
        return BLOCKED_MEASURE if _MEASURE_KEY.search(key) else BLOCKED
    return GEO if GEO_KEY.search(key) else PLAIN


def scrub_value(key: str, value: Any, *, depth: int = 0) -> Any:
    """The value that may be kept under ``key``: blocked, coarsened, truncated or scrubbed."""
    policy = key_policy(key)
    if policy == BLOCKED or (policy == BLOCKED_MEASURE and not isinstance(value, int)):
        return REDACTED
    if policy == GEO:
        return coarsen_geo(value)
    if isinstance(value, str):
        return scrub_text(value)
    if depth > 3:
        return REDACTED
    if isinstance(value, Mapping):
        return scrub_mapping(value, depth=depth + 1)
    if isinstance(value, (list, tuple)):
        return [scrub_value(key, v, depth=depth + 1) for v in value[:MAX_ITEMS]]
    return value


def scrub_mapping(values: Mapping[str, Any], *, depth: int = 0) -> dict[str, Any]:
    """A scrubbed copy, truncated to ``MAX_ITEMS`` keys with the rest counted."""
    out: dict[str, Any] = {}
    for i, (k, v) in enumerate(values.items()):
        if i == MAX_ITEMS:
            out[TRUNCATED_KEY] = len(values) - MAX_ITEMS
            break
        out[str(k)] = scrub_value(str(k), v, depth=depth)
    return out


def anonymise_ip(ip: str | None) -> str | None:
    """The network part only: IPv4 /24, IPv6 /48."""
    if not ip:
        return None
    if ":" in ip:
        return ":".join(ip.split(":")[:3]) + "::"
    parts = ip.split(".")
    return ".".join(parts[:3] + ["0"]) if len(parts) == 4 else None
