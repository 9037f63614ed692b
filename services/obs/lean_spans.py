"""The lean mode's spans: recorded in a plain object, handed to the SDK's span processors when they end.

Why not the SDK's own ``Span``: its construction, per-call locks, attribute
checks on every set and its start and end are most of a traced request's cost
(bench/bench_obs.py measures both modes). A ``LeanSpan`` keeps the calls in
plain fields, and at ``end`` builds the SDK's ``ReadableSpan``, the form every
span processor and exporter receives, and passes it to the tracer's span
processors, as the SDK's ``Span.end`` does.

What stays the SDK's: the sampler (asked once per span, with the SDK's
arguments; the default ``ParentBased(ALWAYS_ON)`` is not asked, as its
answer follows from the parent alone), the id generator, the resource, the
span processors and exporters, and the span limits (``SpanLimits()`` from
the ``OTEL_*_LIMIT`` variables, applied through the SDK's
``BoundedAttributes`` and ``BoundedList``). What differs: span attributes
are checked once, when the span ends, rather than on every set; processors'
``on_start`` gets the ``LeanSpan``; and a child made inside a request
reaches the processors after the response (``SpanHandover``). A tracer that
is not an SDK tracer (no-op, proxy) makes its own spans.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import time_ns
from types import TracebackType
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, sampling
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from services.obs import context as request_context
from services.obs.upstream_internals import sdk_tracer_parts

_UNSET = Status(StatusCode.UNSET)
# Values the SDK's attribute check keeps as they are; a span holding only these skips the check.
_PLAIN = frozenset({str, int, float, bool})
# TraceFlags by value (sampled | random trace id): made once rather than per span.
_FLAGS = tuple(TraceFlags(v) for v in range(4))


class LeanTracer(trace.Tracer):
    """A tracer of one instrumentation scope whose spans are ``LeanSpan``s, over an SDK tracer's pipeline."""

    def __init__(self, tracer: Any, scope: str, version: str | None = None, schema_url: str | None = None) -> None:
        self.tracer = tracer
        self.scope = InstrumentationScope(scope, version, schema_url)
        # The parts of the SDK tracer a span needs; None when it is not an SDK tracer (no-op, proxy).
        parts = sdk_tracer_parts(tracer)
        self.sampler, self.ids, self.processor, self.resource = parts or (None, None, None, None)
        self.limits = SpanLimits()
        self.lean = parts is not None
        # The SDK's default sampler, whose answer follows from the parent alone (new_context): asking
        # it builds a SamplingResult and looks the parent up in the context twice more, per span.
        self.default_sampler = self.sampler is sampling.DEFAULT_ON

    def start_span(self, name: str, context: context_api.Context | None = None,
                   kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None,
                   links: Sequence[Link] | None = (), start_time: int | None = None,
                   record_exception: bool = True, set_status_on_exception: bool = True) -> trace.Span:
        if not self.lean:
            return self.tracer.start_span(name, context, kind, attributes, links, start_time,
                                          record_exception, set_status_on_exception)
        if context is None:
            request = request_context.CURRENT.get()
            handover = request.spans if request is not None else None
            if handover is not None and not handover.closed:
                current = context_api.get_current()
                parent = trace.get_current_span(current).get_span_context()
                if parent.is_valid and not parent.is_remote:
                    # A child inside a request: sampled, given its id and handed to the processors once
                    # the response has gone (SpanHandover), unless something asks for its id first.
                    return LeanSpan(self, name, None, parent, kind, attributes, links, start_time or time_ns(),
                                    record_exception, set_status_on_exception, current, handover)
        # The SDK's steps (opentelemetry.sdk.trace.Tracer.start_span), without building its Span.
        parent = trace.get_current_span(context).get_span_context()
        span_context, recording, attributes = self.new_context(context, parent, name, kind, attributes, links)
        if not recording:
            return trace.NonRecordingSpan(span_context)
        span = LeanSpan(self, name, span_context, parent if parent.is_valid else None, kind, attributes,
                        links, start_time or time_ns(), record_exception, set_status_on_exception)
        self.processor.on_start(span, parent_context=context)
        return span

    def new_context(self, context: context_api.Context | None, parent: SpanContext, name: str, kind: SpanKind,
                    attributes: Mapping[str, Any] | None,
                    links: Sequence[Link] | None) -> tuple[SpanContext, bool, Mapping[str, Any] | None]:
        """A new span's context, whether it records, and its attributes as the sampler leaves them.

        The sampler decides, and the trace's id or a new one and a new span id make the context.
        """
        root = not parent.is_valid
        trace_id = self.ids.generate_trace_id() if root else parent.trace_id
        if self.default_sampler:
            # ParentBased(ALWAYS_ON): sampled unless the parent is not, with the parent's trace state.
            recording = sampled = root or parent.trace_flags.sampled
            trace_state = None if root else parent.trace_state
        else:
            result = self.sampler.should_sample(context, trace_id, name, kind, attributes, links or ())
            recording, sampled = result.decision.is_recording(), result.decision.is_sampled()
            attributes, trace_state = result.attributes, result.trace_state
        flags = TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT
        if self.ids.is_trace_id_random() if root else parent.trace_flags & TraceFlags.RANDOM_TRACE_ID:
            flags |= TraceFlags.RANDOM_TRACE_ID
        span_context = SpanContext(trace_id, self.ids.generate_span_id(), is_remote=False,
                                   trace_flags=_FLAGS[flags], trace_state=trace_state)
        return span_context, recording, attributes

    @contextmanager  # type: ignore[override]
    def start_as_current_span(self, name: str, context: context_api.Context | None = None,
                              kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None,
                              links: Sequence[Link] | None = (), start_time: int | None = None,
                              record_exception: bool = True, set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> Iterator[trace.Span]:
        span = self.start_span(name, context, kind, attributes, links, start_time, record_exception,
                               set_status_on_exception)
        with trace.use_span(span, end_on_exit=end_on_exit, record_exception=record_exception,
                            set_status_on_exception=set_status_on_exception) as current:
            yield current


class SpanHandover:
    """A request's ended child spans, until the middleware hands them to the processors after the response.

    ``list.append`` and ``list.pop`` are atomic, so a span ending on another thread while the request is
    handed over is handed over exactly once: by ``hand_over`` if it was added first, else by itself.
    """

    __slots__ = ("_ended", "closed")

    def __init__(self) -> None:
        self._ended: list[LeanSpan] = []
        self.closed = False

    def add(self, span: LeanSpan) -> None:
        self._ended.append(span)
        if self.closed:
            self._drain()

    def hand_over(self) -> None:
        """Hand every ended span to the processors; spans ending from now on go straight there."""
        self.closed = True
        self._drain()

    def _drain(self) -> None:
        ended = self._ended
        while ended:
            try:
                span = ended.pop()
            except IndexError:
                return
            span._finish()


class LeanSpan(trace.Span):
    """A recording span; ``end`` hands the SDK's processors a ``ReadableSpan`` of it.

    A child made inside a request (``handover`` set) is sampled and given its id when it is handed over,
    or when ``get_span_context`` is first called, whichever comes first.
    """

    def __init__(self, tracer: LeanTracer, name: str, span_context: SpanContext | None, parent: SpanContext | None,
                 kind: SpanKind, attributes: Mapping[str, Any] | None, links: Sequence[Link] | None,
                 start_time: int, record_exception: bool = True, set_status_on_exception: bool = True,
                 parent_context: context_api.Context | None = None, handover: SpanHandover | None = None) -> None:
        self._tracer = tracer
        self._name, self._context, self._parent, self._kind = name, span_context, parent, kind
        self._parent_context, self._handover = parent_context, handover
        self._record_exception, self._set_status_on_exception = record_exception, set_status_on_exception
        self._recording = True
        self._links: BoundedList | None = None
        # Checked once, when the span ends (after the response, for a request's spans).
        self._attributes: dict[str, Any] = dict(attributes) if attributes else {}
        self._events: list[Event] | None = None
        self._status = _UNSET
        self._start, self._end = start_time, 0
        for link in links or ():
            self.add_link(link.context, link.attributes)

    def _begin(self) -> None:
        """A deferred child's start: the sampler's decision, its ids, the processors' ``on_start``."""
        assert self._parent is not None
        self._context, self._recording, attributes = self._tracer.new_context(
            self._parent_context, self._parent, self._name, self._kind, self._attributes, self._links)
        if attributes is not self._attributes:
            self._attributes = dict(attributes or {})  # what the sampler made of them, as the SDK keeps
        if self._recording:
            self._tracer.processor.on_start(self, parent_context=self._parent_context)

    def get_span_context(self) -> SpanContext:
        if self._context is None:
            self._begin()
        assert self._context is not None
        return self._context

    @property
    def name(self) -> str:
        return self._name

    def is_recording(self) -> bool:
        return self._recording and not self._end

    def set_attribute(self, key: str, value: Any) -> None:
        if not self._end:
            # A list the caller changes later must not change the span (the SDK copies it too).
            self._attributes[key] = tuple(value) if isinstance(value, list) else value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def update_name(self, name: str) -> None:
        if not self._end:
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # The SDK's rules: OK is final, UNSET is ignored, a description goes with a StatusCode only.
        if self._end or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, StatusCode):
            status = Status(status, description)
        if status.status_code is not StatusCode.UNSET:
            self._status = status

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None,
                  timestamp: int | None = None) -> None:
        if self._end:
            return
        limits = self._tracer.limits
        if self._events is None:
            self._events = BoundedList(limits.max_events)
        self._events.append(Event(name, BoundedAttributes(limits.max_event_attributes, attributes, immutable=True,
                                                          max_value_len=limits.max_attribute_length),
                                  timestamp or time_ns()))

    def add_link(self, context: SpanContext, attributes: Mapping[str, Any] | None = None) -> None:
        # As the SDK: a link needs a valid context or attributes, and both are bounded.
        if self._end or not (context.is_valid or attributes):
            return
        limits = self._tracer.limits
        if self._links is None:
            self._links = BoundedList(limits.max_links)
        self._links.append(Link(context, BoundedAttributes(limits.max_link_attributes, attributes, immutable=True,
                                                           max_value_len=limits.max_attribute_length)))

    def record_exception(self, exception: BaseException, attributes: Mapping[str, Any] | None = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        """The SDK's ``exception`` event: type, message, stack trace and whether it escaped."""
        module, qualname = type(exception).__module__, type(exception).__qualname__
        event = {
            "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        self.add_event("exception", {**event, **(attributes or {})}, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end:
            return
        self._end = end_time or time_ns()
        if self._handover is not None:
            self._handover.add(self)
        else:
            self._finish()

    def _finish(self) -> None:
        if self._context is None:
            self._begin()
        if not self._recording:
            return
        tracer = self._tracer
        limits = tracer.limits
        attributes: Mapping[str, Any]
        if (len(self._attributes) <= limits.max_span_attributes
                and limits.max_span_attribute_length is None
                and all(v.__class__ in _PLAIN and k.__class__ is str for k, v in self._attributes.items())):
            # Nothing the SDK's check would change. The dict itself: ReadableSpan.attributes hands out a
            # read-only view of it, and a dict of plain values is not tracked by the garbage collector
            # while the span waits in the export queue (a view would be).
            attributes = self._attributes
        else:
            attributes = BoundedAttributes(limits.max_span_attributes, self._attributes, immutable=True,
                                           max_value_len=limits.max_span_attribute_length)
        tracer.processor.on_end(ReadableSpan(
            name=self._name, context=self._context, parent=self._parent, resource=tracer.resource,
            attributes=attributes,
            events=self._events if self._events is not None else (),
            links=self._links if self._links is not None else (), kind=self._kind, status=self._status,
            start_time=self._start, end_time=self._end, instrumentation_scope=tracer.scope,
        ))

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """``with span:`` as with the SDK's span: an escaping exception is recorded and sets ERROR."""
        if exc is not None and self.is_recording():
            if self._record_exception:
                self.record_exception(exc, escaped=True)
            if self._set_status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        super().__exit__(kind, exc, tb)

    def __repr__(self) -> str:
        return f"LeanSpan({self._name!r})"
