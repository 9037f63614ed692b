"""OTLP span encoding in place, the exporter's own encoding at a fraction of its cost.

``opentelemetry-exporter-otlp-proto-common`` builds every span from keyword
constructors (``Span(attributes=[KeyValue(value=AnyValue(...))])``), and
protobuf copies each nested message into its parent once more. Writing the
fields in place on the request (``.add()``, attribute assignment) makes the
same message without the copies. That work runs in the export thread, but it
holds the GIL the request threads need, so it is paid in request latency too.

The output is byte for byte what the library's ``encode_spans`` makes, for
any span the SDK's ``ReadableSpan`` holds (a property test against it:
tests/services/obs/test_otlp_encode.py), with one difference: a span that
cannot be encoded at all is left out of its batch and counted
(``FastOTLPSpanExporter.dropped_spans``), where the library raises and the
whole batch is lost. Resources and scopes are still encoded by the library's
helpers (``upstream_internals``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from services.obs.upstream_internals import (
    encode_instrumentation_scope,
    encode_resource,
)

_log = logging.getLogger(__name__)

_KIND = {
    SpanKind.INTERNAL: PbSpan.SpanKind.SPAN_KIND_INTERNAL,
    SpanKind.SERVER: PbSpan.SpanKind.SPAN_KIND_SERVER,
    SpanKind.CLIENT: PbSpan.SpanKind.SPAN_KIND_CLIENT,
    SpanKind.PRODUCER: PbSpan.SpanKind.SPAN_KIND_PRODUCER,
    SpanKind.CONSUMER: PbSpan.SpanKind.SPAN_KIND_CONSUMER,
}
_HAS_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK


def _set_value(target: Any, value: Any) -> None:
    """``AnyValue`` in place; the same type order as the library's ``_encode_value``.

    Raises on a value the library cannot encode either (an unknown type, an int outside 64 bits), at any
    depth: the caller then drops the whole top-level attribute, as the library does.
    """
    if value is None:
        target.SetInParent()
    elif isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, Sequence):
        values = target.array_value.values
        target.array_value.SetInParent()
        for item in value:
            _set_value(values.add(), item)
    elif isinstance(value, Mapping):
        values = target.kvlist_value.values
        target.kvlist_value.SetInParent()
        for key, item in value.items():
            kv = values.add()
            kv.key = str(key)
            _set_value(kv.value, item)
    else:
        raise TypeError(f"Invalid type {type(value)} of value {value}")


def _set_attributes(target: Any, attributes: Mapping[str, Any]) -> None:
    for key, value in attributes.items():
        try:
            kv = target.add()
            kv.key = key
            _set_value(kv.value, value)
        except Exception:  # noqa: BLE001 - as the library does: one bad value drops that attribute only
            del target[-1]
            _log.exception("Failed to encode key %s", key)


def _fill_span(out: Any, span: ReadableSpan) -> None:
    ctx = span.get_span_context()
    out.trace_id = ctx.trace_id.to_bytes(16, "big")
    out.span_id = ctx.span_id.to_bytes(8, "big")
    if ctx.trace_state:
        out.trace_state = ",".join(f"{k}={v}" for k, v in ctx.trace_state.items())
    parent = span.parent
    flags = _HAS_IS_REMOTE
    if parent is not None:
        out.parent_span_id = parent.span_id.to_bytes(8, "big")
        if parent.is_remote:
            flags |= _IS_REMOTE
    out.flags = flags
    # None (a name the SDK accepts, an unended span's end) is the field left unset, as the library's
    # keyword constructors leave it.
    if span.name is not None:
        out.name = span.name
    out.kind = _KIND[span.kind]
    if span.start_time is not None:
        out.start_time_unix_nano = span.start_time
    if span.end_time is not None:
        out.end_time_unix_nano = span.end_time
    attributes = span.attributes
    if attributes:
        _set_attributes(out.attributes, attributes)
    for event in span.events:
        ev = out.events.add()
        if event.name is not None:
            ev.name = event.name
        if event.timestamp is not None:
            ev.time_unix_nano = event.timestamp
        if event.attributes:
            _set_attributes(ev.attributes, event.attributes)
        ev.dropped_attributes_count = event.dropped_attributes
    for link in span.links:
        lk = out.links.add()
        lk.trace_id = link.context.trace_id.to_bytes(16, "big")
        lk.span_id = link.context.span_id.to_bytes(8, "big")
        if link.attributes:
            _set_attributes(lk.attributes, link.attributes)
        lk.dropped_attributes_count = link.dropped_attributes
        lk.flags = _HAS_IS_REMOTE | (_IS_REMOTE if link.context.is_remote else 0)
    status = span.status
    if status is not None:
        out.status.SetInParent()
        out.status.code = status.status_code.value
        if status.description is not None:
            out.status.message = status.description
    out.dropped_attributes_count = span.dropped_attributes
    out.dropped_events_count = span.dropped_events
    out.dropped_links_count = span.dropped_links


class _Groups:
    """Spans by resource, then scope, in the order the library groups them.

    The library keys its groups by ``Resource`` equality, whose ``__hash__`` serialises the attributes to
    JSON on every call. A provider's spans share one Resource object, so each distinct object is compared
    (``==``) with the groups so far once, and its spans then go by identity.
    """

    def __init__(self) -> None:
        self.by_id: dict[int, dict[Any, list[ReadableSpan]]] = {}
        self.groups: list[tuple[Any, dict[Any, list[ReadableSpan]]]] = []

    def add(self, span: ReadableSpan) -> None:
        resource = span.resource
        scopes = self.by_id.get(id(resource))
        if scopes is None:
            for known, known_scopes in self.groups:
                if known == resource:
                    scopes = known_scopes
                    break
            else:
                scopes = {}
                self.groups.append((resource, scopes))
            self.by_id[id(resource)] = scopes
        scopes.setdefault(span.instrumentation_scope or None, []).append(span)


def encode_spans(spans: Sequence[ReadableSpan],
                 on_drop: Callable[[ReadableSpan, BaseException], None] | None = None) -> ExportTraceServiceRequest:
    """The ``ExportTraceServiceRequest`` of ``spans``: grouped by resource, then instrumentation scope.

    A span that cannot be encoded at all (a name or status message that is not a string, an unknown
    kind, a broken context) is left out and reported to ``on_drop``: the request is what the library
    makes of the batch without it. The library's encoder raises instead, and the whole batch is lost.
    """
    dropped: dict[int, BaseException] = {}
    request = _encode(spans, dropped)
    if dropped:
        # Rare: encoded again without them, so that the groups' order is the batch's without them too.
        request = _encode([s for s in spans if id(s) not in dropped], {})
        if on_drop is not None:
            for span in spans:
                if id(span) in dropped:
                    on_drop(span, dropped[id(span)])
    return request


def _encode(spans: Sequence[ReadableSpan], dropped: dict[int, BaseException]) -> ExportTraceServiceRequest:
    groups = _Groups()
    for span in spans:
        groups.add(span)
    request = ExportTraceServiceRequest()
    for resource, scopes in groups.groups:
        resource_spans = request.resource_spans.add()
        resource_spans.resource.CopyFrom(encode_resource(resource))
        if resource.schema_url:
            resource_spans.schema_url = resource.schema_url
        for scope, scope_members in scopes.items():
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.CopyFrom(encode_instrumentation_scope(scope))
            if scope is not None and scope.schema_url:
                scope_spans.schema_url = scope.schema_url
            out = scope_spans.spans
            for span in scope_members:
                try:
                    _fill_span(out.add(), span)
                except Exception as exc:  # noqa: BLE001 - that span is dropped, never the batch
                    del out[-1]
                    dropped[id(span)] = exc
    return request


class FastOTLPSpanExporter(OTLPSpanExporter):
    """``OTLPSpanExporter`` (gRPC, retries, TLS, headers, OTEL_* settings) with the in-place encoder.

    ``dropped_spans``: how many spans were left out of their batch because they could not be encoded
    (each one is also logged, with the reason).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dropped_spans = 0
        self._drop_lock = threading.Lock()

    def _dropped(self, span: ReadableSpan, exc: BaseException) -> None:
        with self._drop_lock:
            self.dropped_spans += 1
        _log.error("span %r dropped from the export batch: it cannot be encoded (%s: %s)",
                   getattr(span, "name", None), type(exc).__name__, exc)

    # SPAN_EXPORTER_TRANSLATE_HOOK
    def _translate_data(self, data: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
        return encode_spans(data, self._dropped)
