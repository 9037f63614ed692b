"""What the processor reports: counters per rule and signal, the fast path's
outcomes, the verdict cache, and the optional summary attributes it writes.

Counts only. No value, and no part of one, is ever put in a metric, a log
line or a summary attribute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from processors.telemetry import SelfTelemetry

# Summary attributes, named as the Collector's redactionprocessor names them.
REDACTED_COUNT = "redaction.redacted.count"
MASKED_COUNT = "redaction.masked.count"
TRUNCATED_COUNT = "redaction.truncated.count"
REDACTED_KEYS = "redaction.redacted.keys"
MASKED_KEYS = "redaction.masked.keys"
SUMMARY_KEYS = frozenset({REDACTED_COUNT, MASKED_COUNT, TRUNCATED_COUNT, REDACTED_KEYS, MASKED_KEYS})

FINDINGS = "otelproc_redaction_findings"
FASTPATH = "otelproc_redaction_fastpath_requests"
ITEMS_WALKED = "otelproc_redaction_items_walked"
CACHE_HITS = "otelproc_redaction_cache_hits"
CACHE_MISSES = "otelproc_redaction_cache_misses"
CACHE_ENTRIES = "otelproc_redaction_cache_entries"

# Fast-path outcomes: forwarded unparsed, parsed with only the hit items walked, or walked whole.
CLEAN, LOCATED, WHOLE = "clean", "located", "whole"

Tally = dict[tuple[str, str], int]
"""Findings of one request by (rule, action), turned into counter increments once per request."""


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.findings = Counter(
            FINDINGS, "Values changed or removed, by rule (detector, blocked_key, url, sql, truncation...) and action",
            ["processor", "signal", "rule", "action"], registry=registry,
        )
        self.fastpath = Counter(
            FASTPATH, "Requests by fast-path outcome: clean (forwarded unparsed), located, whole",
            ["processor", "signal", "result"], registry=registry,
        )
        self.items_walked = Counter(
            ITEMS_WALKED, "Spans, log records and metrics walked by the exact rules", ["processor", "signal"],
            registry=registry,
        )


class Audit:
    def __init__(self, telemetry: SelfTelemetry, processor: str) -> None:
        # One set of counters per server, shared by every redaction processor on it (label: processor).
        self._m = telemetry.shared(_Metrics)
        self._processor = processor

    def request(self, signal: str, result: str, items_walked: int, tally: Tally) -> None:
        self._m.fastpath.labels(self._processor, signal, result).inc()
        if items_walked:
            self._m.items_walked.labels(self._processor, signal).inc(items_walked)
        for (rule, action), n in tally.items():
            self._m.findings.labels(self._processor, signal, rule, action).inc(n)

    def watch_cache(self, registry: CollectorRegistry, cache_info: Callable[[], Any]) -> None:
        registry.register(_CacheCollector(self._processor, cache_info))


class _CacheCollector:
    """Reads the verdict cache's own statistics at scrape time: nothing is counted per lookup."""

    def __init__(self, processor: str, cache_info: Callable[[], Any]) -> None:
        self._processor = processor
        self._cache_info = cache_info

    def collect(self) -> Iterator[Any]:
        info = self._cache_info()
        for name, kind, doc, value in (
            (CACHE_HITS, CounterMetricFamily, "Values whose verdict came from the cache", info.hits),
            (CACHE_MISSES, CounterMetricFamily, "Values run through the detectors", info.misses),
            (CACHE_ENTRIES, GaugeMetricFamily, "Verdicts in the cache", info.currsize),
        ):
            family = kind(name, doc, labels=["processor"])
            family.add_metric([self._processor], value)
            yield family


class Changes:
    """What happened inside one attribute owner (a span, a log record, a data point, a resource)."""

    __slots__ = ("tally", "masked", "redacted", "truncated", "masked_keys", "redacted_keys")

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.masked = self.redacted = self.truncated = 0
        self.masked_keys: list[str] = []
        self.redacted_keys: list[str] = []

    def count(self, rule: str, action: str, n: int = 1) -> None:
        key = (rule, action)
        self.tally[key] = self.tally.get(key, 0) + n

    def mask(self, where: str) -> None:
        self.masked += 1
        self.masked_keys.append(where)

    def redact(self, where: str) -> None:
        self.redacted += 1
        self.redacted_keys.append(where)

    def truncate(self) -> None:
        self.truncated += 1
        self.count("truncation", "truncate")

    def write_summary(self, attributes: Any, level: str) -> None:
        """Add the counts (info) and the keys (debug) to ``attributes``, adding to counts already there."""
        if level == "silent" or not (self.masked or self.redacted or self.truncated):
            return
        existing = {kv.key: kv for kv in attributes if kv.key in SUMMARY_KEYS}
        for name, n in ((REDACTED_COUNT, self.redacted), (MASKED_COUNT, self.masked),
                        (TRUNCATED_COUNT, self.truncated)):
            if n:
                _put_int(attributes, existing, name, n)
        if level == "debug":
            for name, keys in ((REDACTED_KEYS, self.redacted_keys), (MASKED_KEYS, self.masked_keys)):
                if keys:
                    _put_keys(attributes, existing, name, keys)


def _put_int(attributes: Any, existing: dict[str, Any], name: str, n: int) -> None:
    if name in existing:
        existing[name].value.int_value += n
    else:
        attributes.append(KeyValue(key=name, value=AnyValue(int_value=n)))


def _put_keys(attributes: Any, existing: dict[str, Any], name: str, keys: list[str]) -> None:
    if name in existing:
        keys = keys + [k for k in existing[name].value.string_value.split(",") if k]
        existing[name].value.string_value = ",".join(sorted(set(keys)))
    else:
        attributes.append(KeyValue(key=name, value=AnyValue(string_value=",".join(sorted(set(keys))))))
