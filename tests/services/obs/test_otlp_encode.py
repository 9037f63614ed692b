"""The in-place OTLP span encoder writes exactly the bytes the exporter library's encoder writes."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import (
    encode_spans as library_encode_spans,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from services.obs.otlp_encode import FastOTLPSpanExporter, encode_spans
from tests.services.obs.otlp_sink import otlp_sink


def _spans() -> list:
    """Spans of two resources and several scopes, with every field the encoder writes."""
    out = []
    for service in ("a", "b"):
        provider = TracerProvider(resource=Resource.create({"service.name": service, "n": 1}))
        mem = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(mem))
        plain = provider.get_tracer("plain")
        versioned = provider.get_tracer("versioned", "1.2", schema_url="https://opentelemetry.io/schemas/1.21.0",
                                        attributes={"scope.attr": "x"})
        remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1),
                             trace_state=TraceState([("vendor", "v1"), ("other", "o2")]))
        remote_parent = set_span_in_context(NonRecordingSpan(remote))
        with plain.start_as_current_span("root", kind=SpanKind.SERVER, context=remote_parent,
                                         attributes={"s": "x", "i": 7, "f": 1.5, "b": True, "strs": ("p", "q"),
                                                     "ints": [1, 2], "empty": ()}) as root:
            root.add_event("evt", {"k": "v", "n": 3})
            root.add_event("bare")
            with versioned.start_as_current_span("child", kind=SpanKind.CLIENT,
                                                 links=[Link(remote, {"why": "batch"}), Link(root.get_span_context())]):
                pass
            with plain.start_as_current_span("failed") as failed:
                failed.set_status(Status(StatusCode.ERROR, "boom"))
            with plain.start_as_current_span("ok", kind=SpanKind.PRODUCER) as ok:
                ok.set_status(Status(StatusCode.OK))
            with plain.start_as_current_span("consumer", kind=SpanKind.CONSUMER, attributes={}):
                pass
        out.extend(mem.get_finished_spans())
    return out


def test_same_bytes_as_the_library_encoder() -> None:
    spans = _spans()
    assert encode_spans(spans).SerializeToString() == library_encode_spans(spans).SerializeToString()
    assert encode_spans(spans[:1]) == library_encode_spans(spans[:1])


def test_an_unencodable_attribute_is_dropped_alone() -> None:
    spans = [s for s in _spans() if s.name == "root"][:1]
    spans[0]._attributes = {**spans[0].attributes, "bad": object()}  # what a buggy instrumentation could leave
    encoded = encode_spans(spans)
    keys = [kv.key for kv in encoded.resource_spans[0].scope_spans[0].spans[0].attributes]
    assert "bad" not in keys and "s" in keys
    assert encoded == library_encode_spans(spans)


def test_the_exporter_sends_them_over_grpc() -> None:
    spans = _spans()
    with otlp_sink() as sink:
        exporter = FastOTLPSpanExporter(endpoint=sink.endpoint.removeprefix("http://"), insecure=True)
        exporter.export(spans)
        exporter.shutdown()
    assert sink.requests("traces") == [library_encode_spans(spans)]
