"""GET /api/whatsapp/session/{health,observe,alerts}: the backend proxy, against
the real session-health connector (processors/session_health) fed with the
events this service emitted, its seed-001 API on a free loopback port."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs

from processors.api import CreateSettings, Payload, Signal
from processors.session_health.config import ApiConfig, SessionHealthConfig
from processors.session_health.connector import SessionHealthConnector
from processors.session_health.factory import FACTORY
from processors.telemetry import SelfTelemetry
from tests.services.session.conftest import MakeService, SessionService
from tests.support.otel import ADMIN
from tests.support.procs import free_port

HEALTH_TOKEN = "session-health-token-0123456789"


@dataclass
class HealthApi:
    connector: SessionHealthConnector
    loop: asyncio.AbstractEventLoop

    @property
    def url(self) -> str:
        assert self.connector.api is not None
        return f"http://127.0.0.1:{self.connector.api.port}"

    def _run(self, coro: object) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)  # type: ignore[arg-type]

    def feed(self, service: SessionService) -> None:
        """Hand the connector what the service's OTLP log exporter would have sent, then evaluate."""
        request = encode_logs(service.logs.get_finished_logs())
        service.logs.clear()
        self._run(self.connector.export(Payload(Signal.LOGS, message=request)))
        self._run(self.connector.flush(everything=True))  # past the reorder window
        self._run(self.connector.evaluate_now())


@pytest.fixture
def health_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[HealthApi]:
    monkeypatch.setenv("SESSION_HEALTH_ADMIN_TOKEN", HEALTH_TOKEN)
    config = SessionHealthConfig(api=ApiConfig(endpoint="127.0.0.1:0"), evaluation_interval_s=3600)
    connector = FACTORY.create(config, CreateSettings("session_health", SelfTelemetry()))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    api = HealthApi(connector, loop)
    api._run(connector.start())
    try:
        yield api
    finally:
        api._run(connector.shutdown())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture
def proxied(make_service: MakeService, pg_url: str, redis_url: str, health_api: HealthApi) -> SessionService:
    return make_service(DATABASE_URL=pg_url, REDIS_URL=redis_url, SESSION_HEALTH_URL=health_api.url,
                        SESSION_HEALTH_ADMIN_TOKEN=HEALTH_TOKEN)


def test_a_connected_fleet_is_ok_through_the_proxy(proxied: SessionService, health_api: HealthApi) -> None:
    assert proxied.client.post("/api/whatsapp/sessions/s1/connect", headers=ADMIN).status_code == 200
    health_api.feed(proxied)

    health = proxied.client.get("/api/whatsapp/session/health")
    observe = proxied.client.get("/api/whatsapp/session/observe", headers=ADMIN)
    alerts = proxied.client.get("/api/whatsapp/session/alerts", headers=ADMIN)

    assert health.status_code == 200
    assert (health.json()["status"], health.json()["state"], health.json()["connected"]) == ("ok", "connected", True)
    # observe and alerts need the admin token upstream: for this service's admin, the proxy sent its own.
    assert observe.status_code == 200 and observe.json()["session"]["authMethod"] == "qr_pairing"
    assert alerts.status_code == 200 and (alerts.json()["level"], alerts.json()["count"]) == ("ok", 0)


def test_a_tripped_breaker_is_critical_and_503(proxied: SessionService, health_api: HealthApi) -> None:
    proxied.client.post("/api/whatsapp/sessions/s1/connect", headers=ADMIN)
    proxied.client.post("/api/whatsapp/sessions/s2/simulate/breaker_trip", headers=ADMIN)
    health_api.feed(proxied)

    fleet = proxied.client.get("/api/whatsapp/session/health")
    one = proxied.client.get("/api/whatsapp/session/health", params={"session_id": "s2"}, headers=ADMIN)
    fine = proxied.client.get("/api/whatsapp/session/health", params={"session_id": "s1"}, headers=ADMIN)
    alerts = proxied.client.get("/api/whatsapp/session/alerts", headers=ADMIN).json()

    assert (fleet.status_code, fleet.json()["status"]) == (503, "critical")
    assert (one.status_code, one.json()["status"]) == (503, "critical")
    assert fine.status_code == 200
    assert alerts["level"] == "critical"
    assert {a["sessionId"] for a in alerts["alerts"] if a["level"] == "critical"} == {"s2"}


def test_an_unknown_session_is_the_upstream_404(proxied: SessionService) -> None:
    response = proxied.client.get("/api/whatsapp/session/observe", params={"session_id": "nobody"}, headers=ADMIN)
    assert response.status_code == 404
    assert proxied.client.get("/api/whatsapp/session/observe", params={"session_id": "+4917612345"}).status_code == 422


def test_a_refused_token_is_a_502(make_service: MakeService, pg_url: str, redis_url: str,
                                  health_api: HealthApi) -> None:
    svc = make_service(DATABASE_URL=pg_url, REDIS_URL=redis_url, SESSION_HEALTH_URL=health_api.url,
                       SESSION_HEALTH_ADMIN_TOKEN="wrong-token")

    assert svc.client.get("/api/whatsapp/session/health").status_code == 200  # public upstream
    refused = svc.client.get("/api/whatsapp/session/observe", headers=ADMIN)
    assert refused.status_code == 502
    assert refused.json() == {"detail": "Session health API refused the admin token"}


def test_an_unreachable_api_is_a_502(make_service: MakeService, pg_url: str, redis_url: str) -> None:
    svc = make_service(DATABASE_URL=pg_url, REDIS_URL=redis_url, SESSION_HEALTH_URL=f"http://127.0.0.1:{free_port()}")

    response = svc.client.get("/api/whatsapp/session/health")

    assert response.status_code == 502
    assert response.json() == {"detail": "Session health API unavailable"}
    client_spans = [s for s in svc.spans.get_finished_spans()
                    if s.instrumentation_scope.name == "opentelemetry.instrumentation.httpx"]
    assert client_spans, "the outgoing call is traced"


def test_only_the_three_seed_views_are_proxied(proxied: SessionService) -> None:
    response = proxied.client.get("/api/whatsapp/session/metrics")
    assert response.status_code == 422
    assert "'health', 'observe' or 'alerts'" in response.text
