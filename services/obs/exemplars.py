"""Which measurements may become exemplars: the SDK's choice, offered at most once per series per interval.

The SDK's default filter (``trace_based``) offers every measurement made in a
sampled trace to the histogram's exemplar reservoir, which keeps one per
bucket per collection. On a busy route that is an offer per request (the
reservoir's bucket lookup, an ``Exemplar`` with the span's ids) for one that
is kept each minute; it was about a tenth of the SDK's overhead on the
benchmark route (bench/bench_obs.py). Offering at most once per series (an
instrument's attribute set) per ``OBS_EXEMPLAR_INTERVAL_MS`` keeps every
quiet series' exemplars as they were and a busy series' at ten a second.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.environment_variables import OTEL_METRICS_EXEMPLAR_FILTER
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    AlwaysOnExemplarFilter,
    ExemplarFilter,
    TraceBasedExemplarFilter,
)

# Series remembered; past this the memory is dropped and starts again (a burst of offers, nothing lost).
_MAX_SERIES = 10_000


def exemplar_filter(interval_ms: int) -> ExemplarFilter:
    """``OTEL_METRICS_EXEMPLAR_FILTER`` (the SDK's names and default), rate-limited per series unless off."""
    name = os.environ.get(OTEL_METRICS_EXEMPLAR_FILTER, "trace_based")
    if name == "always_off":
        return AlwaysOffExemplarFilter()
    inner: ExemplarFilter
    if name == "always_on":
        inner = AlwaysOnExemplarFilter()
    elif name == "trace_based":
        inner = TraceBasedExemplarFilter()
    else:
        raise ValueError(f"{OTEL_METRICS_EXEMPLAR_FILTER}={name!r}: expected trace_based, always_on or always_off")
    return inner if interval_ms <= 0 else SeriesIntervalExemplarFilter(inner, interval_ms)


class SeriesIntervalExemplarFilter(ExemplarFilter):
    """``inner``'s decision, and at most one offer per attribute set every ``interval_ms``."""

    def __init__(self, inner: ExemplarFilter, interval_ms: int) -> None:
        self.inner = inner
        self.interval_ns = interval_ms * 1_000_000
        self._last: dict[Any, int] = {}

    def should_sample(self, value: float, time_unix_nano: int, attributes: Mapping[str, Any] | None,
                      context: Context) -> bool:
        if not self.inner.should_sample(value, time_unix_nano, attributes, context):
            return False
        try:
            series = frozenset(attributes.items()) if attributes else None
        except TypeError:  # a sequence value: no series key, so no limit
            return True
        if time_unix_nano - self._last.get(series, 0) < self.interval_ns:
            return False
        if len(self._last) >= _MAX_SERIES:
            self._last.clear()
        self._last[series] = time_unix_nano
        return True
