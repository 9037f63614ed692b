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
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services import obs

ADMIN_TOKEN = "admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Instrumentation scopes of the spans one request to a service on PostgreSQL and Redis yields.
FASTAPI, SQLALCHEMY, REDIS = ("opentelemetry.instrumentation.fastapi", "opentelemetry.instrumentation.sqlalchemy",
                              "opentelemetry.instrumentation.redis")


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
