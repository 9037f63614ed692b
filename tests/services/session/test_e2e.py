"""End to end through the real otelcol and the processors' session-health
connector: a session request yields a trace with FastAPI, SQLAlchemy and
Redis spans and wa.session.* log records with the same trace_id; the
connector folds those events, the backend proxy reads its verdict back, and
the connector's wa_* metric names appear in the Collector's Prometheus scrape."""

from __future__ import annotations

from typing import Any

import pytest

from processors.api import Signal
from tests.services.session.conftest import MakeService, SessionService
from tests.support.otel import ADMIN, REDIS, SERVER, SQL, eventually, logs_of, roles_of, spans_of
from tests.support.pipeline import collector_pipeline
from tests.support.procs import free_port

pytestmark = pytest.mark.e2e

HEALTH_TOKEN = "e2e-session-health-token"
CONNECTOR_METRICS = ("wa_session_state", "wa_reconnect_attempts_total", "wa_heartbeat_age_seconds",
                    "wa_circuit_breaker_open")

PROCESSORS_YAML = """
receivers:
  otlp:
    grpc: {endpoint: "${env:OTELPROC_RECEIVER_ENDPOINT}"}
connectors:
  session_health:
    evaluation_interval_s: 0.25
    api: {endpoint: "127.0.0.1:${env:SESSION_HEALTH_PORT}"}
exporters:
  otlp: {endpoint: "${env:OTELPROC_NEXT_HOP}", compression: gzip}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [otlp]}
    logs: {receivers: [otlp], exporters: [otlp, session_health]}
    metrics: {receivers: [otlp, session_health], exporters: [otlp]}
  telemetry:
    metrics: {address: "${env:OTELPROC_METRICS_ADDRESS}"}
"""


def test_session_events_reach_the_connector_and_come_back_through_the_proxy(
        tmp_path: Any, make_service: MakeService, pg_url: str, redis_url: str) -> None:
    health_port = free_port()
    env = {"SESSION_HEALTH_PORT": str(health_port), "SESSION_HEALTH_ADMIN_TOKEN": HEALTH_TOKEN}
    with collector_pipeline(tmp_path, PROCESSORS_YAML, env=env) as pipeline:
        svc = make_service(
            DATABASE_URL=pg_url, REDIS_URL=redis_url, SESSION_HEALTH_URL=f"http://127.0.0.1:{health_port}",
            SESSION_HEALTH_ADMIN_TOKEN=HEALTH_TOKEN,
            obs_overrides={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{pipeline.otlp_grpc_endpoint}",
                           "OTEL_METRIC_EXPORT_INTERVAL": 500},
        )
        try:
            _check(pipeline, svc)
        finally:
            svc.app.state.obs.shutdown()  # stop exporting before the Collector goes away


def _check(pipeline: Any, svc: SessionService) -> None:
    flush = svc.app.state.obs.force_flush
    connected = svc.client.post("/api/whatsapp/sessions/s1/connect", headers=ADMIN)
    assert connected.status_code == 200
    trace_id = bytes.fromhex(connected.headers["traceparent"].split("-")[1])
    flush()

    pipeline.wait_for(Signal.TRACES, lambda reqs: {SERVER, SQL, REDIS} <= roles_of(
        spans_of(reqs, trace_id)))
    logs = pipeline.wait_for(Signal.LOGS, lambda reqs: sum(
        rec.event_name.startswith("wa.session.") for rec in logs_of(reqs, trace_id)) == 9)
    states = [a.value.string_value for rec in logs_of(logs, trace_id) for a in rec.attributes
              if a.key == "wa.session.state" and rec.event_name == "wa.session.state_change"]
    assert states == ["initializing", "authenticating", "qr_required", "authenticating", "connected"]

    # The connector folded the events it saw on the logs pipeline; the proxy reads its verdict.
    def health() -> Any:
        r = svc.client.get("/api/whatsapp/session/health")
        return r if r.status_code == 200 and r.json()["connected"] else None
    assert eventually(health, "the fleet connected", flush=flush).json()["state"] == "connected"

    assert svc.client.post("/api/whatsapp/sessions/s2/simulate/breaker_trip", headers=ADMIN).status_code == 200
    flush()

    def critical() -> Any:
        r = svc.client.get("/api/whatsapp/session/alerts", headers=ADMIN)
        return r.json() if r.status_code == 200 and r.json()["level"] == "critical" else None
    alerts = eventually(critical, "a critical alert for the tripped breaker", flush=flush)
    assert {a["sessionId"] for a in alerts["alerts"] if a["level"] == "critical"} == {"s2"}
    assert svc.client.get("/api/whatsapp/session/health").status_code == 503

    wanted = set(CONNECTOR_METRICS) | {"whatsapp_session_http_requests_total", "wa_session_events_total"}

    def all_scraped() -> bool:
        scrape = pipeline.scrape()
        return all(f"\n{name}{{" in scrape or f"\n{name} " in scrape for name in wanted)
    eventually(all_scraped, f"{sorted(wanted)} in the Collector's scrape", flush=flush)
