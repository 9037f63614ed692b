"""URL query values and userinfo (``https://user:pass@host/p?email=...``).

Applies to every URL found in a string, and to the attributes listed in
``url_sanitizer.attributes`` whatever their shape: a full URL, a target
(``/search?q=...``) or a bare query (``url.query``: ``q=...&page=2``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from processors.redaction.detectors.base import Finding

RULE = "url"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,15}://[^\s\"'<>]+", re.ASCII)
_PARAM = re.compile(r"([^&;=#]*)=([^&;#]*)")
# For the raw scan: a URL with userinfo, or with a query parameter that has a value.
SCAN_PATTERNS = (
    r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@\"'<>]+@",
    r"[A-Za-z][A-Za-z0-9+.-]*://[^\s?#\"'<>]*\?[^\s#\"'<>]*=[^\s&;#\"'<>]",
)


def _query_findings(text: str, start: int, end: int) -> Iterator[Finding]:
    for m in _PARAM.finditer(text, start, end):
        if m.end(2) > m.start(2):
            yield Finding(m.start(2), m.end(2), RULE, m.group(2))


def _url_findings(text: str, start: int, end: int) -> Iterator[Finding]:
    """Findings of one URL spanning text[start:end]."""
    authority = text.find("://", start, end) + 3
    path_at = min((i for i in (text.find(c, authority, end) for c in "/?#") if i != -1), default=end)
    at = text.rfind("@", authority, path_at)
    if at != -1:
        yield Finding(authority, at, RULE, text[authority:at])
    yield from _target_findings(text, path_at, end)


def _target_findings(text: str, start: int, end: int) -> Iterator[Finding]:
    q = text.find("?", start, end)
    h = text.find("#", start, end)
    if q == -1 or -1 < h < q:  # no query, or a "?" inside the fragment
        return
    yield from _query_findings(text, q + 1, end if h == -1 else h)


def free_text_findings(text: str) -> list[Finding]:
    if "://" not in text:
        return []
    return [f for m in _URL.finditer(text) for f in _url_findings(text, m.start(), m.end())]


def attribute_findings(text: str, key: str) -> list[Finding]:
    """Findings of a value under a URL attribute (full URL, target or bare query)."""
    if "://" in text:
        return free_text_findings(text)
    if "?" in text:
        return list(_target_findings(text, 0, len(text)))
    if key.endswith("query"):
        return list(_query_findings(text, 0, len(text)))
    return []
