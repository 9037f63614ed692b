"""``clean_span``: a clean span is passed on as it is, and a cleaned copy keeps the SDK's dropped counts."""

from __future__ import annotations

from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, Status, StatusCode

from services.obs.export import SanitizingSpanExporter, clean_span


def _span(**attributes: object) -> object:
    mem = InMemorySpanExporter()
    limits = SpanLimits(max_span_attributes=3, max_events=2, max_links=1, max_event_attributes=1)
    provider = TracerProvider(span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(mem))
    tracer = provider.get_tracer("t")
    links = [Link(SpanContext(1, 2, False)), Link(SpanContext(1, 3, False))]
    with tracer.start_as_current_span("work", links=links) as span:
        for i in range(5):
            span.set_attribute(f"n{i}", i)
        span.set_attributes(attributes)
        span.add_event("e0", {"a": 1, "b": 2})
        span.add_event("e1")
        span.add_event("e2", {"user.email": "ann@example.com", "x": 1})
        span.set_status(Status(StatusCode.ERROR, "timeout"))
    (finished,) = mem.get_finished_spans()
    return finished


def test_a_clean_span_is_not_copied() -> None:
    span = _span()
    assert span.dropped_attributes and span.dropped_events and span.dropped_links
    assert clean_span(span) is span


def test_a_cleaned_copy_keeps_the_dropped_counts() -> None:
    span = _span(**{"user.email": "ann@example.com"})
    cleaned = clean_span(span)
    assert cleaned is not span
    assert "ann@example.com" not in str(dict(cleaned.attributes))
    assert (cleaned.dropped_attributes, cleaned.dropped_events, cleaned.dropped_links) == (
        span.dropped_attributes, span.dropped_events, span.dropped_links) != (0, 0, 0)
    assert [e.dropped_attributes for e in cleaned.events] == [e.dropped_attributes for e in span.events]
    assert cleaned.status.description == "timeout"


def test_the_exporter_wrapper_hands_over_the_counts() -> None:
    inner = InMemorySpanExporter()
    span = _span(**{"user.email": "ann@example.com"})
    SanitizingSpanExporter(inner).export([span])
    (exported,) = inner.get_finished_spans()
    assert exported.dropped_attributes == span.dropped_attributes > 0
    assert exported.dropped_events == span.dropped_events > 0
