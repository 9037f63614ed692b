"""Taint: the texts it holds are readable without its internals, they are found as one regex
over all of them would find them, and each string is read once however many there are."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.redaction.config import RedactionConfig
from processors.redaction.rules import RuleSet, Taint


@pytest.fixture
def taint() -> Taint:
    t = RuleSet(RedactionConfig()).taint()
    t.add("hunter2-secret", "blocked_key", "hunter2-secret")
    t.add_whole("sid=abc123xyz; theme=dark", "blocked_key")
    return t


def test_texts_are_the_tainted_values(taint):
    # Values shorter than taint.min_length (dark) do not spread.
    assert set(taint.texts()) == {"hunter2-secret", "sid=abc123xyz; theme=dark", "abc123xyz"}


def test_tainted_texts_are_found_and_replaced(taint):
    assert taint.rewrite("login failed for bob") is None
    assert taint.rewrite("x" * 5000) is None
    out = taint.rewrite("login failed with hunter2-secret, session abc123xyz")
    assert out is not None and out.text == "login failed with ****, session ****"


def _reference(texts: list[str], s: str) -> list[tuple[int, int, str]]:
    """What one regex alternation of the texts, the longest first, with word bounds, finds."""
    alts = []
    for text in sorted(texts, key=len, reverse=True):
        alt = re.escape(text)
        if text[0].isascii() and text[0].isalnum():
            alt = "(?<![A-Za-z0-9])" + alt
        if text[-1].isascii() and text[-1].isalnum():
            alt += "(?![A-Za-z0-9])"
        alts.append(alt)
    return [(m.start(), m.end(), m.group()) for m in re.finditer("|".join(alts), s)]


_ALPHABET = "ab1-. "


_RULES = RuleSet(RedactionConfig())


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(st.text(_ALPHABET, min_size=6, max_size=10), min_size=1, max_size=40, unique=True),
       picks=st.lists(st.integers(0, 39), max_size=8), noise=st.text(_ALPHABET, max_size=60))
def test_matches_are_those_of_one_regex_over_all_texts(texts, picks, noise):
    t = _RULES.taint()
    kept = [x for x in texts if x.strip()]
    for x in kept:
        t.add(x, "blocked_key", x)
    s = noise.join(kept[i % len(kept)] for i in picks) if kept else noise
    assert list(t._matches(s)) == (_reference(kept, s) if kept else [])


def test_a_record_with_thousands_of_tainted_texts_reads_each_string_once():
    """Each string is read once against every text (a prefix index), not once per text."""
    t = RuleSet(RedactionConfig()).taint()
    for i in range(5000):
        t.add(f"person{i}.x{i * 7919}@example.org", "email", f"person{i}.x{i * 7919}@example.org")
    probes = [0]
    get = t._index.get

    class Counting(dict):
        def get(self, key, default=None):
            probes[0] += 1
            return get(key, default)

    t._index = Counting(t._index)
    s = "sent the invoice 17 to person17.x134623@example.org today"
    out = t.rewrite(s)
    assert out is not None and "person17" not in out.text
    assert probes[0] <= len(s)


def test_a_substring_that_is_not_a_whole_word_is_still_kept(taint):
    # The text occurs, but not as a whole word.
    assert taint.rewrite("id abc123xyz9") is None
