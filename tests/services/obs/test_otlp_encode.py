"""The in-place OTLP span encoder writes exactly the bytes the exporter library's encoder writes."""

from __future__ import annotations

import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.exporter.otlp.proto.common.trace_encoder import (
    encode_spans as library_encode_spans,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
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


# --- property: any SDK span, against the library's encoder -------------------------------------------

# Equal resources in distinct objects (the library merges them), and one that differs only by schema_url.
_RESOURCES = [Resource({"service.name": "a", "n": 1}), Resource({"service.name": "a", "n": 1}),
              Resource({"service.name": "b"}), Resource({"service.name": "b"}, "https://opentelemetry.io/schemas/1.21.0")]
_SCOPES = [None, InstrumentationScope("plain"), InstrumentationScope("plain"),
           InstrumentationScope("versioned", "1.2", "https://opentelemetry.io/schemas/1.21.0", {"scope.attr": "x"})]
_text = st.text(max_size=12)  # unicode, surrogates excluded by the strategy's default alphabet
_u64 = st.integers(0, 2**64 - 1)
_int_any = st.integers(-(2**64), 2**64)  # beyond int64 either way: the library drops that attribute
_primitive = st.one_of(st.none(), st.booleans(), _text, _int_any, st.floats(allow_nan=False), st.binary(max_size=6))
_value = st.recursive(
    st.one_of(_primitive, st.builds(object)),
    lambda inner: st.one_of(st.lists(inner, max_size=3).map(tuple), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=8,
)
_raw_attributes = st.dictionaries(_text, _value, max_size=5)
# Valid attributes through the SDK's own bounded mapping, with a limit that makes it drop some.
_bounded_attributes = st.builds(
    lambda items, limit: BoundedAttributes(limit, dict(items), immutable=True),
    st.dictionaries(_text, st.one_of(st.booleans(), _text, st.integers(-(2**63), 2**63 - 1)), max_size=6),
    st.integers(0, 4),
)
_attributes = st.one_of(st.none(), _raw_attributes, _bounded_attributes)
_context = st.builds(lambda t, s, remote, state: SpanContext(t, s, is_remote=remote, trace_flags=TraceFlags(1),
                                                            trace_state=TraceState(state)),
                     st.integers(1, 2**128 - 1), st.integers(1, 2**64 - 1), st.booleans(),
                     st.lists(st.tuples(st.sampled_from(["a", "vendor", "k1"]), st.sampled_from(["1", "x-y"])),
                              max_size=2, unique_by=lambda kv: kv[0]))


def _bounded_list(items: list, limit: int | None) -> BoundedList:
    out = BoundedList(limit)
    out.extend(items)
    return out


_events = st.builds(_bounded_list, st.lists(st.builds(Event, st.one_of(st.none(), _text), _attributes,
                                                      st.one_of(st.none(), _u64)), max_size=3),
                    st.one_of(st.none(), st.integers(1, 3)))
_links = st.builds(_bounded_list, st.lists(st.builds(Link, _context, _attributes), max_size=2),
                   st.one_of(st.none(), st.integers(1, 2)))
_status = st.one_of(st.none(), st.builds(Status, st.sampled_from(StatusCode), st.one_of(st.none(), _text)))
_good_span = st.builds(
    ReadableSpan,
    name=st.one_of(st.none(), _text), context=_context, parent=st.one_of(st.none(), _context),
    resource=st.sampled_from(_RESOURCES), attributes=_attributes, events=_events, links=_links,
    kind=st.sampled_from(SpanKind), status=_status,
    start_time=st.one_of(st.none(), _u64), end_time=st.one_of(st.none(), _u64),  # None: an unended span
    instrumentation_scope=st.sampled_from(_SCOPES),
)
# What the SDK's ReadableSpan takes but neither encoder can write: the library loses its whole batch.
def _with_description(status: Status, description: object) -> Status:
    status._description = description  # what a caller bypassing Status's own check leaves
    return status


_bad_span = st.one_of(
    st.builds(ReadableSpan, name=st.integers(), context=_context, resource=st.sampled_from(_RESOURCES)),
    st.builds(lambda ctx, res, d: ReadableSpan(name="x", context=ctx, resource=res,
                                               status=_with_description(Status(StatusCode.ERROR), d)),
              _context, st.sampled_from(_RESOURCES), st.integers()),
)


def _library_encodes(span: ReadableSpan) -> bool:
    try:
        library_encode_spans([span])
    except Exception:  # noqa: BLE001
        return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_good_span, _good_span, _good_span, _bad_span), max_size=8))
def test_any_sdk_span_encodes_as_the_library_does(spans: list) -> None:
    """Byte for byte the library's encoding; the one difference: a span it cannot encode at all is left out
    (and reported) where the library raises and loses the whole batch."""
    logging.disable(logging.CRITICAL)  # both encoders log each attribute they drop
    try:
        dropped: list = []
        ours = encode_spans(spans, lambda span, exc: dropped.append(span))
        encodable = [s for s in spans if _library_encodes(s)]
        assert sorted(map(id, dropped)) == sorted(id(s) for s in spans if not _library_encodes(s))
        assert (ours.SerializeToString(deterministic=True)
                == library_encode_spans(encodable).SerializeToString(deterministic=True))
    finally:
        logging.disable(logging.NOTSET)


def test_equal_resources_are_merged_as_the_library_merges_them() -> None:
    first, second = (ReadableSpan(name=n, context=SpanContext(1, i + 1, False), resource=r, end_time=2)
                     for i, (n, r) in enumerate([("one", Resource({"k": "v"})), ("two", Resource({"k": "v"}))]))
    encoded = encode_spans([first, second])
    assert len(encoded.resource_spans) == 1
    assert [s.name for s in encoded.resource_spans[0].scope_spans[0].spans] == ["one", "two"]
    assert encoded == library_encode_spans([first, second])


def test_a_span_that_cannot_be_encoded_costs_only_itself() -> None:
    spans = _spans()
    bad = ReadableSpan(name=123, context=SpanContext(5, 6, False), resource=spans[0].resource)  # type: ignore[arg-type]
    batch = [*spans[:3], bad, *spans[3:]]
    with otlp_sink() as sink:
        exporter = FastOTLPSpanExporter(endpoint=sink.endpoint.removeprefix("http://"), insecure=True)
        exporter.export(batch)
        exporter.shutdown()
    assert exporter.dropped_spans == 1
    assert sink.requests("traces") == [library_encode_spans(spans)]
    try:
        library_encode_spans(batch)
    except TypeError:
        pass
    else:
        raise AssertionError("the library's encoder now takes a non-string name: drop the difference")
