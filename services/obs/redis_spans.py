"""Client spans for redis-py (sync and asyncio, fakeredis included), in the SDK's lean mode.

One CLIENT span per command, per pipeline, and per command a pipeline sends
at once (``WATCH``, and what a watching pipeline runs before ``MULTI``), with
the names and attributes opentelemetry-instrumentation-redis gives under the
conventions ``OTEL_SEMCONV_STABILITY_OPT_IN`` selects: its own connection
attributes (worked out once per client), ``db.statement`` or
``db.query.text`` as ``GET ?``, ``db.redis.args_length``,
``db.redis.pipeline_length``. A cluster pipeline's span names its commands;
a cluster client's spans carry no connection attributes, as upstream's.
What it saves against the upstream package: the connection attributes rebuilt
and each attribute set through its own locked call on every command.

The wrapping is per client object (``client.execute_command`` and
``client.pipeline``), never the library's classes: apps in one process keep
their own tracers.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, NamedTuple

from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Tracer

from services.obs.client_span import Ending, mark_failed
from services.obs.upstream_internals import (
    StabilityMode,
    redis_conn_attributes,
    semconv_modes,
)

_MARK = "_obs_redis_traced"
_MAX_STATEMENT = 1000


class _Base(NamedTuple):
    """What every span of one client carries: its connection attributes, and the statement's key(s)."""

    attributes: dict[str, Any]
    statement_keys: tuple[str, ...]


def connection_attributes(client: Any) -> dict[str, Any]:
    """What the connection pool says about the server, as span attributes, as the upstream instrumentation
    gives them under the conventions in force (``OTEL_SEMCONV_STABILITY_OPT_IN``).

    A client without one pool (a cluster client) talks to many servers: only ``db.system`` is known.
    """
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
    if kwargs is None:
        return {"db.system": "redis"}
    http_mode, db_mode = semconv_modes()
    return redis_conn_attributes(kwargs, db_mode, http_mode)


def statement_keys() -> tuple[str, ...]:
    """Where the statement goes under the database conventions in force: old, stable, or both."""
    db_mode = semconv_modes()[1]
    if db_mode is StabilityMode.DATABASE:
        return ("db.query.text",)
    if db_mode is StabilityMode.DATABASE_DUP:
        return ("db.statement", "db.query.text")
    return ("db.statement",)


def statement(args: tuple[Any, ...]) -> str:
    """``SET ? ?``: the command name, each argument a placeholder (values can be PII)."""
    if not args:
        return ""
    text = str(args[0]) + " ?" * (len(args) - 1)
    return text if len(text) <= _MAX_STATEMENT else text[:_MAX_STATEMENT - 3] + "..."


def _pipeline_statement(commands: list[tuple[Any, ...]]) -> tuple[str, str]:
    """(span name, statement) of a pipeline: its command names, one statement line per command."""
    names = [str(args[0]) for args in commands if args]
    text = "\n".join(statement(args) for args in commands)
    return (" ".join(names)[:_MAX_STATEMENT] or "PIPELINE"), text[:_MAX_STATEMENT]


def _commands_of(pipeline: Any) -> list[tuple[Any, ...]]:
    # redis-py keeps queued commands as (args, options) pairs; a cluster pipeline as PipelineCommand objects.
    return [entry.args if hasattr(entry, "args") else entry[0] for entry in _stack_of(pipeline)]


def _stack_of(pipeline: Any) -> Any:
    # redis-py 6+ cluster pipelines queue on their execution strategy (their command_stack stays empty).
    strategy = getattr(pipeline, "_execution_strategy", None)
    if strategy is not None and hasattr(strategy, "command_queue"):
        return strategy.command_queue
    return getattr(pipeline, "command_stack", ())


def _pipeline_failed(span: Any, exc: BaseException) -> None:
    # A WatchError is optimistic locking at work (the caller retries), not a failure.
    if type(exc).__name__ != "WatchError":
        mark_failed(span, exc)


def _command_span(tracer: Tracer, base: _Base, args: tuple[Any, ...]) -> Ending:
    attributes = {**base.attributes, **dict.fromkeys(base.statement_keys, statement(args)),
                  "db.redis.args_length": len(args)}
    return Ending(tracer.start_span(str(args[0]) if args else "redis", kind=SpanKind.CLIENT, attributes=attributes))


def _traced_sync(execute: Any, tracer: Tracer, base: _Base) -> Any:
    @functools.wraps(execute)
    def execute_command(*args: Any, **options: Any) -> Any:
        if not is_instrumentation_enabled():  # suppress_instrumentation(), as upstream honours it
            return execute(*args, **options)
        with _command_span(tracer, base, args):
            return execute(*args, **options)

    return execute_command


def _traced_async(execute: Any, tracer: Tracer, base: _Base) -> Any:
    @functools.wraps(execute)
    async def execute_command(*args: Any, **options: Any) -> Any:
        if not is_instrumentation_enabled():
            return await execute(*args, **options)
        with _command_span(tracer, base, args):
            return await execute(*args, **options)

    return execute_command


def _traced_pipeline_factory(make_pipeline: Any, tracer: Tracer, base: _Base) -> Any:
    @functools.wraps(make_pipeline)
    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        execute = pipe.execute

        def pipeline_span() -> Ending:
            commands = _commands_of(pipe)
            name, text = _pipeline_statement(commands)
            attributes = {**base.attributes, **dict.fromkeys(base.statement_keys, text),
                          "db.redis.pipeline_length": len(commands)}
            return Ending(tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes), _pipeline_failed)

        if inspect.iscoroutinefunction(execute):
            async def execute_async(*a: Any, **kw: Any) -> Any:
                if not is_instrumentation_enabled():
                    return await execute(*a, **kw)
                with pipeline_span():
                    return await execute(*a, **kw)
            pipe.execute = execute_async
        else:
            def execute_sync(*a: Any, **kw: Any) -> Any:
                if not is_instrumentation_enabled():
                    return execute(*a, **kw)
                with pipeline_span():
                    return execute(*a, **kw)
            pipe.execute = execute_sync
        # WATCH, and the commands a watching pipeline runs at once, are sent one by one: each a command span.
        immediate = getattr(pipe, "immediate_execute_command", None)
        if immediate is not None:
            traced = _traced_async if inspect.iscoroutinefunction(immediate) else _traced_sync
            pipe.immediate_execute_command = traced(immediate, tracer, base)
        return pipe

    return pipeline


def trace_redis(client: Any, tracer: Tracer) -> Any:
    """Trace every command and pipeline of ``client``; a second call is a no-op."""
    if getattr(client, _MARK, False):
        return client
    # A client without one pool (a cluster client): upstream reads the connection attributes off that pool
    # and so sets none, db.system included; the lean spans give the same.
    pooled = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None) is not None
    base = _Base(connection_attributes(client) if pooled else {}, statement_keys())
    execute = client.execute_command
    traced = _traced_async if inspect.iscoroutinefunction(execute) else _traced_sync
    client.execute_command = traced(execute, tracer, base)
    if hasattr(client, "pipeline"):
        client.pipeline = _traced_pipeline_factory(client.pipeline, tracer, base)
    setattr(client, _MARK, True)
    return client
