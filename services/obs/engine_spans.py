"""The lean mode's SQL spans: opentelemetry-instrumentation-sqlalchemy's spans, made from a dialect wrapper.

The upstream instrumentation listens to the engine's cursor events
(``before_cursor_execute``, ``after_cursor_execute``, ``handle_error``), and
an engine with listeners takes SQLAlchemy's slower execution path; for each
statement it also works the connection attributes out again and makes an SDK
span. Here the engine's dialect is wrapped instead (``do_execute``,
``do_executemany``, ``do_execute_no_params``: what runs between those two
events), the span is a lean span, and the attributes are worked out with the
upstream instrumentation's own functions (``upstream_internals``): the
connection attributes once per engine when its URL names the host (else per
statement, from the cursor, as upstream does), the name and the statement's
attributes once per distinct statement text. A statement that raises gets
ERROR with the exception's text as its description, as upstream's
``handle_error`` does (the exporter's PII policy then cleans it).
"""

from __future__ import annotations

import functools
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from services.obs.upstream_internals import (
    EngineTracer,
    sql_attributes_from_cursor,
    sql_attributes_from_url,
    sql_db_name,
)

_MARK = "_obs_instrumented"
_HOOKS = ("do_execute", "do_executemany", "do_execute_no_params")
# Per distinct statement text and database name: an app sends the same few hundred statements over and over.
_CACHE_SIZE = 1024


class _Rules(EngineTracer):
    """The upstream ``EngineTracer`` of one engine, for its conventions, vendor and naming: no listeners."""

    @classmethod
    def _register_event_listener(cls, *args: Any, **kwargs: Any) -> None:
        return None


class _Collect(dict):
    """What ``EngineTracer._set_db_client_span_attributes`` sets on a span, kept as a dict."""

    def set_attribute(self, key: str, value: Any) -> None:
        self[key] = value


class _Connection:
    """What the upstream attribute functions read off a ``Connection``: its engine."""

    __slots__ = ("engine",)

    def __init__(self, engine: Any) -> None:
        self.engine = engine


class _EngineSpans:
    def __init__(self, engine: Any, tracer: Tracer) -> None:
        self.tracer = tracer
        self.rules = _Rules(tracer, engine, None)
        self.conn = _Connection(engine)
        self.url_attributes, self.found = sql_attributes_from_url(
            engine.url, self.rules._sem_conv_opt_in_mode_db, self.rules._sem_conv_opt_in_mode_http)
        self.cache: dict[tuple[str, Any], tuple[str, dict[str, Any]]] = {}

    def describe(self, cursor: Any, statement: str) -> tuple[str, dict[str, Any]]:
        """(span name, attributes) of one statement, as ``EngineTracer._before_cur_exec`` makes them."""
        rules = self.rules
        db_name = sql_db_name(rules.vendor, self.conn, cursor)
        key = (statement, db_name)
        if self.found:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
            attributes = self.url_attributes
        else:
            attributes = sql_attributes_from_cursor(rules.vendor, self.conn, cursor, dict(self.url_attributes),
                                                    rules._sem_conv_opt_in_mode_db, rules._sem_conv_opt_in_mode_http)
        collected = _Collect()
        rules._set_db_client_span_attributes(collected, statement, db_name, attributes)
        described = (rules._operation_name(db_name, statement), dict(collected))
        if self.found and len(self.cache) < _CACHE_SIZE:
            self.cache[key] = described
        return described

    def wrap(self, call: Any) -> Any:
        @functools.wraps(call)
        def traced(cursor: Any, statement: str, *args: Any, **kwargs: Any) -> Any:
            if not is_instrumentation_enabled():
                return call(cursor, statement, *args, **kwargs)
            name, attributes = self.describe(cursor, statement)
            span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
            try:
                result = call(cursor, statement, *args, **kwargs)
            except BaseException as exc:
                if span.is_recording():
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
                span.end()
                raise
            span.end()
            return result

        return traced


def trace_engine(engine: Any, tracer: Tracer) -> Any:
    """Trace every statement ``engine`` (or an ``AsyncEngine``) sends; a second call is a no-op."""
    sync_engine = getattr(engine, "sync_engine", engine)
    if getattr(sync_engine, _MARK, False):
        return engine
    spans = _EngineSpans(sync_engine, tracer)
    dialect = sync_engine.dialect
    for hook in _HOOKS:
        setattr(dialect, hook, spans.wrap(getattr(dialect, hook)))
    sync_engine._obs_instrumented = True
    return engine
