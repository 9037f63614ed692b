"""What every detector shares: patterns that propose a match, context words
that unlock the weak ones, and a validator that confirms or rejects it.

A detector proposes candidates with its ``PATTERNS``; ``validate_result``
(a checksum, a parser) moves a candidate's score to MAX (True) or drops it
(False), or leaves the pattern's score (None). A candidate is kept when its
score reaches ``MIN_SCORE``. Patterns marked ``needs_context`` (a bare digit
run, a lone decimal number) only run for values under a key that names one of
the detector's ``CONTEXT`` words (``wa_id``, ``geo.location.lat``).

Patterns are Python regexes with ASCII classes. The raw-bytes scan of the
fast path derives its own byte pattern from each one (see ``fastscan``), or
uses the pattern's ``scan`` regex, a cheaper necessary condition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

MIN_SCORE = 0.5
MAX_SCORE = 1.0
PII_GROUP = "pii"  # a named group that narrows what gets replaced (the token after "Bearer ")


@dataclass(frozen=True)
class Pattern:
    """One way a detector recognises its kind: a regex and how much a bare match is worth."""

    name: str
    regex: str
    score: float
    needs_context: bool = False
    #: A cheaper regex for the raw scan, when the full one is slow there. It must match
    #: wherever ``regex`` matches (tests check this on the corpus and on random text).
    scan: str | None = None
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"pattern {self.name!r}: score must be in [0, 1], got {self.score!r}")
        try:
            compiled = re.compile(self.regex, re.ASCII)
        except re.error as exc:
            raise ValueError(f"pattern {self.name!r}: invalid regex {self.regex!r}: {exc}") from None
        object.__setattr__(self, "compiled", compiled)


class Finding(NamedTuple):
    """A validated match: where it is, which rule found it, and the text to hash."""

    start: int
    end: int
    rule: str
    normalized: str


def context_tokens(key: str) -> str:
    """A key as ``_token_token_`` of lowercase ASCII words: ``geo.location.lat`` -> ``_geo_location_lat_``.

    Every run of characters other than ASCII letters and digits separates words,
    so that the byte-level scan (which sees UTF-8) agrees with this split.
    """
    return "_" + "_".join(t.lower() for t in re.split(r"[^A-Za-z0-9]+", key) if t) + "_"


class Detector:
    """Base of the detectors: override the class data, and ``validate_result`` when there is a check."""

    #: The name in config (``detectors``, ``operators``) and in findings; empty: not a detector.
    KIND: ClassVar[str] = ""
    #: When two findings cover the same text, the lower PRIORITY wins (registry order).
    PRIORITY: ClassVar[int] = 0
    #: The scan patterns have no literal to anchor on (digit runs): the raw scan keeps them apart.
    DENSE: ClassVar[bool] = False
    PATTERNS: ClassVar[tuple[Pattern, ...]] = ()
    CONTEXT: ClassVar[tuple[str, ...]] = ()

    def __init__(self, patterns: tuple[Pattern, ...] | None = None, context: tuple[str, ...] | None = None,
                 kind: str | None = None) -> None:
        self.kind = kind or self.KIND
        self.patterns = tuple(patterns if patterns is not None else self.PATTERNS)
        self.context = tuple(context if context is not None else self.CONTEXT)
        self._context_words = tuple(context_tokens(w) for w in self.context)
        self._plain = tuple(p for p in self.patterns if not p.needs_context)
        self._with_context = self.patterns

    def in_context(self, key_tokens: str) -> bool:
        """Whether a key (as ``context_tokens``) names one of this detector's context words."""
        return any(w in key_tokens for w in self._context_words)

    def validate_result(self, text: str, pattern: Pattern) -> bool | None:
        """True confirms the candidate, False rejects it, None keeps the pattern's score."""
        return None

    def normalize(self, text: str) -> str:
        """The form that is hashed, so that equal values in different spellings hash alike."""
        return text

    def transform(self, text: str) -> str | None:
        """This kind's own replacement (geo reduces precision); None when it has none."""
        return None

    def analyze(self, value: str, in_context: bool = False,
                only: tuple[Pattern, ...] | None = None) -> list[Finding]:
        """Validated findings in ``value``; ``only`` narrows the patterns tried (the value screen)."""
        found: list[Finding] = []
        for pattern in only if only is not None else (self._with_context if in_context else self._plain):
            search = pattern.compiled.search
            narrowed = PII_GROUP in pattern.compiled.groupindex
            pos = 0
            while (m := search(value, pos)) is not None:
                start, end = m.span(PII_GROUP) if narrowed else m.span()
                span = self.refine(value, start, end, pattern)
                if span is None:
                    # A rejected candidate must not hide one that starts inside it
                    # ("+49 151 23456789 4111 1111 1111 1111": the card after the phone).
                    pos = m.start() + 1
                    continue
                s, e = span
                found.append(Finding(s, e, self.kind, self.normalize(value[s:e])))
                pos = max(m.end(), m.start() + 1)
        return found

    def refine(self, value: str, start: int, end: int, pattern: Pattern) -> tuple[int, int] | None:
        """Validate one candidate; a detector may narrow it (IBAN drops trailing words)."""
        verdict = self.validate_result(value[start:end], pattern)
        if verdict is False:
            return None
        if verdict is True or pattern.score >= MIN_SCORE or pattern.needs_context:
            return start, end
        return None
