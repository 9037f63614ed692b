"""Client spans for redis-py (sync and asyncio, fakeredis included), in the SDK's lean mode.

One CLIENT span per command and one per pipeline, with the attributes
opentelemetry-instrumentation-redis sets by default (``db.system``,
``db.statement`` as ``GET ?``, ``db.redis.database_index``,
``net.peer.name``, ``net.peer.port``), so traces and dashboards read the
same in either mode. Written here rather than taken from the upstream package
because that one rebuilds the connection attributes and sets each attribute
through its own locked call on every command, which made a traced GET cost
about 75 µs on the benchmark runner; here the connection part is worked out
once per client and the span is made in one call.

The wrapping is per client object (``client.execute_command`` and
``client.pipeline``), never the library's classes: apps in one process keep
their own tracers.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from opentelemetry.trace import SpanKind, Tracer

from services.obs.client_span import Ending, mark_failed

_MARK = "_obs_redis_traced"
_MAX_STATEMENT = 1000


def connection_attributes(client: Any) -> dict[str, Any]:
    """What the connection pool says about the server, as span attributes.

    A client without one pool (a cluster client) talks to many servers: only ``db.system`` is known.
    """
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
    if kwargs is None:
        return {"db.system": "redis"}
    attrs: dict[str, Any] = {"db.system": "redis", "db.redis.database_index": int(kwargs.get("db") or 0)}
    if "path" in kwargs:
        attrs["net.peer.name"] = str(kwargs["path"])
    else:
        attrs["net.peer.name"] = str(kwargs.get("host", "localhost"))
        attrs["net.peer.port"] = int(kwargs.get("port", 6379))
    return attrs


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
    # redis-py keeps queued commands as (args, options) pairs.
    return [entry[0] for entry in getattr(pipeline, "command_stack", ())]


def _pipeline_failed(span: Any, exc: BaseException) -> None:
    # A WatchError is optimistic locking at work (the caller retries), not a failure.
    if type(exc).__name__ != "WatchError":
        mark_failed(span, exc)


def _command_span(tracer: Tracer, base: dict[str, Any], args: tuple[Any, ...]) -> Ending:
    return Ending(tracer.start_span(str(args[0]) if args else "redis", kind=SpanKind.CLIENT,
                                    attributes={**base, "db.statement": statement(args)}))


def _traced_sync(execute: Any, tracer: Tracer, base: dict[str, Any]) -> Any:
    @functools.wraps(execute)
    def execute_command(*args: Any, **options: Any) -> Any:
        with _command_span(tracer, base, args):
            return execute(*args, **options)

    return execute_command


def _traced_async(execute: Any, tracer: Tracer, base: dict[str, Any]) -> Any:
    @functools.wraps(execute)
    async def execute_command(*args: Any, **options: Any) -> Any:
        with _command_span(tracer, base, args):
            return await execute(*args, **options)

    return execute_command


def _traced_pipeline_factory(make_pipeline: Any, tracer: Tracer, base: dict[str, Any]) -> Any:
    @functools.wraps(make_pipeline)
    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = make_pipeline(*args, **kwargs)
        execute = pipe.execute

        def pipeline_span() -> Ending:
            commands = _commands_of(pipe)
            name, text = _pipeline_statement(commands)
            return Ending(tracer.start_span(name, kind=SpanKind.CLIENT, attributes={
                **base, "db.statement": text, "db.redis.pipeline_length": len(commands)}), _pipeline_failed)

        if inspect.iscoroutinefunction(execute):
            async def execute_async(*a: Any, **kw: Any) -> Any:
                with pipeline_span():
                    return await execute(*a, **kw)
            pipe.execute = execute_async
        else:
            def execute_sync(*a: Any, **kw: Any) -> Any:
                with pipeline_span():
                    return execute(*a, **kw)
            pipe.execute = execute_sync
        return pipe

    return pipeline


def trace_redis(client: Any, tracer: Tracer) -> Any:
    """Trace every command and pipeline of ``client``; a second call is a no-op."""
    if getattr(client, _MARK, False):
        return client
    base = connection_attributes(client)
    execute = client.execute_command
    traced = _traced_async if inspect.iscoroutinefunction(execute) else _traced_sync
    client.execute_command = traced(execute, tracer, base)
    if hasattr(client, "pipeline"):
        client.pipeline = _traced_pipeline_factory(client.pipeline, tracer, base)
    setattr(client, _MARK, True)
    return client
