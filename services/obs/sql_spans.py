"""Client spans for SQLAlchemy engines (sync and async) made by wrapping the engine's dialect.

Not used by ``obs.init``: the lean mode's SQL spans are ``engine_spans``
(the same dialect wrapper, with the upstream instrumentation's names and
attributes), because these do not name spans, read the database name and
user, or record a failure as opentelemetry-instrumentation-sqlalchemy does. One CLIENT span per statement sent to the driver (``do_execute``,
``do_executemany``, ``do_execute_no_params``), with ``db.system``,
``db.name``, ``db.statement``, ``db.operation``, ``net.peer.name`` and
``net.peer.port``; wrapping the dialect avoids the slower execution path an
engine with cursor events takes. ``db.statement`` is the raw text here; the
exporter wrapper strips its literals (``export.py``).
"""

from __future__ import annotations

import functools
from typing import Any

from opentelemetry.trace import SpanKind, Tracer

from services.obs.client_span import Ending

_MARK = "_obs_sql_traced"
_HOOKS = ("do_execute", "do_executemany", "do_execute_no_params")
# Span names per statement text: an app sends the same few hundred statements over and over.
_NAME_CACHE_SIZE = 1024


def connection_attributes(engine: Any) -> dict[str, Any]:
    """``db.system``, ``db.name`` and the server address, from the engine's URL."""
    url = engine.url
    attrs: dict[str, Any] = {"db.system": engine.name}
    if url.database:
        attrs["db.name"] = url.database
    if url.host:
        attrs["net.peer.name"] = url.host
    if url.port:
        attrs["net.peer.port"] = int(url.port)
    return attrs


def operation(statement: str) -> str:
    """The statement's first word (``SELECT``), past any leading ``/* comment */``."""
    text = statement.lstrip()
    while text.startswith("/*"):
        end = text.find("*/")
        if end < 0:
            return ""
        text = text[end + 2:].lstrip()
    return text.split(None, 1)[0] if text else ""


class _SpanNames:
    """``SELECT mydb`` per statement text, cached and bounded."""

    def __init__(self, system: str, database: str | None) -> None:
        self.system, self.database = system, database
        self._names: dict[str, tuple[str, str]] = {}

    def __call__(self, statement: str) -> tuple[str, str]:
        found = self._names.get(statement)
        if found is None:
            op = operation(statement)
            name = " ".join(p for p in (op, self.database) if p) or self.system
            found = (name, op)
            if len(self._names) < _NAME_CACHE_SIZE:
                self._names[statement] = found
        return found


def _traced(call: Any, tracer: Tracer, base: dict[str, Any], names: _SpanNames) -> Any:
    @functools.wraps(call)
    def traced(cursor: Any, statement: str, *args: Any, **kwargs: Any) -> Any:
        name, op = names(statement)
        attrs = {**base, "db.statement": statement}
        if op:
            attrs["db.operation"] = op
        with Ending(tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)):
            return call(cursor, statement, *args, **kwargs)

    return traced


def trace_sql(engine: Any, tracer: Tracer) -> Any:
    """Trace every statement ``engine`` (or an ``AsyncEngine``) sends; a second call is a no-op."""
    sync_engine = getattr(engine, "sync_engine", engine)
    dialect = sync_engine.dialect
    if getattr(dialect, _MARK, False):
        return engine
    base = connection_attributes(sync_engine)
    names = _SpanNames(sync_engine.name, sync_engine.url.database)
    for hook in _HOOKS:
        setattr(dialect, hook, _traced(getattr(dialect, hook), tracer, base, names))
    setattr(dialect, _MARK, True)
    return engine
