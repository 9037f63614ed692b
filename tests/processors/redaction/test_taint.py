"""Taint: the texts it holds are readable without its internals, and a string that holds none
of them costs no regex."""

from __future__ import annotations

import pytest

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


def test_a_string_without_a_tainted_substring_builds_no_regex(taint, monkeypatch):
    built = []
    compiled = Taint._compiled

    def counting(self):
        built.append(1)
        return compiled(self)

    monkeypatch.setattr(Taint, "_compiled", counting)
    assert taint.rewrite("login failed for bob") is None
    assert taint.rewrite("x" * 5000) is None
    assert built == []
    out = taint.rewrite("login failed with hunter2-secret, session abc123xyz")
    assert out is not None and out.text == "login failed with ****, session ****"
    assert built == [1]


def test_a_substring_that_is_not_a_whole_word_is_still_kept(taint):
    # The pre-check passes (the text occurs), the word-boundary regex decides.
    assert taint.rewrite("id abc123xyz9") is None
