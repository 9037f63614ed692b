"""Exemplars: the SDK's trace-based choice, offered at most once per series per interval."""

from __future__ import annotations

import time

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import (
    AlwaysOffExemplarFilter,
    MeterProvider,
    TraceBasedExemplarFilter,
)
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from services.obs.exemplars import SeriesIntervalExemplarFilter, exemplar_filter

MS = 1_000_000


def _sampled_context():
    span = TracerProvider().get_tracer("t").start_span("request")
    return trace.set_span_in_context(span), span


def test_a_series_is_offered_at_most_once_per_interval() -> None:
    f = SeriesIntervalExemplarFilter(TraceBasedExemplarFilter(), interval_ms=100)
    ctx, _ = _sampled_context()
    route = {"route": "/rooms/{id}", "method": "GET"}
    t0 = 1_000 * MS
    assert f.should_sample(0.1, t0, route, ctx)
    assert not f.should_sample(0.1, t0 + 99 * MS, route, ctx)
    assert f.should_sample(0.1, t0 + 100 * MS, route, ctx)
    # Another series has its own interval, whatever the order of its attributes.
    assert f.should_sample(0.1, t0 + 100 * MS, {"route": "/ping", "method": "GET"}, ctx)
    assert not f.should_sample(0.1, t0 + 150 * MS, {"method": "GET", "route": "/ping"}, ctx)


def test_outside_a_sampled_trace_nothing_is_offered() -> None:
    f = SeriesIntervalExemplarFilter(TraceBasedExemplarFilter(), interval_ms=100)
    assert not f.should_sample(0.1, 1_000 * MS, {"route": "/x"}, trace.set_span_in_context(trace.INVALID_SPAN))


def test_a_sequence_valued_attribute_set_is_not_limited() -> None:
    f = SeriesIntervalExemplarFilter(TraceBasedExemplarFilter(), interval_ms=100)
    ctx, _ = _sampled_context()
    assert f.should_sample(0.1, 1_000 * MS, {"tags": ["a", "b"]}, ctx)
    assert f.should_sample(0.1, 1_001 * MS, {"tags": ["a", "b"]}, ctx)


def test_the_sdks_filter_name_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "always_off")
    assert isinstance(exemplar_filter(100), AlwaysOffExemplarFilter)
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "trace_based")
    assert isinstance(exemplar_filter(0), TraceBasedExemplarFilter)  # 0: the SDK's own, unlimited
    assert isinstance(exemplar_filter(100), SeriesIntervalExemplarFilter)
    monkeypatch.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "sometimes")
    with pytest.raises(ValueError, match="OTEL_METRICS_EXEMPLAR_FILTER='sometimes'"):
        exemplar_filter(100)


def test_a_busy_series_still_has_an_exemplar_naming_a_recent_trace() -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader], exemplar_filter=exemplar_filter(100)).get_meter("m")
    latency = meter.create_histogram("latency", explicit_bucket_boundaries_advisory=[0.01, 0.1, 1.0])
    traced = []
    started = time.monotonic()
    for _ in range(50):
        ctx, span = _sampled_context()
        latency.record(0.05, {"route": "/rooms/{id}"}, context=ctx)
        traced.append(span.get_span_context().trace_id)
    intervals = int((time.monotonic() - started) * 10) + 1  # 100 ms each
    (point,) = reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    assert point.count == 50  # the histogram counts every record
    # One offer per interval (the bucket keeps the last offered), from one of these traces.
    assert len(point.exemplars) == 1 and point.exemplars[0].trace_id in traced
    if intervals == 1:
        assert point.exemplars[0].trace_id == traced[0]
