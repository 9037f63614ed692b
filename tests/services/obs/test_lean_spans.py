"""Lean spans reach the SDK's span processors as the SDK's own spans would: same ids, parents,
attributes, status and events, with the SDK's sampler and limits; children made inside a request
reach them once the request hands them over."""

from __future__ import annotations

import threading

import pytest
from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Decision, Sampler, SamplingResult
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from services.obs import context as request_context
from services.obs.lean_spans import LeanSpan, LeanTracer, SpanHandover


@pytest.fixture
def sink() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _tracer(sink: InMemorySpanExporter, **provider_args: object) -> LeanTracer:
    provider = TracerProvider(**provider_args)  # type: ignore[arg-type]
    provider.add_span_processor(SimpleSpanProcessor(sink))
    return LeanTracer(provider.get_tracer("services.obs.test"), "services.obs.test")


@pytest.fixture
def request_scope():
    """A request as the middleware opens one: its context, with a hand-over for child spans."""
    req = request_context.RequestContext("rid", {})
    req.spans = SpanHandover()
    token = request_context.CURRENT.set(req)
    yield req
    request_context.CURRENT.reset(token)


def test_a_span_reaches_the_processors_with_its_ids_times_and_scope(sink):
    tracer = _tracer(sink)
    span = tracer.start_span("GET /rooms/{id}", kind=SpanKind.SERVER, attributes={"http.request.method": "GET"})
    assert isinstance(span, LeanSpan) and span.is_recording()
    span.set_attribute("http.response.status_code", 200)
    span.update_name("GET /rooms/{room_id}")
    assert sink.get_finished_spans() == ()
    span.end()
    (done,) = sink.get_finished_spans()
    assert done.name == "GET /rooms/{room_id}"
    assert done.context == span.get_span_context() and done.parent is None
    assert done.kind is SpanKind.SERVER
    assert dict(done.attributes) == {"http.request.method": "GET", "http.response.status_code": 200}
    assert done.instrumentation_scope.name == "services.obs.test"
    assert 0 < done.start_time <= done.end_time
    assert done.context.trace_flags.sampled and done.context.trace_flags.random_trace_id
    assert not span.is_recording()


def test_a_child_has_its_parents_trace_and_span_as_parent(sink):
    tracer = _tracer(sink)
    parent = tracer.start_span("parent")
    with trace.use_span(parent):
        child = tracer.start_span("child", kind=SpanKind.CLIENT)
    child.end()
    parent.end()
    by_name = {s.name: s for s in sink.get_finished_spans()}
    assert by_name["child"].parent == parent.get_span_context()
    assert by_name["child"].context.trace_id == parent.get_span_context().trace_id
    assert by_name["child"].context.span_id != parent.get_span_context().span_id


def test_the_sdks_sampler_decides_and_a_dropped_span_is_not_recording(sink):
    tracer = _tracer(sink, sampler=ALWAYS_OFF)
    span = tracer.start_span("dropped")
    assert not span.is_recording()
    assert span.get_span_context().is_valid and not span.get_span_context().trace_flags.sampled
    span.end()
    assert sink.get_finished_spans() == ()


_PARENTS = {
    "none": None,
    "local sampled": SpanContext(0xA1, 0xB1, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED),
                                 trace_state=TraceState([("k", "v")])),
    "local not sampled": SpanContext(0xA2, 0xB2, is_remote=False, trace_flags=TraceFlags(0)),
    "remote sampled": SpanContext(0xA3, 0xB3, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED | 2),
                                  trace_state=TraceState([("vendor", "x")])),
    "remote not sampled": SpanContext(0xA4, 0xB4, is_remote=True, trace_flags=TraceFlags(0)),
}


@pytest.mark.parametrize("parent_kind", list(_PARENTS))
def test_the_default_samplers_answer_is_the_one_it_would_give_if_asked(parent_kind):
    """ParentBased(ALWAYS_ON) is not asked per span: what it would answer follows from the parent."""
    parent = _PARENTS[parent_kind]
    context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent else context_api.Context()
    answers = []
    for shortcut in (True, False):
        tracer = _tracer(InMemorySpanExporter())
        assert tracer.default_sampler
        tracer.default_sampler = shortcut  # False: ask the sampler, as for any other one
        span = tracer.start_span("s", context=context, attributes={"a": 1})
        ctx = span.get_span_context()
        answers.append((span.is_recording(), ctx.trace_flags, ctx.trace_state, ctx.trace_id == (parent or ctx).trace_id,
                        dict(span._attributes) if isinstance(span, LeanSpan) else None))
    assert answers[0] == answers[1]
    assert answers[0][0] is (parent is None or parent.trace_flags.sampled)


def test_a_sampler_that_changes_attributes_changes_a_deferred_childs_too(sink, request_scope):
    class Tagging(Sampler):
        def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                          trace_state=None):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, {**(attributes or {}), "sampled.by": "tagging"})

        def get_description(self) -> str:
            return "Tagging"

    tracer = _tracer(sink, sampler=Tagging())
    assert not tracer.default_sampler
    parent = tracer.start_span("parent")
    with trace.use_span(parent):
        child = tracer.start_span("child", attributes={"db.system": "redis"})
    child.end()
    request_scope.spans.hand_over()
    parent.end()
    by_name = {s.name: s for s in sink.get_finished_spans()}
    assert dict(by_name["child"].attributes) == {"db.system": "redis", "sampled.by": "tagging"}
    assert by_name["parent"].attributes["sampled.by"] == "tagging"


def test_status_follows_the_sdks_rules(sink):
    tracer = _tracer(sink)
    span = tracer.start_span("s")
    span.set_status(StatusCode.UNSET)
    span.set_status(Status(StatusCode.ERROR, "boom"))
    span.set_status(StatusCode.OK)
    span.set_status(StatusCode.ERROR, "later")  # OK is final
    span.end()
    assert sink.get_finished_spans()[0].status.status_code is StatusCode.OK


def test_an_exception_becomes_the_sdks_exception_event(sink):
    tracer = _tracer(sink)
    span = tracer.start_span("s")
    try:
        raise ValueError("bad value")
    except ValueError as exc:
        span.record_exception(exc, attributes={"extra": "x"})
    span.end()
    (event,) = sink.get_finished_spans()[0].events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad value"
    assert "Traceback" in event.attributes["exception.stacktrace"]
    assert event.attributes["exception.escaped"] == "False" and event.attributes["extra"] == "x"


def test_span_limits_and_attribute_checks_give_what_the_sdks_own_span_gives(sink, monkeypatch):
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3")
    tracer = _tracer(sink, span_limits=SpanLimits())

    def record(span):
        mutable = ["a"]
        span.set_attribute("nested", object())  # not an attribute value
        span.set_attribute("list", mutable)
        mutable.append("b")  # after the set: the span keeps what it was given
        span.set_attribute("ok", "fine")
        span.end()

    record(tracer.start_span("lean", attributes={f"k{i}": i for i in range(5)}))
    record(tracer.tracer.start_span("sdk", attributes={f"k{i}": i for i in range(5)}))
    lean, sdk = sink.get_finished_spans()
    assert isinstance(tracer.start_span("x"), LeanSpan)
    assert dict(lean.attributes) == dict(sdk.attributes)
    assert len(lean.attributes) == 3 and lean.dropped_attributes == sdk.dropped_attributes > 0
    assert lean.attributes["list"] == ("a",)


def test_links_given_at_start_or_added_later_are_kept(sink):
    tracer = _tracer(sink)
    first, second = tracer.start_span("first"), tracer.start_span("second")
    span = tracer.start_span("linked", links=[Link(first.get_span_context(), {"why": "batch"})])
    span.add_link(second.get_span_context())
    span.add_link(trace.INVALID_SPAN_CONTEXT)  # neither a valid context nor attributes: not a link
    span.end()
    linked = {s.name: s for s in sink.get_finished_spans()}["linked"]
    assert [link.context for link in linked.links] == [first.get_span_context(), second.get_span_context()]
    assert linked.links[0].attributes["why"] == "batch"


def test_an_exception_escaping_a_with_block_is_recorded_as_the_sdk_does(sink):
    tracer = _tracer(sink)
    with pytest.raises(KeyError), tracer.start_span("lean"):
        raise KeyError("k")
    with pytest.raises(KeyError), tracer.tracer.start_span("sdk"):
        raise KeyError("k")
    lean, sdk = sink.get_finished_spans()
    assert lean.status.status_code is sdk.status.status_code is StatusCode.ERROR
    assert lean.status.description == sdk.status.description
    assert [e.name for e in lean.events] == [e.name for e in sdk.events] == ["exception"]
    assert lean.events[0].attributes["exception.escaped"] == sdk.events[0].attributes["exception.escaped"] == "True"


def test_a_tracer_that_is_not_the_sdks_makes_its_own_spans():
    tracer = LeanTracer(trace.NoOpTracer(), "x")
    assert not isinstance(tracer.start_span("s"), LeanSpan)


# --- children inside a request ------------------------------------------------------

def test_a_child_inside_a_request_reaches_the_processors_at_hand_over(sink, request_scope):
    tracer = _tracer(sink)
    server = tracer.start_span("GET /x", context=context_api.Context(), kind=SpanKind.SERVER)
    with trace.use_span(server):
        child = tracer.start_span("GET", kind=SpanKind.CLIENT, attributes={"db.system": "redis"})
        child.end()
    server.end()
    assert [s.name for s in sink.get_finished_spans()] == ["GET /x"]
    request_scope.spans.hand_over()
    by_name = {s.name: s for s in sink.get_finished_spans()}
    assert by_name["GET"].parent == server.get_span_context()
    assert by_name["GET"].attributes["db.system"] == "redis"
    assert by_name["GET"].start_time <= by_name["GET"].end_time <= by_name["GET /x"].end_time


def test_a_childs_id_asked_for_early_is_the_id_it_is_exported_with(sink, request_scope):
    tracer = _tracer(sink)
    server = tracer.start_span("GET /x", context=context_api.Context(), kind=SpanKind.SERVER)
    with trace.use_span(server):
        child = tracer.start_span("GET", kind=SpanKind.CLIENT)
    early = child.get_span_context()
    child.end()
    server.end()
    request_scope.spans.hand_over()
    exported = {s.name: s for s in sink.get_finished_spans()}["GET"]
    assert exported.context == early


def test_a_child_of_a_dropped_parent_is_dropped_on_hand_over(sink, request_scope):
    tracer = _tracer(sink)
    unsampled = trace.NonRecordingSpan(trace.SpanContext(0xABC, 0xDEF, is_remote=False,
                                                         trace_flags=trace.TraceFlags(0)))
    with trace.use_span(unsampled):
        child = tracer.start_span("GET", kind=SpanKind.CLIENT)
    child.end()
    request_scope.spans.hand_over()
    assert sink.get_finished_spans() == ()


def test_a_child_ending_after_hand_over_goes_straight_to_the_processors(sink, request_scope):
    tracer = _tracer(sink)
    server = tracer.start_span("GET /x", context=context_api.Context(), kind=SpanKind.SERVER)
    with trace.use_span(server):
        late = tracer.start_span("background", kind=SpanKind.CLIENT)
    server.end()
    request_scope.spans.hand_over()
    assert [s.name for s in sink.get_finished_spans()] == ["GET /x"]
    late.end()
    assert sorted(s.name for s in sink.get_finished_spans()) == ["GET /x", "background"]


def test_children_ending_on_other_threads_during_hand_over_are_each_exported_once(sink, request_scope):
    tracer = _tracer(sink)
    server = tracer.start_span("GET /x", context=context_api.Context(), kind=SpanKind.SERVER)
    with trace.use_span(server):
        children = [tracer.start_span(f"c{i}") for i in range(400)]
    go = threading.Barrier(3)

    def end(part: list) -> None:
        go.wait()
        for span in part:
            span.end()

    threads = [threading.Thread(target=end, args=(children[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    go.wait()
    request_scope.spans.hand_over()
    for t in threads:
        t.join()
    names = [s.name for s in sink.get_finished_spans()]
    assert sorted(names) == sorted(f"c{i}" for i in range(400))
