"""Auto-instrumentation of FastAPI, Redis, SQLAlchemy and HTTPX on one Obs's providers.

Each call instruments one object (app, client, engine) with this service's
providers rather than patching the libraries process-wide, so that apps in one
process do not share exporters.

``OBS_INSTRUMENTATION=opentelemetry`` (the default) uses
opentelemetry-instrumentation-{fastapi,redis,sqlalchemy}, with every standard
``OTEL_*`` variable they read. ``lean`` makes server, Redis and SQL spans in
the obs SDK itself (``middleware``, ``redis_spans``, ``engine_spans``), with the
names and attributes the upstream instrumentations give, as lean spans
(``lean_spans``) handed to the SDK's span processors; the differential test
(tests/services/obs/test_differential.py) holds the two to the same output.
HTTPX always uses the upstream instrumentation.
"""

from __future__ import annotations

import os
from importlib import metadata
from typing import Any, Literal

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import __version__ as _sqla_instr_version
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.trace import TracerProvider
from wrapt import wrap_function_wrapper

from services.obs.engine_spans import trace_engine
from services.obs.lean_spans import LeanTracer
from services.obs.redis_spans import trace_redis
from services.obs.upstream_internals import (
    DB_CLIENT_CONNECTIONS_USAGE,
    REDIS_INSTRUMENTED_ATTR,
    EngineTracer,
    StabilitySignal,
    fastapi_telemetry_config,
    redis_cluster_pipeline_unwrappable,
    redis_command_wrapper,
    redis_pipeline_wrapper,
    redis_tracer,
    semconv_modes,
    semconv_schema_url,
    semconv_schema_url_for,
)

Mode = Literal["opentelemetry", "lean"]
# The instrumentation scopes of the spans the lean mode makes, one per library, as upstream has them.
LEAN_SCOPES = {"fastapi": "services.obs.fastapi", "redis": "services.obs.redis",
               "sqlalchemy": "services.obs.sqlalchemy"}


def _obs_version() -> str:
    try:
        return metadata.version("otelpipe")
    except metadata.PackageNotFoundError:
        return "0+unknown"


OBS_VERSION = _obs_version()


def lean_schema_url(library: str) -> str:
    """The schema_url upstream gives the scope of ``library`` under the conventions in force."""
    http_mode = semconv_modes()[0]
    if library == "fastapi":
        return semconv_schema_url(http_mode)
    if library == "redis":
        return semconv_schema_url_for([StabilitySignal.DATABASE, StabilitySignal.HTTP])
    return ""  # the SQLAlchemy instrumentation's tracer has none


def lean_tracer(tracer_provider: TracerProvider, library: str) -> LeanTracer:
    """The tracer of one lean-mode scope (``lean_spans``), over ``tracer_provider``'s sampler and processors.

    Its scope has obs's version and the schema_url the upstream instrumentation's scope has.
    """
    scope = LEAN_SCOPES[library]
    schema_url = lean_schema_url(library) or None
    return LeanTracer(tracer_provider.get_tracer(scope, OBS_VERSION, schema_url=schema_url), scope,
                      OBS_VERSION, schema_url)


# FastAPI's own OpenTelemetry support (``FastAPI(telemetry=...)``), every signal of it.
NATIVE_TELEMETRY_OFF = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def turn_off_native_telemetry(app: FastAPI) -> None:
    """Stop FastAPI's native telemetry on ``app``: obs instruments its requests.

    FastAPI instruments each request itself through the global providers once
    any are set (``opentelemetry-instrument``, another library): a second server
    span, its own request metrics, and exception log records with messages and
    stack traces, none of which pass obs's PII policy. FastAPI reads the
    settings given to ``FastAPI(telemetry=...)`` on every request and has no
    switch after construction, so they are changed in place; a FastAPI without
    native telemetry has no such settings and is left as it is.
    """
    config = fastapi_telemetry_config(app)
    if config is not None:
        config.update(NATIVE_TELEMETRY_OFF)


# Probes and scrapes are not traced: they would drown the traces people look for.
UNTRACED_PATHS = ("/health/live", "/health/startup")


# Standard switches the lean mode does not implement: set with OBS_INSTRUMENTATION=lean, init refuses to start.
LEAN_UNSUPPORTED = (
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE",
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS",
)


def check_lean_supported() -> None:
    """Raise if a standard instrumentation switch is set that the lean mode would silently ignore."""
    found = [name for name in LEAN_UNSUPPORTED if os.environ.get(name, "").strip()]
    if found:
        raise ValueError(f"OBS_INSTRUMENTATION=lean does not honour {', '.join(found)}: unset it, or use "
                         "OBS_INSTRUMENTATION=opentelemetry (the default), which does")


def excluded_urls_from_env() -> str | None:
    """The excluded-URLs setting the upstream instrumentation reads, if set.

    ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``, else ``OTEL_PYTHON_EXCLUDED_URLS``: comma-separated regular
    expressions searched in the request's full URL.
    """
    for name in ("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def untraced_urls(untraced_paths: tuple[str, ...]) -> str:
    """What is not traced: the excluded-URLs variable when set, as it is; else obs's probe paths."""
    from_env = excluded_urls_from_env()
    if from_env is not None:
        return from_env
    return ",".join(p.lstrip("/") for p in untraced_paths)


def instrument_fastapi(app: FastAPI, tracer_provider: TracerProvider, untraced_paths: tuple[str, ...], *,
                       message_spans: bool = False) -> None:
    """opentelemetry-instrumentation-fastapi (``OBS_INSTRUMENTATION=opentelemetry``).

    Every standard variable it reads applies (``OTEL_SEMCONV_STABILITY_OPT_IN``,
    ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_*``, the excluded URLs). Without an
    excluded-URLs variable, the probe paths are left untraced. Its request metrics are
    left out (a no-op meter provider): the obs middleware already records the
    service's ``<prefix>_http_*`` for every request. Its per-message receive/send spans
    double the span count of every request and say little: off unless ``message_spans``.
    """
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, meter_provider=NoOpMeterProvider(),
        # The variable's value when set (read now: the instrumentation itself reads it once, at import).
        excluded_urls=untraced_urls(untraced_paths),
        exclude_spans=None if message_spans else ["receive", "send"],
    )


def instrument_redis(client: Any, tracer_provider: TracerProvider, mode: Mode = "opentelemetry") -> Any:
    if mode == "lean":
        return trace_redis(client, lean_tracer(tracer_provider, "redis"))
    if redis_cluster_pipeline_unwrappable(client):
        return _instrument_redis_cluster(client, tracer_provider)
    RedisInstrumentor.instrument_client(client, tracer_provider=tracer_provider)
    return client


def _instrument_redis_cluster(client: Any, tracer_provider: TracerProvider) -> Any:
    """A sync cluster client as ``RedisInstrumentor.instrument_client`` would do it, less the wrap that fails.

    Its per-client path wraps each pipeline's ``immediate_execute_command``, which this redis-py's
    ``ClusterPipeline`` does not have, so every ``pipeline()`` raised. The same wrappers, made by the
    instrumentation's own factories with its own tracer, go on ``execute_command`` and each pipeline's
    ``execute``, as its async-cluster path does: the spans are the instrumentation's.
    """
    if getattr(client, REDIS_INSTRUMENTED_ATTR, False):
        return client
    tracer = redis_tracer(tracer_provider)
    command, pipeline_execute = redis_command_wrapper(tracer), redis_pipeline_wrapper(tracer)

    def pipeline(func: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        pipe = func(*args, **kwargs)
        wrap_function_wrapper(pipe, "execute", pipeline_execute)
        return pipe

    wrap_function_wrapper(client, "execute_command", command)
    wrap_function_wrapper(client, "pipeline", pipeline)
    setattr(client, REDIS_INSTRUMENTED_ATTR, True)
    return client


def instrument_httpx(client: Any, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> Any:
    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=tracer_provider, meter_provider=meter_provider)
    return client


class _StatementOnlyEngineTracer(EngineTracer):
    """``EngineTracer`` without its pool listeners: they only feed the pool-usage metric.

    With that metric off, each of them still ran on every checkout and checkin
    (four no-op measurements per query, each building an attribute dict).
    """

    _POOL_EVENTS = frozenset({"connect", "close", "checkin", "checkout"})

    @classmethod
    def _register_event_listener(cls, target: Any, identifier: str, func: Any, *args: Any, **kw: Any) -> None:
        if identifier not in cls._POOL_EVENTS:
            super()._register_event_listener(target, identifier, func, *args, **kw)


def instrument_sqlalchemy(engine: Any, tracer_provider: TracerProvider, *, mode: Mode = "opentelemetry",
                          pool_metrics: MeterProvider | None = None) -> Any:
    """Spans for every statement on ``engine`` (sync or async).

    Lean mode: ``engine_spans`` (the upstream instrumentation's spans from a
    dialect wrapper, without cursor-event listeners); ``pool_metrics`` asks for
    the upstream instrumentation, since only it reports pool usage.

    Upstream: ``SQLAlchemyInstrumentor().instrument(engine=...)`` works once per process
    (the instrumentor is a singleton), so the per-engine ``EngineTracer`` it
    builds is used directly. Its pool-usage counter (four measurements per
    checkout and checkin, the largest cost of a traced query) is off, with the
    listeners that feed it, unless ``pool_metrics`` is given.
    """
    sync_engine = getattr(engine, "sync_engine", engine)
    if getattr(sync_engine, "_obs_instrumented", False):
        return engine
    if mode == "lean" and pool_metrics is None:
        return trace_engine(engine, lean_tracer(tracer_provider, "sqlalchemy"))
    tracer = tracer_provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", _sqla_instr_version)
    meter = (pool_metrics or NoOpMeterProvider()).get_meter("opentelemetry.instrumentation.sqlalchemy",
                                                            _sqla_instr_version)
    usage = meter.create_up_down_counter(
        DB_CLIENT_CONNECTIONS_USAGE, unit="connections",
        description="The number of connections that are currently in state described by the state attribute.",
    )
    (EngineTracer if pool_metrics is not None else _StatementOnlyEngineTracer)(tracer, sync_engine, usage)
    sync_engine._obs_instrumented = True
    return engine
