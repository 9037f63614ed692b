"""Every use obs makes of an upstream library's private parts, in one place.

These are names that carry no compatibility promise (an underscore, an
``_internal`` or ``_incubating`` module, an undocumented attribute or an
overridable method). Each is imported or read here and nowhere else; the
other modules take it from this one. ``check()`` finds each of them on the
installed libraries, and ``check_versions()`` compares the installed
OpenTelemetry distributions with the bounds in ``pyproject.toml``, the
versions these uses were tested with; tests/services/obs/test_upstream_internals.py
runs both, so an upgrade that moves one fails there with its name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

# 1. The OTLP exporter library's resource and scope encoders (otlp_encode: the in-place span encoder).
from opentelemetry.exporter.otlp.proto.common._internal import (
    _encode_instrumentation_scope as encode_instrumentation_scope,
)
from opentelemetry.exporter.otlp.proto.common._internal import (
    _encode_resource as encode_resource,
)
from opentelemetry.instrumentation._semconv import _get_schema_url as semconv_schema_url
from opentelemetry.instrumentation._semconv import (
    _get_schema_url_for_signal_types as semconv_schema_url_for,
)

# 2. The HTTP semantic-convention opt-in as the instrumentations read it (lean mode: the same choice).
from opentelemetry.instrumentation._semconv import (
    _OpenTelemetrySemanticConventionStability as SemconvStability,
)
from opentelemetry.instrumentation._semconv import (
    _OpenTelemetryStabilitySignalType as StabilitySignal,
)

# 2a. The HTTP method attributes as the ASGI instrumentation sets them (server_span.RequestAttributes).
from opentelemetry.instrumentation._semconv import (
    _set_http_method as set_http_method,
)
from opentelemetry.instrumentation._semconv import (
    _StabilityMode as StabilityMode,
)

# 2c. The Redis instrumentation's wrappers and tracer, for a sync cluster client whose pipelines its per-client
#     path cannot wrap (instrument.instrument_redis; see REDIS_CLUSTER_PIPELINE_MISSING below).
from opentelemetry.instrumentation.redis import (
    _INSTRUMENTATION_ATTR as REDIS_INSTRUMENTED_ATTR,
)
from opentelemetry.instrumentation.redis import (
    RedisInstrumentor,
)
from opentelemetry.instrumentation.redis import (
    _traced_execute_factory as redis_command_wrapper,
)
from opentelemetry.instrumentation.redis import (
    _traced_execute_pipeline_factory as redis_pipeline_wrapper,
)

# 2b. The Redis instrumentation's connection attributes (lean Redis spans: the same, worked out once per client).
from opentelemetry.instrumentation.redis.util import (
    _extract_conn_attributes as redis_conn_attributes,
)

# 3. SQLAlchemy's per-engine tracer, built directly (the instrumentor is a process-wide singleton), and the
#    functions it works a statement's attributes out with (engine_spans: the lean SQL spans, the same attributes).
#    engine_spans also calls EngineTracer's _operation_name and _set_db_client_span_attributes and reads its
#    vendor and _sem_conv_opt_in_mode_db/_http (ENGINE_TRACER_MEMBERS).
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.instrumentation.sqlalchemy.engine import (
    _get_attributes_from_cursor_or_conn as sql_attributes_from_cursor,
)
from opentelemetry.instrumentation.sqlalchemy.engine import (
    _get_attributes_from_url as sql_attributes_from_url,
)
from opentelemetry.instrumentation.sqlalchemy.engine import (
    _get_db_name_from_cursor_or_conn as sql_db_name,
)

# 4. The pool-usage metric's name (an incubating convention).
from opentelemetry.semconv._incubating.metrics.db_metrics import (
    DB_CLIENT_CONNECTIONS_USAGE,
)

__all__ = [
    "DB_CLIENT_CONNECTIONS_USAGE",
    "ENGINE_TRACER_LISTENER_HOOK",
    "ENGINE_TRACER_MEMBERS",
    "REDIS_INSTRUMENTED_ATTR",
    "METRIC_READER_RECEIVE_HOOK",
    "SPAN_EXPORTER_TRANSLATE_HOOK",
    "EngineTracer",
    "SemconvStability",
    "StabilityMode",
    "StabilitySignal",
    "check",
    "check_versions",
    "encode_instrumentation_scope",
    "encode_resource",
    "fastapi_telemetry_config",
    "reader_aggregations",
    "redis_cluster_pipeline_unwrappable",
    "redis_command_wrapper",
    "redis_conn_attributes",
    "redis_pipeline_wrapper",
    "redis_tracer",
    "reset_semconv_opt_in",
    "sdk_tracer_parts",
    "semconv_modes",
    "semconv_schema_url",
    "semconv_schema_url_for",
    "set_http_method",
    "socketio_dispatch_name",
    "sql_attributes_from_cursor",
    "sql_attributes_from_url",
    "sql_db_name",
]

# 5. Methods overridden in subclasses, by name.
#    OTLPSpanExporter._translate_data: the batch -> request step (otlp_encode.FastOTLPSpanExporter).
SPAN_EXPORTER_TRANSLATE_HOOK = "_translate_data"
#    MetricReader._receive_metrics: where a reader gets each collection (metric_view's snapshot readers,
#    and PrometheusMetricReader's, called to render a snapshot).
METRIC_READER_RECEIVE_HOOK = "_receive_metrics"
#    EngineTracer._register_event_listener: how it adds each SQLAlchemy listener (instrument: pool
#    listeners left out).
ENGINE_TRACER_LISTENER_HOOK = "_register_event_listener"
#    What engine_spans reads or calls on an EngineTracer built without listeners.
ENGINE_TRACER_MEMBERS = ("_operation_name", "_set_db_client_span_attributes", "vendor",
                         "_sem_conv_opt_in_mode_db", "_sem_conv_opt_in_mode_http")
# 6. python-socketio's single event dispatch point (sockets.instrument_socketio wraps it per server).
socketio_dispatch_name = "_trigger_event"


# 6b. RedisInstrumentor._get_tracer: the tracer (scope, version, schema_url) its spans are made with.
def redis_tracer(tracer_provider: Any) -> Any:
    return RedisInstrumentor._get_tracer(tracer_provider=tracer_provider)


def redis_cluster_pipeline_unwrappable(client: Any) -> bool:
    """Whether the upstream per-client path fails on ``client``'s pipelines.

    For a sync ``RedisCluster`` it wraps each pipeline's ``immediate_execute_command``, which redis-py's
    ``ClusterPipeline`` no longer has (8.x): the wrap raises, so ``pipeline()`` fails in the caller's request.
    """
    import redis.cluster

    return (isinstance(client, redis.cluster.RedisCluster)
            and not hasattr(redis.cluster.ClusterPipeline, "immediate_execute_command"))


# 7. The SDK Tracer's undocumented attributes a lean span runs on (lean_spans.LeanTracer).
_TRACER_PARTS = ("sampler", "id_generator", "span_processor", "resource")


def sdk_tracer_parts(tracer: Any) -> tuple[Any, Any, Any, Any] | None:
    """(sampler, id generator, span processor, resource) of an SDK tracer; None for any other tracer."""
    parts = tuple(getattr(tracer, name, None) for name in _TRACER_PARTS)
    return None if None in parts else parts  # type: ignore[return-value]


# 8. A metric reader's per-instrument temporality and aggregation (metric_view.view_can_share).
def reader_aggregations(reader: Any) -> tuple[dict[Any, Any] | None, dict[Any, Any] | None]:
    return (getattr(reader, "_instrument_class_temporality", None),
            getattr(reader, "_instrument_class_aggregation", None))


# 9. FastAPI's native telemetry settings on an app (instrument.turn_off_native_telemetry).
def fastapi_telemetry_config(app: Any) -> dict[str, Any] | None:
    config = getattr(app, "_telemetry", None)
    return config if isinstance(config, dict) else None


def semconv_modes() -> tuple[Any, Any]:
    """(HTTP, database) conventions ``OTEL_SEMCONV_STABILITY_OPT_IN`` selects, read as the instrumentations read it."""
    SemconvStability._initialize()
    return (SemconvStability._get_opentelemetry_stability_opt_in_mode(StabilitySignal.HTTP),
            SemconvStability._get_opentelemetry_stability_opt_in_mode(StabilitySignal.DATABASE))


def reset_semconv_opt_in() -> None:
    """Read ``OTEL_SEMCONV_STABILITY_OPT_IN`` again at the next instrumentation (it is read once per process)."""
    SemconvStability._initialized = False
    SemconvStability._initialize()


def check() -> list[str]:
    """What of the above the installed libraries no longer have; empty when everything is there."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics.export import (
        MetricReader,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider

    missing = []
    hooks = [(OTLPSpanExporter, SPAN_EXPORTER_TRANSLATE_HOOK), (MetricReader, METRIC_READER_RECEIVE_HOOK),
             (PeriodicExportingMetricReader, METRIC_READER_RECEIVE_HOOK),
             (EngineTracer, ENGINE_TRACER_LISTENER_HOOK)]
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        hooks.append((PrometheusMetricReader, METRIC_READER_RECEIVE_HOOK))
    except ImportError:
        missing.append("opentelemetry.exporter.prometheus.PrometheusMetricReader")
    try:
        import socketio
        hooks.append((socketio.AsyncServer, socketio_dispatch_name))
    except ImportError:
        missing.append("socketio.AsyncServer")
    missing += [f"{cls.__module__}.{cls.__qualname__}.{name}" for cls, name in hooks if not hasattr(cls, name)]
    from sqlalchemy import create_engine

    class _Quiet(EngineTracer):
        @classmethod
        def _register_event_listener(cls, *args: Any, **kwargs: Any) -> None:
            return None

    engine_tracer = _Quiet(TracerProvider().get_tracer("check"), create_engine("sqlite://"), None)
    missing += [f"opentelemetry.instrumentation.sqlalchemy.engine.EngineTracer.{name}"
                for name in ENGINE_TRACER_MEMBERS if not hasattr(engine_tracer, name)]
    if sdk_tracer_parts(TracerProvider().get_tracer("check")) is None:
        missing.append("opentelemetry.sdk.trace.Tracer." + "/".join(_TRACER_PARTS))
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    temporalities, aggregations = reader_aggregations(InMemoryMetricReader())
    if temporalities is None or aggregations is None:
        missing.append("opentelemetry.sdk.metrics.export.MetricReader._instrument_class_temporality/_aggregation")
    if not callable(getattr(RedisInstrumentor, "_get_tracer", None)):
        missing.append("opentelemetry.instrumentation.redis.RedisInstrumentor._get_tracer")
    for member in ("_initialize", "_get_opentelemetry_stability_opt_in_mode", "_initialized"):
        if not hasattr(SemconvStability, member):
            missing.append(f"opentelemetry.instrumentation._semconv._OpenTelemetrySemanticConventionStability.{member}")
    return missing


_REQUIREMENT = re.compile(r'^\s*"(?P<name>opentelemetry-[a-z0-9-]+)(?P<spec>[^";]*)"', re.MULTILINE)
# Where the private parts above live, and the requirement of pyproject.toml that pins each exactly.
TRANSITIVE = {
    "opentelemetry-exporter-otlp-proto-common": "opentelemetry-exporter-otlp-proto-grpc",
    "opentelemetry-instrumentation": "opentelemetry-instrumentation-fastapi",
    "opentelemetry-semantic-conventions": "opentelemetry-instrumentation-fastapi",
}


def pinned_requirements(pyproject: Path | None = None) -> Iterator[tuple[str, str]]:
    """(distribution, version specifier) of each ``opentelemetry-*`` requirement of the ``services`` extra."""
    path = pyproject or Path(__file__).resolve().parents[2] / "pyproject.toml"
    text = path.read_text()
    block = re.search(r"^services = \[(.*?)^\]", text, re.MULTILINE | re.DOTALL)
    for match in _REQUIREMENT.finditer(block[1] if block else ""):
        yield match["name"], match["spec"].strip()


def check_versions(pyproject: Path | None = None) -> list[str]:
    """One line per installed OpenTelemetry distribution outside the tested bounds, or with none."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    problems = []
    for name, spec in pinned_requirements(pyproject):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name} is required by pyproject.toml but not installed: pip install -e '.[services]'")
            continue
        specifier = SpecifierSet(spec)
        if not any(s.operator in ("<", "<=", "==", "~=") for s in specifier):
            problems.append(f"{name}: no upper bound in pyproject.toml; pin the versions obs was tested with")
        elif not specifier.contains(installed, prereleases=True):
            problems.append(
                f"{name} {installed} is installed, outside the tested bounds {spec!r} in pyproject.toml: "
                "run tests/services/obs (test_upstream_internals.py, test_differential.py, test_otlp_encode.py) "
                "against it, fix what moved in services/obs/upstream_internals.py, then widen the bound")
    for name, parent in TRANSITIVE.items():
        try:
            mine, theirs = Version(metadata.version(name)), Version(metadata.version(parent))
        except metadata.PackageNotFoundError as exc:
            problems.append(f"{exc.name} is not installed")
            continue
        if mine.release[:2] != theirs.release[:2]:
            problems.append(f"{name} {mine} does not go with {parent} {theirs}, which pins it: reinstall them together")
    return problems
