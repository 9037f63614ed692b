"""Recall and negatives kept on both halves of the corpus, per signal and per
field kind, through the real processor with its default rules.

corpus.jsonl (make_corpus.py) is the development half. heldout.jsonl
(make_heldout.py) is the held-out half: nobody tunes detectors against it, a
miss there is fixed for its whole class of values or not at all. Every sample
is planted in its field of one record (with the other attributes the sample
names), many records per request; the requests go through the raw scan, the
locating and the walk, as bytes. A positive is caught when its secret appears
in no string of its processed record; a negative is kept when it comes back
unchanged.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from processors.api import Signal
from tests.processors.redaction.builders import (
    SIGNAL_OF,
    entries,
    kv,
    plant,
    read,
    request,
    run,
    text_of,
)
from tests.processors.redaction.conftest import pipeline_yaml
from tests.support.pipeline import collector_pipeline, count_items

HERE = Path(__file__).parent
BATCH = 40


def _load(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / name).read_text().splitlines()]


def heldout() -> list[dict]:
    return _load("heldout.jsonl")


def development() -> list[dict]:
    return [{"field": s["field"], "key": s["key"], "value": s["text"], "kind": s["kind"], "secret": s["pii"],
             "with": []} for s in _load("corpus.jsonl")]


def _record_attributes(entry: Any, field: str) -> Any:
    """The attributes of the record a sample was planted in, for the attributes it comes with."""
    signal = SIGNAL_OF[field]
    if signal is Signal.TRACES:
        return entry.resource.attributes if field == "resource_attr" else entry.scope_spans[0].spans[0].attributes
    if signal is Signal.LOGS:
        return entry.scope_logs[0].log_records[0].attributes
    return entry.scope_metrics[0].metrics[0].sum.data_points[0].attributes


def strings(message: Message) -> Iterator[str]:
    """Every string and number in a message, at any depth (numbers as their repr)."""
    for _desc, value in message.ListFields():
        items = [value] if isinstance(value, (str, bytes, Message)) or not isinstance(value, Sequence) else value
        for item in items:
            if isinstance(item, Message):
                yield from strings(item)
            elif isinstance(item, str):
                yield item
            elif isinstance(item, float):
                yield repr(item)


def measure(processor: Any, samples: list[dict], batch: int = BATCH) -> tuple[Counter, list[tuple]]:
    """Counts by (signal, field, outcome) with outcome tp/fn (positives) or tn/fp (negatives), and the failures."""
    outcome: Counter = Counter()
    failures: list[tuple] = []
    by_signal: dict[Signal, list[dict]] = {}
    for s in samples:
        by_signal.setdefault(SIGNAL_OF[s["field"]], []).append(s)
    for signal, group in by_signal.items():
        for start in range(0, len(group), batch):
            records = group[start:start + batch]
            req = request(signal)
            for i, s in enumerate(records):
                plant(req, s["field"], s["value"], s["key"], seed=start + i)
                _record_attributes(entries(req)[-1], s["field"]).extend(kv(k, v) for k, v in s["with"])
            out = run(processor, req, signal)
            for s, entry in zip(records, entries(out), strict=True):
                where = (signal.value, s["field"])
                if s["kind"]:
                    caught = not any(s["secret"] in text for text in strings(entry))
                    outcome[(*where, "tp" if caught else "fn")] += 1
                    outcome[("kind", s["kind"], "tp" if caught else "fn")] += 1
                    if not caught:
                        failures.append(("missed", s["kind"], s["field"], s["value"]))
                else:
                    kept = text_of(read(entry, s["field"], s["key"])) == s["value"]
                    outcome[(*where, "tn" if kept else "fp")] += 1
                    if not kept:
                        failures.append(("changed", s["field"], s["value"], text_of(read(entry, s["field"], s["key"]))))
    return outcome, failures


def _rate(good: int, bad: int) -> float:
    return good / (good + bad) if good + bad else 1.0


def report(name: str, outcome: Counter) -> dict[tuple[str, str], tuple[float, float]]:
    """Prints recall and negatives kept per signal and per field kind (and recall per class);
    returns them by (scope, name)."""
    rates: dict[tuple[str, str], tuple[float, float]] = {}
    for scope, index in (("signal", 0), ("field", 1), ("class", 1)):
        for part in sorted({k[index] for k in outcome if (k[0] == "kind") == (scope == "class")}):
            n = {o: sum(c for k, c in outcome.items() if k[index] == part and k[2] == o)
                 for o in ("tp", "fn", "tn", "fp")}
            rates[(scope, part)] = (_rate(n["tp"], n["fn"]), _rate(n["tn"], n["fp"]))
            recall, kept = rates[(scope, part)]
            line = f"  [{name}] {scope:6} {part:16} recall {recall:.3f} ({n['tp']}/{n['tp'] + n['fn']})"
            if scope != "class":
                line += f"  negatives kept {kept:.3f} ({n['tn']}/{n['tn'] + n['fp']})"
            print(line)
    return rates


# Many records per request (hits located, or walked whole past the hit limit), and one per
# request (a request the wire splice can edit in place).
@pytest.mark.parametrize("batch", [BATCH, 1])
def test_recall_and_negatives_kept_on_both_halves(make_processor, capsys, batch):
    processor = make_processor({})  # the default rules
    results = {}
    for name, samples in (("development", development()), ("held-out", heldout())):
        results[name] = measure(processor, samples, batch)
    with capsys.disabled():
        print(f"\n  {batch} record(s) per request")
        rates = {name: report(name, outcome) for name, (outcome, _) in results.items()}
    held_out_failures = results["held-out"][1]
    low = {part: r for part, r in rates["held-out"].items() if min(r) < 0.99}
    assert not low, (low, held_out_failures)


def test_the_held_out_half_covers_every_class_signal_and_field_kind():
    samples = heldout()
    kinds = {s["kind"] for s in samples if s["kind"]}
    assert kinds == {"email", "phone", "jwt", "api_key", "credit_card", "iban", "ip", "geo", "sql", "taint"}
    fields = {"resource_attr", "span_attr", "event_attr", "log_body_string", "log_body_kvlist", "log_attr",
              "metric_dp_attr"}
    assert {s["field"] for s in samples if s["kind"]} == fields == {s["field"] for s in samples if not s["kind"]}
    assert sum(1 for s in samples if s["kind"]) >= 200 and sum(1 for s in samples if not s["kind"]) >= 100
    # No sample of the held-out half is a sample of the development half.
    assert not {s["value"] for s in samples if isinstance(s["value"], str)} & {s["value"] for s in development()}


PIPELINE_YAML = pipeline_yaml()
_PATHS = {Signal.TRACES: "/v1/traces", Signal.LOGS: "/v1/logs", Signal.METRICS: "/v1/metrics"}


@pytest.mark.e2e
def test_the_held_out_half_through_the_collector_leaks_nothing(otelcol, tmp_path):
    """bin/otelcol receives the held-out requests over OTLP/HTTP, the processors redact them on
    their fast path (raw scan, splice or walk), and the Collector's sinks hold no secret and every
    negative unchanged."""
    samples = heldout()
    by_signal: dict[Signal, list[dict]] = {}
    for s in samples:
        by_signal.setdefault(SIGNAL_OF[s["field"]], []).append(s)
    with collector_pipeline(tmp_path, PIPELINE_YAML) as p:
        for signal, group in by_signal.items():
            for start in range(0, len(group), 8):
                req = request(signal)
                for i, s in enumerate(group[start:start + 8]):
                    plant(req, s["field"], s["value"], s["key"], seed=start + i)
                    _record_attributes(entries(req)[-1], s["field"]).extend(kv(k, v) for k, v in s["with"])
                post = urllib.request.Request(p.otlp_http_endpoint + _PATHS[signal], data=req.SerializeToString(),
                                              headers={"Content-Type": "application/x-protobuf"})
                with urllib.request.urlopen(post, timeout=10) as r:
                    assert r.status == 200
        texts: set[str] = set()
        for signal, group in by_signal.items():
            want = len(group)
            out = p.wait_for(signal, lambda reqs, n=want, sig=signal: count_items(sig, reqs) >= n, timeout=60)
            texts.update(t for req in out for t in strings(req))
    leaked = [s["secret"] for s in samples if s["kind"] and any(s["secret"] in t for t in texts)]
    changed = [s["value"] for s in samples if not s["kind"] and s["value"] not in texts]
    assert not leaked and not changed, (leaked, changed)
