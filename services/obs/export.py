"""Exporter wrappers that apply the PII policy and ``db.statement`` sanitising
to every span before it leaves the process (any exporter: OTLP, in-memory).

A wrapper rather than a SpanProcessor: spans are read-only once ended, so the
clean copy is made on the export path, once per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

from contracts.pii import SQL_STATEMENT_KEYS
from services.obs.pii import (
    PLAIN,
    anonymise_ip,
    key_policy,
    scrub_mapping,
    scrub_text,
    scrub_value,
)
from services.obs.sanitize import sanitize_statement

_IP_KEYS = frozenset({"client.address", "net.peer.ip", "net.sock.peer.addr", "http.client_ip", "network.peer.address"})
_QUERY_KEYS = frozenset({"url.query", "http.query"})
# What an attribute key calls for. Spans repeat the same few dozen keys endlessly, so the answer is
# cached, and plain numbers under a plain key (ports, sizes, status codes) are kept without a look.
_PLAIN, _STATEMENT, _IP, _QUERY, _BY_POLICY = range(5)
_NUMBERS = (int, float, bool)


@lru_cache(maxsize=4096)
def _key_rule(key: str) -> int:
    if key in SQL_STATEMENT_KEYS:
        return _STATEMENT
    if key in _IP_KEYS:
        return _IP
    if key in _QUERY_KEYS:
        return _QUERY
    return _PLAIN if key_policy(key) == PLAIN else _BY_POLICY


# Strings up to this length are cleaned once per distinct (value, rule): hosts, routes, URLs, user agents
# and addresses repeat from span to span (at most _TEXT_CACHE of them, about 2 MB).
_CACHED_TEXT = 256
_TEXT_CACHE = 8192


def _clean_text(value: str, rule: int) -> str:
    if rule == _PLAIN:
        return scrub_text(value)
    if rule == _IP:
        return anonymise_ip(value) or ""
    return scrub_text("?" + value)[1:]  # _QUERY


_clean_text_cached = lru_cache(maxsize=_TEXT_CACHE)(_clean_text)


def _clean_value(key: str, value: Any, rule: int, attributes: Any) -> Any:
    if isinstance(value, str):
        if rule == _STATEMENT:
            return sanitize_statement(value, attributes.get("db.system") or attributes.get("db.system.name"))
        if rule != _BY_POLICY:
            # The cached answer is an equal string, not always the same object: callers compare by value.
            return _clean_text_cached(value, rule) if len(value) <= _CACHED_TEXT else _clean_text(value, rule)
    elif rule == _PLAIN and value.__class__ in _NUMBERS:
        return value
    cleaned = scrub_value(key, value)
    # Attribute values must stay homogeneous primitives or sequences of them.
    return tuple(cleaned) if isinstance(cleaned, list) else cleaned


def clean_attributes(attributes: Any) -> Any:
    """Span or event attributes as they may be exported: the same object when nothing needed cleaning."""
    if not attributes:
        return attributes
    out: dict[str, Any] | None = None
    for key, value in attributes.items():
        cleaned = _clean_value(key, value, _key_rule(key), attributes)
        if out is None and cleaned is not value and cleaned != value:
            # First change: copy what came before it, then carry on writing into the copy.
            out = {}
            for k, v in attributes.items():
                if k == key:
                    break
                out[k] = v
        if out is not None:
            out[key] = cleaned
    return attributes if out is None else out


class _CleanedSpan(ReadableSpan):
    """A cleaned copy of a span that reports the original's dropped counts.

    The SDK reads them off its own bounded containers, which a copy does not have.
    """

    def __init__(self, original: ReadableSpan, **fields: Any) -> None:
        super().__init__(**fields)
        self._dropped = (original.dropped_attributes, original.dropped_events, original.dropped_links)

    @property
    def dropped_attributes(self) -> int:
        return self._dropped[0]

    @property
    def dropped_events(self) -> int:
        return self._dropped[1]

    @property
    def dropped_links(self) -> int:
        return self._dropped[2]


def _event_attributes(event: Event, cleaned: Any) -> Any:
    """``cleaned`` as an event's attributes that still say how many the SDK dropped."""
    dropped = event.dropped_attributes
    if not dropped:
        return cleaned
    bounded = BoundedAttributes(maxlen=None, attributes=cleaned, immutable=True)
    bounded.dropped = dropped
    return bounded


def clean_span(span: ReadableSpan) -> ReadableSpan:
    """The span as it may be exported; the same span (no copy) when it was already clean, the common case.

    A copy keeps the dropped attribute, event and link counts of the original.
    """
    name = span.name
    clean_name = scrub_text(name) if isinstance(name, str) else name
    # ReadableSpan.attributes and .events make a new view on every call: read each once.
    original_attributes = span.attributes
    attributes = clean_attributes(original_attributes)
    original_events = span.events
    events = [(e, clean_attributes(e.attributes)) for e in original_events]
    original_status = span.status
    status = original_status
    if status is not None and isinstance(status.description, str) and status.description:
        description = scrub_text(status.description)
        if description != status.description:
            status = Status(status.status_code, description)
    if (clean_name == name and attributes is original_attributes and status is original_status
            and all(cleaned is e.attributes for e, cleaned in events)):
        return span
    return _CleanedSpan(
        span,
        name=clean_name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=[e if cleaned is e.attributes else Event(e.name, _event_attributes(e, cleaned), e.timestamp)
                for e, cleaned in events],
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class SanitizingSpanExporter(SpanExporter):
    """Cleans each span, then hands the batch to ``inner``."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([clean_span(s) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class SanitizingLogProcessor(LogRecordProcessor):
    """First log processor of the provider: cleans the body and attributes in place.

    The JSON log filter already cleaned records coming through ``obs.logger``;
    this catches anything emitted on the provider directly (other bridges, events).
    """

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        if isinstance(record.body, str):
            record.body = scrub_text(record.body)
        elif isinstance(record.body, dict):
            record.body = scrub_mapping(record.body)
        if record.attributes:
            cleaned = clean_attributes(record.attributes)
            if cleaned is not record.attributes:
                record.attributes = cleaned

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
