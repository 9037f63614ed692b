"""The compiled rules: what a key means, and what a string value becomes.

Both answers are pure functions of the config, so both are cached: keys repeat
in every span, and so do many values (routes, statuses, hosts). A value's
verdict is computed once: detectors propose, validators confirm, overlapping
findings are resolved, and each finding's operator writes its stand-in.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Callable, Iterator, KeysView
from dataclasses import dataclass
from typing import Any, NamedTuple

import re2

from processors.redaction.audit import SUMMARY_KEYS
from processors.redaction.config import OTHER_RULES, RedactionConfig
from processors.redaction.detectors import DETECTORS, Detector, Finding, context_tokens
from processors.redaction.detectors.geo import GeoDetector
from processors.redaction.fastscan import ScanPattern, ValueScreen, byte_pattern
from processors.redaction.operators import (
    HashOperator,
    MaskOperator,
    Operator,
    RedactOperator,
)
from processors.redaction.sanitizers import sql as sql_sanitizer
from processors.redaction.sanitizers import url as url_sanitizer

MASK = "****"
ROUND = "round"
# Longer values are looked at every time: they seldom repeat, and would fill the cache.
CACHE_MAX_VALUE_LENGTH = 1024
KEY_CACHE_SIZE = 4096

# Structural triggers for truncation, on protobuf framing rather than on text:
# a KeyValue's value (0x12) or a log body (0x2a) that is an array (0x2a) or a map
# (0x32) with a first element (0x0a). Hand-written from the OTLP field numbers.
_VARINT = r"[\x80-\xff]{0,4}[\x00-\x7f]"
ARRAY_OR_MAP_VALUE = rf"[\x12\x2a]{_VARINT}[\x2a\x32]{_VARINT}\x0a"
# A run of text bytes as long as the string limit (C0 controls other than tab,
# newline, carriage return and escape break a run, and so do protobuf tags).
_TEXT_BYTE = r"[^\x00-\x08\x0e-\x1a\x1c-\x1f]"
# A string of those control bytes alone (NUL padding, say) is no run of text, so a run of them as
# long as the limit is looked for too. A string that alternates the two kinds more often than the
# limit is cut only when its request is walked for another reason.
_CONTROL_BYTE = r"[\x00-\x08\x0e-\x1a\x1c-\x1f]"


# Owners of value-screen patterns that are not detectors.
_BLOCKED_VALUES, _URL, _SQL = -1, -2, -3
# Rules whose findings spread to the rest of a record (taint): what they hide is a value, not a
# shape. Geo only rounds; URL and SQL sanitisers hide parameters of every kind (page=2).
_NO_SPREAD = frozenset({"geo", "url", "sql"})
TAINT = "taint"
_PARAMS = re.compile(r"[;&,]\s*")


class Mode(enum.IntEnum):
    """How a string value is read besides the detectors."""

    TEXT = 0
    URL = 1  # a URL attribute: full URL, target or query
    URL_QUERY = 2  # a URL attribute that is a bare query string (url.query)
    SQL = 3


class KeyAction(enum.IntEnum):
    VALUE = 0  # look at the value
    IGNORE = 1  # pass through untouched
    DROP = 2  # not on the allow-list: remove
    BLOCK = 3  # a blocked key: replace the whole value
    RENAME = 4  # the key itself holds a finding: rewrite it, then apply ``inner`` to the value


@dataclass(frozen=True, slots=True)
class KeyRule:
    action: KeyAction
    context: int = 0  # bit i set: the key names a context word of detector i
    mode: Mode = Mode.TEXT
    geo: bool = False  # numbers under this key are coordinates
    rename: Rewrite | None = None  # RENAME: the key's verdict
    inner: KeyRule | None = None  # RENAME: the rule for the value, as the original key reads


TEXT = KeyRule(KeyAction.VALUE)


class Rewrite(NamedTuple):
    """A value's verdict: its new text, whether a keyed entry goes whole, and what was found."""

    text: str
    drop: bool
    counts: tuple[tuple[str, str], ...]  # (rule, action) per finding
    #: (text, rule, normalized) of the findings that spread to the rest of the record (see Taint).
    spread: tuple[tuple[str, str, str], ...] = ()


class CacheStats(NamedTuple):
    hits: int
    misses: int
    maxsize: int | None
    currsize: int


class RuleSet:
    def __init__(self, config: RedactionConfig, *, screen: bool = True) -> None:
        """``screen=False`` runs every detector pattern on every value (tests compare the two)."""
        self.config = config
        self.detectors: list[Detector] = []
        for kind, cls in DETECTORS.items():  # priority order
            if kind in config.detectors:
                self.detectors.append(GeoDetector(precision=config.geo_precision) if cls is GeoDetector else cls())
        self.geo = next((d for d in self.detectors if isinstance(d, GeoDetector)), None)
        self._priority = {d.kind: i for i, d in enumerate(self.detectors)}
        self.blocked_keys = _compile_all(config.blocked_keys, "blocked_keys")
        self.blocked_values = _compile_all(config.blocked_values, "blocked_values")
        self.allowed_values = _compile_all(config.allowed_values, "allowed_values")
        self.ignored = frozenset(config.ignored_keys) | SUMMARY_KEYS
        self.allowed = None if config.allow_all_keys else frozenset(config.allowed_keys) | SUMMARY_KEYS
        self.url_keys = frozenset(config.url_sanitizer.attributes) if config.url_sanitizer.enabled else frozenset()
        sql = config.db_sanitizer.sql
        self.sql_keys = frozenset(sql.attributes) if sql.enabled else frozenset()
        self.sql_free_text = sql.enabled and sql.free_text
        self.taint_min_length = config.taint.min_length if config.taint.enabled else 0
        self.actions = self._operators(config)
        self._screen_targets, screen_patterns = self._screen_patterns()
        self._screen = ValueScreen(screen_patterns if screen else [], config.scan_engine)
        self._screened = screen

        self.key_rule: Callable[[str], KeyRule] = functools.lru_cache(KEY_CACHE_SIZE)(self._key_rule)
        #: The verdict for values up to CACHE_MAX_VALUE_LENGTH, through the cache.
        self.cached_rewrite: Callable[[str, int, Mode], Rewrite | None] = (
            functools.lru_cache(config.cache_size)(self._rewrite) if config.cache_size else self._rewrite
        )

    # --- keys -----------------------------------------------------------------

    def _key_rule(self, key: str) -> KeyRule:
        if key in self.ignored:
            return KeyRule(KeyAction.IGNORE)
        if self.allowed is not None and key not in self.allowed:
            return KeyRule(KeyAction.DROP)
        if any(rx.search(key) for rx in self.blocked_keys):
            return self._renamed(key, KeyRule(KeyAction.BLOCK))
        tokens = context_tokens(key)
        context = sum(1 << i for i, d in enumerate(self.detectors) if d.context and d.in_context(tokens))
        geo = self.geo is not None and self.geo.in_context(tokens)
        if key in self.sql_keys:
            mode = Mode.SQL
        elif key in self.url_keys:
            mode = Mode.URL_QUERY if key.endswith("query") else Mode.URL
        else:
            mode = Mode.TEXT
        rule = TEXT if not context and mode is Mode.TEXT else KeyRule(KeyAction.VALUE, context, mode, geo)
        return self._renamed(key, rule)

    def _renamed(self, key: str, rule: KeyRule) -> KeyRule:
        """A key that holds a finding itself (``user.anna@example.org.visits``) is rewritten too."""
        verdict = self._rewrite(key, 0, Mode.TEXT)
        return rule if verdict is None else KeyRule(KeyAction.RENAME, rename=verdict, inner=rule)

    # --- values ---------------------------------------------------------------

    def rewrite(self, value: str, context: int = 0, mode: Mode = Mode.TEXT) -> Rewrite | None:
        """The verdict on a string value; None when nothing in it is sensitive."""
        if len(value) <= CACHE_MAX_VALUE_LENGTH:
            return self.cached_rewrite(value, context, mode)
        return self._rewrite(value, context, mode)

    def cache_info(self) -> CacheStats:
        info = getattr(self.cached_rewrite, "cache_info", None)
        return CacheStats(*info()) if info else CacheStats(0, 0, 0, 0)

    def _rewrite(self, value: str, context: int, mode: Mode) -> Rewrite | None:
        found = self.findings(value, context, mode)
        if not found:
            return None
        out: list[str] = []
        counts: list[tuple[str, str]] = []
        spread: list[tuple[str, str, str]] = []
        drop = False
        pos = 0
        min_spread = self.taint_min_length
        for f in found:
            action, op, placeholder = self.actions[f.rule]
            if action == ROUND:
                replacement = self.geo.transform(value[f.start:f.end])
            else:
                replacement = op.replace(f.normalized, placeholder)
                drop = drop or op.drops_entry
                if min_spread and f.end - f.start >= min_spread and f.rule not in _NO_SPREAD:
                    spread.append((value[f.start:f.end], f.rule, f.normalized))
            out.append(value[pos:f.start])
            out.append(replacement)
            pos = f.end
            counts.append((f.rule, action))
        out.append(value[pos:])
        return Rewrite("".join(out), drop, tuple(counts), tuple(spread))

    def findings(self, value: str, context: int = 0, mode: Mode = Mode.TEXT) -> list[Finding]:
        """Every validated finding in a value, overlaps resolved, in order."""
        found: list[Finding] = []
        # The screen says which patterns could match at all; only those run (and every
        # pattern of a detector whose context the key names).
        candidates: dict[int, list[Any]] = {}
        if self._screened:
            for index in self._screen(value):
                owner, item = self._screen_targets[index]
                candidates.setdefault(owner, []).append(item)
        else:
            for owner, item in self._screen_targets:
                candidates.setdefault(owner, []).append(item)
        for i, detector in enumerate(self.detectors):
            if context >> i & 1:
                found.extend(detector.analyze(value, True))
            elif i in candidates:
                found.extend(detector.analyze(value, False, tuple(candidates[i])))
        for rx in candidates.get(_BLOCKED_VALUES, ()):
            found.extend(Finding(m.start(), m.end(), "blocked_value", m.group())
                         for m in rx.finditer(value) if m.end() > m.start())
        if mode is Mode.URL or mode is Mode.URL_QUERY:
            found.extend(url_sanitizer.attribute_findings(value, "query" if mode is Mode.URL_QUERY else ""))
        elif _URL in candidates:
            found.extend(url_sanitizer.free_text_findings(value))
        if mode is Mode.SQL:
            found.extend(sql_sanitizer.findings(value))
        elif _SQL in candidates and self.sql_free_text:
            found.extend(sql_sanitizer.free_text_findings(value))
        if self.allowed_values:
            found = [f for f in found if not any(rx.search(value[f.start:f.end]) for rx in self.allowed_values)]
        return self._resolve(found, value) if len(found) > 1 else found

    def _resolve(self, found: list[Finding], value: str) -> list[Finding]:
        """Non-overlapping findings. Overlapping ones merge into one that covers both, so no
        part of either survives; it takes the rule of the longer (then the detector listed first)."""
        rank = self._priority
        found.sort(key=lambda f: (f.start, f.start - f.end, rank.get(f.rule, len(rank))))
        chosen: list[Finding] = []
        for f in found:
            if not chosen or f.start >= chosen[-1].end:
                chosen.append(f)
                continue
            last = chosen[-1]
            if f.end <= last.end:
                continue  # inside the one already chosen
            lead, other = (f, last) if f.end - f.start > last.end - last.start else (last, f)
            # Geo only rounds numbers: a merge with anything else takes the other rule.
            rule = other.rule if lead.rule == "geo" else lead.rule
            chosen[-1] = Finding(last.start, f.end, rule, value[last.start:f.end])
        return chosen

    def taint(self) -> Taint:
        """An empty set of values to spread over one record (or request)."""
        return Taint(self)

    def whole_value(self, rule: str, text: str | None, data: bytes) -> tuple[str, bool, str]:
        """The stand-in for a whole value (a blocked key): (text, drop the entry, action)."""
        action, op, placeholder = self.actions[rule]
        if text is not None:
            return op.replace(text, placeholder), op.drops_entry, action
        return op.replace_bytes(data, placeholder), op.drops_entry, action

    # --- the raw scan ---------------------------------------------------------

    def scan_patterns(self) -> list[ScanPattern]:
        """Byte patterns that together match wherever any rule could act."""
        patterns: list[ScanPattern] = []
        for d in self.detectors:
            patterns += [ScanPattern(d.kind, byte_pattern(p.scan or p.regex), dense=d.DENSE)
                         for p in d.patterns if not p.needs_context]
            if any(p.needs_context for p in d.patterns):
                patterns += [ScanPattern(f"{d.kind}:context", _context_word(w)) for w in d.context]
        patterns += [ScanPattern("blocked_key", byte_pattern(p), source=f"blocked_keys[{i}]")
                     for i, p in enumerate(self.config.blocked_keys)]
        patterns += [ScanPattern("blocked_value", byte_pattern(p), source=f"blocked_values[{i}]")
                     for i, p in enumerate(self.config.blocked_values)]
        if self.config.url_sanitizer.enabled:
            patterns += [ScanPattern("url", byte_pattern(p)) for p in url_sanitizer.SCAN_PATTERNS]
        patterns += [ScanPattern("url", re.escape(k)) for k in sorted(self.url_keys)]
        patterns += [ScanPattern("sql", re.escape(k)) for k in sorted(self.sql_keys)]
        if self.sql_free_text:
            patterns += [ScanPattern("sql", byte_pattern(p)) for p in sql_sanitizer.SCAN_PATTERNS]
        truncation = self.config.truncation
        if truncation.max_items:
            patterns.append(ScanPattern("truncation", ARRAY_OR_MAP_VALUE, dense=True))
        if truncation.max_string_length:
            n = truncation.max_string_length
            patterns.append(ScanPattern("truncation", f"{_TEXT_BYTE}{{{n}}}", locate=False, text_run=n))
            patterns.append(ScanPattern("truncation", f"{_CONTROL_BYTE}{{{n}}}", locate=False, control_run=n))
        return patterns

    def _screen_patterns(self) -> tuple[list[tuple[int, Any]], list[ScanPattern]]:
        """The value screen's patterns, each with what it stands for: (detector index, Pattern),
        (_BLOCKED_VALUES, compiled regex) or (_URL, None)."""
        targets: list[tuple[int, Any]] = []
        patterns: list[ScanPattern] = []
        for i, d in enumerate(self.detectors):
            for p in d.patterns:
                if not p.needs_context:
                    targets.append((i, p))
                    patterns.append(ScanPattern(d.kind, byte_pattern(p.scan or p.regex)))
        for n, (rx, p) in enumerate(zip(self.blocked_values, self.config.blocked_values, strict=True)):
            targets.append((_BLOCKED_VALUES, rx))
            patterns.append(ScanPattern("blocked_value", byte_pattern(p), source=f"blocked_values[{n}]"))
        if self.config.url_sanitizer.enabled:
            for p in url_sanitizer.SCAN_PATTERNS:
                targets.append((_URL, None))
                patterns.append(ScanPattern("url", byte_pattern(p)))
        if self.sql_free_text:
            for p in sql_sanitizer.SCAN_PATTERNS:
                targets.append((_SQL, None))
                patterns.append(ScanPattern("sql", byte_pattern(p)))
        return targets, patterns

    # --- operators -------------------------------------------------------------

    def _operators(self, config: RedactionConfig) -> dict[str, tuple[str, Operator | None, str]]:
        key = config.hash_key.get_secret_value().encode() if config.hash_key is not None else None
        built: dict[str, Operator] = {"mask": MaskOperator(), "redact": RedactOperator()}
        rules = [d.kind for d in self.detectors] + list(OTHER_RULES)
        actions: dict[str, tuple[str, Operator | None, str]] = {}
        for rule in rules:
            name = config.operator_for(rule)
            if name == "hash" and "hash" not in built:
                if key is None:  # the config refuses this already; keep the processor honest on its own
                    raise ValueError("hash_key: required when an operator is hash")
                built["hash"] = HashOperator(key)
            placeholder = sql_sanitizer.PLACEHOLDER if rule == "sql" else MASK
            actions[rule] = (name, built.get(name), placeholder)
        return actions


class Taint:
    """Values replaced in one record, replaced wherever else they appear in it verbatim.

    A password under a blocked key, or a token a detector found, is often repeated in the
    text beside it ("login failed for bob with hunter2-x"), where no rule would recognise
    it. Each value keeps the operator of the rule that found it, so a hashed value still
    hashes alike. A value shorter than ``taint.min_length`` never spreads (a flag, a
    count), and a value whose ends are letters or digits spreads only to whole words of it.
    """

    __slots__ = ("_index", "_key_len", "_rules", "_values")

    # Up to this many tainted texts, `text in s` per text (C loops) finds them fastest; past it a
    # prefix index reads each string once, so a record with thousands of secrets stays linear.
    _FEW = 16

    def __init__(self, rules: RuleSet) -> None:
        self._rules = rules
        self._values: dict[str, tuple[str, str]] = {}
        # First characters of each text -> the texts that start so, the longest first.
        self._index: dict[str, list[str]] = {}
        self._key_len = max(1, min(4, rules.taint_min_length or 1))

    def __bool__(self) -> bool:
        return bool(self._values)

    def texts(self) -> KeysView[str]:
        """The tainted texts, as they appear verbatim (a live, read-only view)."""
        return self._values.keys()

    def add(self, text: str, rule: str, normalized: str) -> None:
        """Spread ``text``, replaced by ``rule``'s operator of ``normalized``."""
        n = self._rules.taint_min_length
        if n and len(text) >= n and text not in self._values and text.strip() and text != MASK:
            self._values[text] = (rule, normalized)
            bucket = self._index.setdefault(text[: self._key_len], [])
            bucket.append(text)
            bucket.sort(key=len, reverse=True)

    def add_whole(self, text: str, rule: str) -> None:
        """A whole value replaced under a blocked key. A cookie or a query (``sid=x; theme=y``,
        ``a=x&b=y``) spreads its parameter values too: the text beside it repeats those."""
        self.add(text, rule, text)
        if "=" in text:
            for part in _PARAMS.split(text):
                _, eq, value = part.partition("=")
                value = value.strip().strip("\"'")
                if eq and value:
                    self.add(value, rule, value)

    def add_rewrite(self, r: Rewrite) -> None:
        for text, rule, normalized in r.spread:
            self.add(text, rule, normalized)

    def update(self, other: Taint) -> None:
        for text, (rule, normalized) in other._values.items():
            self.add(text, rule, normalized)

    def _matches(self, s: str) -> Iterator[tuple[int, int, str]]:
        """(start, end, text) of each tainted text in ``s``, leftmost first and the longest at a
        place, a text whose end is a letter or digit only as a whole word there."""
        k, index, n, i = self._key_len, self._index, len(s), 0
        while i <= n - k:
            found = None
            for text in index.get(s[i:i + k], ()):
                end = i + len(text)
                if s.startswith(text, i) and _bounded(s, i, end, text):
                    found = text
                    break
            if found is None:
                i += 1
                continue
            yield i, i + len(found), found
            i += len(found)

    def rewrite(self, s: str) -> Rewrite | None:
        """``s`` with every tainted value replaced; None when it holds none."""
        if not self._values or not s:
            return None
        if len(self._values) <= self._FEW and not any(text in s for text in self._values):
            return None  # no tainted text occurs in s
        out: list[str] = []
        counts: list[tuple[str, str]] = []
        drop = False
        pos = 0
        actions = self._rules.actions
        for start, end, text in self._matches(s):
            rule, normalized = self._values[text]
            action, op, placeholder = actions[rule]
            out.append(s[pos:start])
            out.append(op.replace(normalized, placeholder))
            drop = drop or op.drops_entry
            counts.append((TAINT, action))
            pos = end
        if not counts:
            return None
        out.append(s[pos:])
        return Rewrite("".join(out), drop, tuple(counts))


def _word_char(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _bounded(s: str, start: int, end: int, text: str) -> bool:
    """A text that starts (ends) with a letter or digit is not preceded (followed) by one."""
    if _word_char(text[0]) and start > 0 and _word_char(s[start - 1]):
        return False
    return not (_word_char(text[-1]) and end < len(s) and _word_char(s[end]))


def _compile_all(patterns: list[str], key: str) -> list[Any]:
    compiled = []
    for i, p in enumerate(patterns):
        try:
            compiled.append(re2.compile(p))
        except re2.error as exc:
            raise ValueError(f"{key}[{i}]: {exc}") from None
    return compiled


def _context_word(word: str) -> str:
    """Bytes of a key that names ``word`` (as context_tokens reads keys), case-insensitively.

    A token of a key has a separator on at least one side, or the key's length byte before it
    (not a letter or digit for keys under 48 bytes). The byte after a key is not the key's: the
    Collector's Go encoder writes a KeyValue's value first and its key last, so what follows a
    key is the next field's tag ("J" after a span attribute) or the next resource entry. The
    boundary before the word comes first so that its hit ends inside the key, where locating
    pins the item."""
    tokens = [t for t in re.split(r"[^A-Za-z0-9]+", word) if t]
    body = "[^A-Za-z0-9]+".join(tokens)
    return f"(?i)(?:[^A-Za-z0-9]{body}|{body}[^A-Za-z0-9])"


__all__ = ["TAINT", "TEXT", "KeyAction", "KeyRule", "Mode", "Rewrite", "RuleSet", "Taint"]
