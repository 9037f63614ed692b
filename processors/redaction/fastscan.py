"""One multi-pattern scan over the raw request bytes, before anything is parsed.

Every rule contributes byte patterns; a request where none matches is clean
and is forwarded as it came. The scan must never miss what the exact rules
would find, so each byte pattern is derived from its rule's regex to match a
superset of it (``byte_pattern``): a string value's UTF-8 bytes sit verbatim in
the request, and a superset pattern that matches the value matches there too.

Hyperscan reports every match with its end offset, which tells which span,
log record or metric to look at. Without hyperscan (it is x86-64 only), an
RE2 set answers clean or dirty, and a dirty request is walked whole.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

try:  # hyperscan ships wheels for x86-64 only
    import hyperscan
except ImportError:  # pragma: no cover - exercised on other machines
    hyperscan = None

import re2

Engine = Literal["auto", "hyperscan", "re2"]

# One UTF-8 encoded character that is not ASCII, leniently (a lead byte and up to three more).
_NON_ASCII_CHAR = r"[\xc0-\xff][\x80-\xbf]{0,3}"
_ASSERTION_ESCAPES = frozenset("bBAZz")
_WIDE_ESCAPES = frozenset("WSD")  # classes that match non-ASCII characters too
_LOOKAROUNDS = ("(?=", "(?!", "(?<=", "(?<!")


class PatternError(ValueError):
    """A pattern the scan engine cannot use."""


def byte_pattern(regex: str) -> str:
    """A pattern over UTF-8 bytes that matches wherever ``regex`` matches a string.

    Python and RE2 match characters, the scan matches bytes, and the bytes
    around a value in a request are protobuf framing, not the value's
    neighbours. So:

    - zero-width assertions (``^ $ \\b \\B \\A \\Z``) and lookarounds are dropped:
      without them a pattern only matches more;
    - an atom that can match one non-ASCII character (``.``, ``[^...]``,
      ``\\W \\S \\D``) also matches one UTF-8 encoded character.

    The regex must be ASCII (``validate_scan_source``). Written by hand because
    no library rewrites a regex for this; ``tests/.../test_fastscan.py`` checks
    the superset property on the detectors' own corpus and on random strings.
    """
    out: list[str] = []
    i, n = 0, len(regex)
    while i < n:
        c = regex[i]
        if c == "\\":
            esc = regex[i + 1] if i + 1 < n else ""
            if esc in _ASSERTION_ESCAPES:
                i += 2
            elif esc in _WIDE_ESCAPES:
                out.append(f"(?:\\{esc}|{_NON_ASCII_CHAR})")
                i += 2
            else:
                out.append(regex[i:i + 2])
                i += 2
        elif c == "[":
            j = _class_end(regex, i)
            cls = regex[i:j]
            if cls.startswith("[^") or any(f"\\{e}" in cls for e in _WIDE_ESCAPES):
                out.append(f"(?:{cls}|{_NON_ASCII_CHAR})")
            else:
                out.append(cls)
            i = j
        elif c == "(" and regex.startswith(_LOOKAROUNDS, i):
            i = _group_end(regex, i)
        elif c in "^$":
            i += 1
        elif c == ".":
            out.append(f"(?:[\\x00-\\xff]|{_NON_ASCII_CHAR})")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _class_end(regex: str, i: int) -> int:
    """Index just past the character class that starts at ``regex[i] == '['``."""
    j = i + 1
    if j < len(regex) and regex[j] == "^":
        j += 1
    if j < len(regex) and regex[j] == "]":
        j += 1
    while j < len(regex):
        c = regex[j]
        if c == "\\":
            j += 2
            continue
        if c == "[" and regex.startswith("[:", j):
            j = regex.index(":]", j + 2) + 2
            continue
        if c == "]":
            return j + 1
        j += 1
    raise PatternError(f"unterminated character class in {regex!r}")


def _group_end(regex: str, i: int) -> int:
    """Index just past the group that starts at ``regex[i] == '('``."""
    depth, j = 0, i
    while j < len(regex):
        c = regex[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j = _class_end(regex, j)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise PatternError(f"unbalanced parentheses in {regex!r}")


@dataclass(frozen=True)
class ScanPattern:
    """A byte pattern and what a hit means.

    ``locate`` hits point at the value that matched. A hit of a pattern with
    ``locate=False`` (a string longer than the truncation limit) cannot be
    pinned down cheaply and sends the whole request to the walk.
    """

    rule: str
    regex: str  # already a byte pattern (see byte_pattern)
    locate: bool = True
    source: str = ""  # where it came from, for error messages: blocked_values[2]
    #: For a run of text bytes this long: RE2 cannot count that far, so its scanner
    #: looks for the run with bytes.translate and find instead of the regex.
    text_run: int = 0
    #: The same for a run of the bytes that break a text run (rules._CONTROL_BYTE).
    control_run: int = 0
    #: No literal to anchor on (digit runs, letter/digit shapes). Hyperscan scans these in
    #: a database of their own: mixed with the literal ones they slow the whole scan down.
    dense: bool = False


@dataclass
class ScanResult:
    clean: bool
    hits: list[int]  # end offsets of located hits, in order
    whole: bool  # walk every item: a non-locating hit, too many hits, or an engine that cannot locate


class Scanner:
    """The interface both engines share."""

    engine: str = "none"

    def scan(self, data: bytes) -> ScanResult:
        return ScanResult(True, [], False)


class HyperscanScanner(Scanner):
    engine = "hyperscan"

    def __init__(self, patterns: Sequence[ScanPattern], max_hits: int) -> None:
        self._patterns = list(patterns)
        self._dbs = []
        for dense in (False, True):
            ids = [i for i, p in enumerate(self._patterns) if p.dense == dense]
            if ids:
                self._dbs.append(self._compile(ids))
        self._whole_ids = frozenset(i for i, p in enumerate(self._patterns) if not p.locate)
        self._max_hits = max_hits
        self._local = threading.local()  # a hyperscan scratch serves one thread at a time

    def _compile(self, ids: list[int]) -> hyperscan.Database:
        patterns = [self._patterns[i] for i in ids]
        flags = [
            # Prefilter mode accepts what hyperscan cannot match exactly (back-references)
            # and still never misses; single-match keeps a long run from reporting every byte.
            hyperscan.HS_FLAG_PREFILTER | (0 if p.locate else hyperscan.HS_FLAG_SINGLEMATCH)
            for p in patterns
        ]
        return _compile_hyperscan(patterns, ids, flags)

    def _scratches(self) -> list:
        scratches = getattr(self._local, "scratches", None)
        if scratches is None:
            scratches = self._local.scratches = [hyperscan.Scratch(db) for db in self._dbs]
        return scratches

    def scan(self, data: bytes) -> ScanResult:
        hits: list[int] = []
        whole = False
        whole_ids, max_hits = self._whole_ids, self._max_hits

        def on_match(pattern_id: int, start: int, end: int, flags: int, context: object) -> bool | None:
            nonlocal whole
            if pattern_id in whole_ids or len(hits) >= max_hits:
                whole = True
                return True  # stop: the whole request will be walked anyway
            hits.append(end)
            return None

        for db, scratch in zip(self._dbs, self._scratches(), strict=True):
            try:
                db.scan(data, match_event_handler=on_match, scratch=scratch)
            except hyperscan.ScanTerminated:
                break
        if whole:
            hits = []
        return ScanResult(not hits and not whole, hits, whole)


def _compile_hyperscan(patterns: Sequence[ScanPattern], ids: list[int], flags: list[int]) -> hyperscan.Database:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(expressions=[p.regex.encode("ascii") for p in patterns], ids=ids, elements=len(ids), flags=flags)
    except hyperscan.error as exc:
        raise PatternError(_culprit(patterns, flags) or f"hyperscan cannot compile the scan patterns: {exc}") from None
    return db


def _culprit(patterns: Sequence[ScanPattern], flags: list[int]) -> str | None:
    """Name the first pattern hyperscan refuses on its own."""
    for p, f in zip(patterns, flags, strict=True):
        try:
            hyperscan.Database().compile(expressions=[p.regex.encode("ascii")], ids=[0], elements=1, flags=[f])
        except hyperscan.error as exc:
            # Not quoted: it may come from the environment, and rewritten it escapes scrubbing.
            return f"{p.source or p.rule}: the fast-path scan cannot use the pattern: {exc}"
    return None


class Re2Scanner(Scanner):
    """RE2's set answers only which patterns matched, not where: dirty means walk everything."""

    engine = "re2"

    def __init__(self, patterns: Sequence[ScanPattern]) -> None:
        options = re2.Options()
        options.encoding = re2.Options.Encoding.LATIN1  # bytes, as hyperscan sees them
        options.max_mem = 64 << 20
        self._set = re2.Set.SearchSet(options)
        self._runs = sorted({p.text_run for p in patterns if p.text_run})
        self._control_runs = sorted({p.control_run for p in patterns if p.control_run})
        regexes = [p for p in patterns if not p.text_run and not p.control_run]
        for p in regexes:
            try:
                self._set.Add(p.regex.encode("ascii"))
            except re2.error:
                raise PatternError(f"{p.source or p.rule}: the fast-path scan cannot use the pattern") from None
        self._empty = not regexes
        if regexes:
            self._set.Compile()

    def scan(self, data: bytes) -> ScanResult:
        dirty = (
            (not self._empty and bool(self._set.Match(data)))
            or any(_has_text_run(data, n) for n in self._runs)
            or any(_has_control_run(data, n) for n in self._control_runs)
        )
        return ScanResult(not dirty, [], dirty)


# Text bytes become 1, the bytes that break a run (see rules._TEXT_BYTE) become 0.
_RUN_BREAKERS = bytes(range(0x00, 0x09)) + bytes(range(0x0E, 0x1B)) + bytes(range(0x1C, 0x20))
_TEXT_RUN_TABLE = bytes(0 if b in _RUN_BREAKERS else 1 for b in range(256))


def _has_text_run(data: bytes, n: int) -> bool:
    return len(data) >= n and b"\x01" * n in data.translate(_TEXT_RUN_TABLE)


def _has_control_run(data: bytes, n: int) -> bool:
    return len(data) >= n and b"\x00" * n in data.translate(_TEXT_RUN_TABLE)


class ValueScreen:
    """Which of a list of patterns can match one value: a set of their indexes.

    The same superset byte patterns as the request scan, asked about a single
    string, so that a value runs only the detector patterns that might match it.
    """

    def __init__(self, patterns: Sequence[ScanPattern], engine: Engine = "auto") -> None:
        self._n = len(patterns)
        self._hs = None
        self._set = None
        if engine in ("auto", "hyperscan") and hyperscan is not None and patterns:
            flags = [hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_SINGLEMATCH] * self._n
            self._hs = _compile_hyperscan(patterns, list(range(self._n)), flags)
            self._local = threading.local()
        elif patterns:
            options = re2.Options()
            options.encoding = re2.Options.Encoding.LATIN1
            self._set = re2.Set.SearchSet(options)
            for p in patterns:
                try:
                    self._set.Add(p.regex.encode("ascii"))
                except re2.error:
                    raise PatternError(f"{p.source or p.rule}: the value screen cannot use the pattern") from None
            self._set.Compile()

    def __call__(self, value: str) -> set[int]:
        data = value.encode("utf-8", "surrogatepass")
        if self._hs is not None:
            found: set[int] = set()
            scratch = getattr(self._local, "scratch", None)
            if scratch is None:
                scratch = self._local.scratch = hyperscan.Scratch(self._hs)
            self._hs.scan(data, match_event_handler=lambda i, *_: found.add(i), scratch=scratch)
            return found
        if self._set is not None:
            return set(self._set.Match(data) or ())
        return set()


def build_scanner(patterns: Sequence[ScanPattern], *, engine: Engine = "auto", max_hits: int = 1024) -> Scanner:
    if not patterns:
        return Scanner()
    if engine == "hyperscan" and hyperscan is None:
        raise PatternError("scan_engine is hyperscan, but the hyperscan module is not installed (x86-64 only)")
    if engine in ("auto", "hyperscan") and hyperscan is not None:
        return HyperscanScanner(patterns, max_hits)
    return Re2Scanner(patterns)
