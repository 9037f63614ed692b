"""Recall and precision on the labelled corpus, measured through the whole
processor: each sample is planted in its field kind, many per request, and
the requests go through the raw scan, the locating and the walk.

corpus.jsonl is written by make_corpus.py; every detector has positives in
every field kind, and the negatives are the identifiers that must survive
(trace and span ids, UUIDs, timestamps, versions, prices, order numbers,
durations, hex hashes) and look-alikes of each detector.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from processors.api import Signal
from tests.processors.redaction.builders import FIELDS, SIGNAL_OF, entries, plant, read, request, run, text_of
from tests.processors.redaction.conftest import HMAC_KEY

CORPUS = [json.loads(line) for line in Path(__file__).with_name("corpus.jsonl").read_text().splitlines()]
CONFIG = {"operators": {"email": "hash", "phone": "hash", "ip": "hash"}, "hash_key": HMAC_KEY}


def test_corpus_covers_every_detector_in_every_field_and_the_identifiers_that_must_survive():
    positives = [s for s in CORPUS if s["kind"]]
    negatives = [s for s in CORPUS if not s["kind"]]
    assert len(positives) >= 150 and len(negatives) >= 150 and len(CORPUS) >= 300
    kinds = {s["kind"] for s in positives}
    assert kinds == {"email", "phone", "jwt", "api_key", "credit_card", "iban", "ip", "geo"}
    assert {s["field"] for s in positives} == set(FIELDS) == {s["field"] for s in negatives}
    for kind in kinds:
        assert len({s["field"] for s in positives if s["kind"] == kind}) >= 10, kind


@pytest.mark.parametrize("scan_engine", ["hyperscan", "re2"])
def test_recall_and_precision_are_at_least_99_percent(make_processor, scan_engine, capsys):
    processor = make_processor({**CONFIG, "scan_engine": scan_engine})
    by_signal: dict[Signal, list[dict]] = defaultdict(list)
    for sample in CORPUS:
        by_signal[SIGNAL_OF[sample["field"]]].append(sample)

    outcome: Counter[tuple[str, str]] = Counter()
    misses, false_alarms = [], []
    for signal, samples in by_signal.items():
        req = request(signal)
        for i, s in enumerate(samples):
            plant(req, s["field"], s["text"], s["key"], seed=i)
        out = run(processor, req, signal)
        for s, entry in zip(samples, entries(out), strict=True):
            value = text_of(read(entry, s["field"], s["key"]))
            if s["kind"]:
                hidden = value is None or s["pii"] not in value
                outcome[(s["kind"], "tp" if hidden else "fn")] += 1
                if not hidden:
                    misses.append((s["kind"], s["field"], s["text"]))
            else:
                kept = value == s["text"]
                outcome[("none", "tn" if kept else "fp")] += 1
                if not kept:
                    false_alarms.append((s["field"], s["text"], value))

    tp = sum(n for (_, o), n in outcome.items() if o == "tp")
    fn = sum(n for (_, o), n in outcome.items() if o == "fn")
    fp = outcome[("none", "fp")]
    recall, precision = tp / (tp + fn), tp / (tp + fp)
    with capsys.disabled():
        print(f"\n[{scan_engine}] recall {recall:.4f} precision {precision:.4f} "
              f"(tp {tp}, fn {fn}, fp {fp}, tn {outcome[('none', 'tn')]})")
        for kind in sorted({k for k, _ in outcome} - {"none"}):
            print(f"  {kind:12} recall {outcome[(kind, 'tp')] / (outcome[(kind, 'tp')] + outcome[(kind, 'fn')]):.3f}")
    assert recall >= 0.99, misses
    assert precision >= 0.99, false_alarms
