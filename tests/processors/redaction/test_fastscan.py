"""The raw scan: byte patterns derived from rules never miss what the rules
find, both engines agree on clean and dirty, and hits are reported where they
are (hyperscan) or make the whole request walked (RE2, long strings)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.redaction.config import RedactionConfig
from processors.redaction.fastscan import ScanPattern, build_scanner, byte_pattern
from processors.redaction.rules import RuleSet
from tests.processors.redaction.builders import kv

CORPUS = [json.loads(line) for line in Path(__file__).with_name("corpus.jsonl").read_text().splitlines()]
POSITIVES = [s["text"] for s in CORPUS if s["kind"] and not s["key"]]
NEGATIVES = [s["text"] for s in CORPUS if not s["kind"]]
RULES = RuleSet(RedactionConfig(truncation={"max_string_length": 0, "max_items": 0}))
SCREENED, UNSCREENED = RuleSet(RedactionConfig()), RuleSet(RedactionConfig(), screen=False)
SCANNERS = {engine: build_scanner(RULES.scan_patterns(), engine=engine) for engine in ("hyperscan", "re2")}


def framed(value: str) -> bytes:
    """A value as it sits in a request: inside a KeyValue, between other attributes."""
    return kv("a", "x").SerializeToString() + kv("app.value", value).SerializeToString() + b"\x4a\x00"


def hs_matches(pattern: str, data: bytes) -> bool:
    return not build_scanner([ScanPattern("t", byte_pattern(pattern))], engine="hyperscan").scan(data).clean


class TestBytePattern:
    @pytest.mark.parametrize(("regex", "expected"), [
        (r"^secret$", "secret"),
        (r"\btoken\b", "token"),
        (r"(?<![\w.])abc(?!\d)", "abc"),
        (r"(?i)(?:^|[._-])key(?:$|[._-])", "(?i)(?:|[._-])key(?:|[._-])"),
        (r"[\^$]x", r"[\^$]x"),
        (r"\$\^", r"\$\^"),
    ])
    def test_assertions_and_lookarounds_are_dropped(self, regex, expected):
        assert byte_pattern(regex) == expected

    @pytest.mark.parametrize("regex", [r"a.b", r"a[^x]b", r"a\Wb", r"a\Sb", r"a\Db", r"a[\W_]b"])
    def test_atoms_that_match_one_character_match_one_utf8_character(self, regex):
        for ch in "é", "€", "😀":
            text = f"a{ch}b"
            assert re.search(regex, text, re.ASCII)
            assert hs_matches(regex, framed(text))

    def test_positive_ascii_classes_stay_as_they_are(self):
        assert byte_pattern(r"[A-Za-z0-9._%+-]+@") == r"[A-Za-z0-9._%+-]+@"

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        regex=st.sampled_from([
            r"a.b", r"[^x]{2}y", r"\bfoo\b", r"(?<!x)bar", r"^secret$", r"\W+k", r"cust-[0-9]{3}", r"x.{2,3}z",
            r"(?i)pass(?:word)?=\S+", r"(?:^|\s)id:\s*\d+", r"\D\d\D",
        ]),
        text=st.text(alphabet=st.sampled_from(list("abxyzkfoobarsecretidpassword=-: 0123é€😀\n\t")), max_size=24),
    )
    def test_derived_pattern_is_a_superset_on_any_text(self, regex, text):
        if re.search(regex, text, re.ASCII):
            assert hs_matches(regex, framed(text)), (regex, text)


class TestRulesetScan:
    @pytest.mark.parametrize("text", POSITIVES)
    @pytest.mark.parametrize("engine", ["hyperscan", "re2"])
    def test_every_corpus_positive_is_dirty(self, engine, text):
        assert RULES.findings(text)
        assert not SCANNERS[engine].scan(framed(text)).clean

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        before=st.text(max_size=12),
        pii=st.sampled_from(POSITIVES),
        cut=st.integers(0, 60),
        noise=st.text(alphabet=st.sampled_from(list(" .-+:@_/é0123456789abcXYZ")), max_size=3),
        after=st.text(max_size=12),
    )
    def test_whatever_the_rules_find_the_scan_finds(self, before, pii, cut, noise, after):
        # Mutated PII: sometimes still found by the rules, sometimes not; the scan must
        # be dirty whenever the rules find something.
        text = before + pii[:cut] + noise + pii[cut:] + after
        if RULES.findings(text):
            for scanner in SCANNERS.values():
                assert not scanner.scan(framed(text)).clean, text

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        before=st.text(max_size=10),
        pii=st.sampled_from(POSITIVES + NEGATIVES),
        cut=st.integers(0, 60),
        noise=st.text(alphabet=st.sampled_from(list(" .-+:@_/=?é0123456789abcXYZ")), max_size=3),
        after=st.text(max_size=10),
    )
    def test_the_value_screen_never_changes_what_is_found(self, before, pii, cut, noise, after):
        text = before + pii[:cut] + noise + pii[cut:] + after
        assert SCREENED.findings(text) == UNSCREENED.findings(text), text

    @pytest.mark.parametrize("engine", ["hyperscan", "re2"])
    def test_the_value_screen_agrees_on_the_whole_corpus(self, engine):
        screened = RuleSet(RedactionConfig(scan_engine=engine, blocked_values=["cust-[0-9]{4}"]))
        unscreened = RuleSet(RedactionConfig(scan_engine=engine, blocked_values=["cust-[0-9]{4}"]), screen=False)
        for text in POSITIVES + NEGATIVES + ["cust-1234 x"]:
            assert screened.findings(text) == unscreened.findings(text), text

    def test_clean_telemetry_is_clean(self):
        for text in ("GET /api/orders/{id}", "2024-06-01T12:34:56Z", "4bf92f3577b34da6a3ce929d0e0e4736", "v1.2.3"):
            for scanner in SCANNERS.values():
                assert scanner.scan(framed(text)).clean, text


class TestEngines:
    def test_hyperscan_reports_where_each_hit_ends(self):
        scanner = build_scanner([ScanPattern("email", byte_pattern(r"@[a-z]+\.[a-z]"))], engine="hyperscan")
        data = b"xx a@bc.de yy q@rs.tu"
        result = scanner.scan(data)
        assert not result.clean and not result.whole
        assert result.hits == [data.index(b"a@bc.d") + 6, data.index(b"q@rs.t") + 6]

    def test_too_many_hits_walk_everything(self):
        scanner = build_scanner([ScanPattern("d", "[0-9]")], engine="hyperscan", max_hits=5)
        result = scanner.scan(b"0123456789")
        assert result.whole and not result.clean

    def test_a_non_locating_hit_walks_everything(self):
        patterns = [ScanPattern("t", "[a-z]{8}", locate=False, text_run=8), ScanPattern("d", "[0-9]")]
        for engine in ("hyperscan", "re2"):
            scanner = build_scanner(patterns, engine=engine)
            assert scanner.scan(b"abcdefghij").whole, engine
            assert scanner.scan(b"abc").clean, engine

    def test_re2_cannot_locate_so_dirty_is_whole(self):
        scanner = build_scanner([ScanPattern("d", "[0-9]")], engine="re2")
        assert scanner.engine == "re2"
        result = scanner.scan(b"a1")
        assert (result.clean, result.whole, result.hits) == (False, True, [])

    def test_long_text_runs_are_found_by_both_engines(self):
        rules = RuleSet(RedactionConfig(truncation={"max_string_length": 64}))
        long_value = framed("z" * 65)
        short_value = framed("z" * 50)  # framing bytes can extend a run by a few bytes
        for engine in ("hyperscan", "re2"):
            scanner = build_scanner(rules.scan_patterns(), engine=engine)
            assert scanner.scan(long_value).whole, engine
            assert scanner.scan(short_value).clean, engine

    def test_no_rules_means_every_request_is_clean(self):
        assert build_scanner([]).scan(b"anything at all: a@b.co").clean

    def test_a_pattern_the_engine_refuses_is_named(self):
        with pytest.raises(ValueError, match=r"blocked_values\[0\]"):
            build_scanner([ScanPattern("blocked_value", "x{2,1}", source="blocked_values[0]")], engine="hyperscan")
