"""The telemetry of a service under test, through the OTel SDK.

Quiet obs settings for an app under test, the app's spans and log records held
by the SDK's in-memory exporters, and lookups in the OTLP requests a sink of
the real Collector received.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services import obs

ADMIN_TOKEN = "admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# What the spans of one request to a service on PostgreSQL and Redis stand for, in either instrumentation mode.
SERVER, SQL, REDIS = "server", "sql", "redis"


def obs_settings(**overrides: Any) -> obs.ObsSettings:
    """ADMIN_TOKEN, no OTLP export, no JSON logs on stdout, every INFO log kept, no background probes."""
    base: dict[str, Any] = {
        "OBS_ADMIN_TOKEN": ADMIN_TOKEN, "OBS_LOG_JSON_STDOUT": False, "LOG_SAMPLING_RATE_INFO": 1.0,
        "HEALTH_PROBE_INTERVAL_SECONDS": 0, "OTEL_EXPORTER_OTLP_ENDPOINT": None,
    }
    return obs.ObsSettings(**{**base, **overrides})


@dataclass
class ServiceApp:
    """A started app and what its obs providers exported."""

    client: TestClient
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter

    @property
    def app(self) -> Any:
        return self.client.app


# The ``start_app`` fixture (tests/services/conftest.py): ``start_app(app, kind=ServiceApp, **fields)``.
StartApp = Callable[..., Any]


def spans_of(requests: list[Any], trace_id: bytes) -> list[tuple[str, Any]]:
    """(scope name, span) of every span of ``trace_id`` in the sink's OTLP requests."""
    return [(ss.scope.name, span) for req in requests for rs in req.resource_spans for ss in rs.scope_spans
            for span in ss.spans if span.trace_id == trace_id]


def span_role(span: Any) -> str | None:
    """``server``, ``redis`` or ``sql`` for a span (SDK or OTLP), told by kind and ``db.system``; else None."""
    if hasattr(span, "instrumentation_scope"):  # an SDK ReadableSpan
        server = span.kind is SpanKind.SERVER
        system = (span.attributes or {}).get("db.system")
    else:  # an OTLP protobuf Span
        server = span.kind == PbSpan.SPAN_KIND_SERVER
        system = next((kv.value.string_value for kv in span.attributes if kv.key == "db.system"), None)
    if server:
        return SERVER
    if system:
        return REDIS if system == "redis" else SQL
    return None


def roles_of(spans: Any) -> set[str]:
    """The roles among ``spans`` (SDK spans, or the (scope, span) pairs of ``spans_of``)."""
    return {span_role(s[1] if isinstance(s, tuple) else s) for s in spans} - {None}


def logs_of(requests: list[Any], trace_id: bytes) -> list[Any]:
    """Every log record of ``trace_id`` in the sink's OTLP requests."""
    return [rec for req in requests for rl in req.resource_logs for sl in rl.scope_logs
            for rec in sl.log_records if rec.trace_id == trace_id]


def eventually(check: Callable[[], Any], what: str, timeout: float = 30.0,
               flush: Callable[[], Any] | None = None) -> Any:
    """``check()``'s first truthy result within ``timeout`` seconds, else AssertionError naming ``what``;
    ``flush`` (the app's exporters, say) runs between tries."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        if flush is not None:
            flush()
        time.sleep(0.25)
