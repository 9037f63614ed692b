"""End to end through the real otelcol: a session simulator on the OTel Python
SDK goes through connect, heartbeat loss, reconnects, a breaker trip and
recovery. The API, the alert-transition logs and the metrics in the sink
follow, and the Collector's Prometheus endpoint shows wa_session_state."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from processors.api import Signal
from tests.support.pipeline import collector_pipeline
from tests.support.procs import free_port

pytestmark = pytest.mark.e2e

TOKEN = "e2e-admin-token"
SID, TENANT = "sim-1@s.whatsapp.net", "acme"

# Heartbeat thresholds shrunk to seconds so that the loss shows within the test; the rest keep their defaults.
# The warning threshold leaves room for the trip through two Collector hops on a loaded machine.
PROCESSORS_YAML = """
receivers:
  otlp:
    grpc: {endpoint: "${env:OTELPROC_RECEIVER_ENDPOINT}"}
connectors:
  session_health:
    evaluation_interval_s: 0.25
    reorder_window_s: 0.25
    thresholds:
      warning: {heartbeat_age_s: 3}
      critical: {heartbeat_age_s: 6}
    api: {endpoint: "127.0.0.1:${env:SESSION_HEALTH_PORT}"}
exporters:
  otlp: {endpoint: "${env:OTELPROC_NEXT_HOP}", compression: gzip}
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [otlp, session_health]}
    metrics: {receivers: [otlp, session_health], exporters: [otlp]}
    logs/alerts: {receivers: [session_health], exporters: [otlp]}
  telemetry:
    metrics: {address: "${env:OTELPROC_METRICS_ADDRESS}"}
"""


class Simulator:
    """A WhatsApp session service, reporting through the OTel SDK's logs API."""

    def __init__(self, endpoint: str) -> None:
        self.provider = LoggerProvider(resource=Resource.create({"service.name": "session-sim"}))
        self.provider.add_log_record_processor(BatchLogRecordProcessor(
            OTLPLogExporter(endpoint=endpoint, insecure=True), schedule_delay_millis=50))
        self.logger = self.provider.get_logger("wa.session")
        self.state = "initializing"

    def send(self, kind: str, state: str | None = None, **attrs: Any) -> None:
        self.state = state or self.state
        self.logger.emit(event_name=f"wa.session.{kind}", timestamp=time.time_ns(), body=kind,
                         attributes={"wa.session.id": SID, "tenant.id": TENANT, "wa.session.state": self.state,
                                     **attrs})

    def flush(self) -> None:
        self.provider.force_flush()

    def close(self) -> None:
        self.provider.shutdown()


def api_get(port: int, path: str) -> tuple[int, Any]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def eventually(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not reached in {timeout}s (last: {last!r})")


def latest(requests: list, name: str, **labels: str) -> float | None:
    """The last value the sink holds for a metric of the simulated session with these labels."""
    value = None
    for req in requests:
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name != name:
                        continue
                    for dp in getattr(m, m.WhichOneof("data")).data_points:
                        got = {a.key: a.value.string_value for a in dp.attributes}
                        if got.get("wa.session.id") == SID and all(got.get(k) == v for k, v in labels.items()):
                            value = dp.as_int if dp.WhichOneof("value") == "as_int" else dp.as_double
    return value


def transitions(requests: list) -> list[tuple[str, str]]:
    out = []
    for req in requests:
        for rl in req.resource_logs:
            for sl in rl.scope_logs:
                for rec in sl.log_records:
                    if rec.event_name == "wa.session_health.alert_transition":
                        a = {kv.key: kv.value.string_value for kv in rec.attributes}
                        if a["wa.session.id"] == SID:
                            out.append((a["wa.alert.previous_level"], a["wa.alert.level"]))
    return out


def test_session_lifecycle_through_the_collector(tmp_path, otelcol) -> None:
    port = free_port()
    env = {"SESSION_HEALTH_PORT": str(port), "SESSION_HEALTH_ADMIN_TOKEN": TOKEN}
    with collector_pipeline(tmp_path, PROCESSORS_YAML, env=env) as p:
        sim = Simulator(p.otlp_grpc_endpoint)
        try:
            def health() -> dict:
                status, body = api_get(port, f"/sessions/{SID}/health")
                return body if status in (200, 503) else {}

            def metric(name: str, **labels: str) -> Callable[[], Any]:
                return lambda: latest(p.read(Signal.METRICS), name, **labels)

            # Connect.
            sim.send("auth", "authenticating", **{"wa.auth.method": "qr"})
            sim.send("state_change", "connected")
            sim.send("credentials_written")
            sim.send("heartbeat")
            sim.flush()
            eventually(lambda: health().get("status") == "ok" and health().get("connected"), "connected and ok")
            eventually(lambda: metric("wa_session_state", state="connected")() == 1, "wa_session_state connected")

            # Heartbeat loss: nothing is sent, the clock alone moves the session to warning, then critical.
            eventually(lambda: health().get("status") == "warning", "heartbeat stale")
            eventually(lambda: health().get("status") == "critical", "heartbeat lost")
            _, alerts = api_get(port, f"/sessions/{SID}/alerts")
            assert [a["code"] for a in alerts["alerts"]] == ["HEARTBEAT_LOST"]
            # The fleet view follows at the next evaluation.
            eventually(lambda: api_get(port, "/session/health")[0] == 503, "fleet health 503")
            eventually(lambda: metric("wa_heartbeat_age_seconds")() and metric("wa_heartbeat_age_seconds")() >= 6,
                       "heartbeat age in the sink")

            # Reconnects, then the breaker trips.
            sim.send("state_change", "disconnected")
            for _ in range(7):
                sim.send("reconnect_attempt", "reconnecting")
            sim.send("circuit_breaker", **{"wa.circuit_breaker.state": "open",
                                           "wa.circuit_breaker.consecutive_failures": 3})
            sim.flush()
            obs = eventually(lambda: (lambda b: b if b[1]["circuitBreaker"]["open"] else None)(
                api_get(port, f"/sessions/{SID}/observe")), "breaker open")[1]
            assert obs["reconnect"]["attempts"] == 7 and obs["reconnect"]["attemptsRemaining"] == 3
            assert {"RECONNECT_ATTEMPTS_CRITICAL", "CIRCUIT_BREAKER_OPEN"} <= {a["code"] for a in obs["alerts"]}
            eventually(lambda: metric("wa_circuit_breaker_open")() == 1, "breaker open in the sink")
            eventually(lambda: metric("wa_reconnect_attempts_total")() == 7, "reconnect attempts in the sink")
            eventually(lambda: metric("wa_session_state", state="reconnecting")() == 1, "reconnecting in the sink")

            # Recovery.
            sim.send("circuit_breaker", **{"wa.circuit_breaker.state": "closed",
                                           "wa.circuit_breaker.consecutive_failures": 0})
            sim.send("reconnect_success", "connected", **{"wa.reconnect.latency_ms": 4200})

            def recovered() -> bool:
                sim.send("heartbeat")
                sim.flush()
                return health().get("status") == "ok"

            eventually(recovered, "recovered")
            _, obs = api_get(port, f"/sessions/{SID}/observe")
            assert obs["reconnect"]["latencyPercentiles"]["p50"] == 4200 and obs["reconnect"]["attempts"] == 0
            assert obs["circuitBreaker"]["open"] is False and obs["alerts"] == []
            eventually(lambda: metric("wa_session_state", state="connected")() == 1
                       and metric("wa_circuit_breaker_open")() == 0, "recovered in the sink")

            # The alert-transition records went down the logs pipeline to the sink, one per change of level.
            seen = eventually(lambda: (lambda t: t if t and t[-1][1] == "ok" else None)(
                transitions(p.read(Signal.LOGS))), "transition back to ok")
            assert seen[:2] == [("ok", "warning"), ("warning", "critical")]
            assert all(prev != new for prev, new in seen)

            # And Prometheus sees the session through the Collector's exporter.
            scrape = eventually(lambda: (lambda t: t if "wa_session_state" in t else None)(p.scrape()),
                                "wa_session_state on the Prometheus endpoint")
            line = next(ln for ln in scrape.splitlines()
                        if ln.startswith("wa_session_state{") and 'state="connected"' in ln and SID in ln)
            assert 'tenant_id="acme"' in line and line.rsplit(" ", 1)[1] in ("1", "1.0")

            # The Collector delivered some batches out of order; the reorder window put them back in order.
            own = p.processors.metrics_text()
            assert "otelproc_session_health_ignored_events_total{" not in own
            applied = next(ln for ln in own.splitlines()
                           if ln.startswith("otelproc_session_health_applied_events_total"))
            assert float(applied.rsplit(" ", 1)[1]) >= 17
        finally:
            sim.close()
