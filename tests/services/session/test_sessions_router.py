"""The session service's own routes: admin-only, and every call traced with its events."""

from __future__ import annotations

import time

import pytest

from tests.services.session.conftest import MakeService, SessionService
from tests.support.otel import ADMIN, REDIS, SERVER, SQL, roles_of


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/api/whatsapp/sessions"), ("post", "/api/whatsapp/sessions/s1/connect"),
    ("post", "/api/whatsapp/sessions/s1/simulate/recovery"),
])
def test_session_routes_need_the_admin_token_even_with_public_metrics(
        make_service: MakeService, method: str, path: str) -> None:
    svc = make_service(obs_overrides={"OBS_METRICS_PUBLIC": True, "ENV": "dev"})

    assert getattr(svc.client, method)(path).status_code == 401
    assert getattr(svc.client, method)(path, headers={"Authorization": "Bearer nope"}).status_code == 403
    assert svc.events() == []


def test_connect_then_list(service: SessionService) -> None:
    connected = service.client.post("/api/whatsapp/sessions/s1/connect", headers=ADMIN)
    again = service.client.post("/api/whatsapp/sessions/s1/connect", headers=ADMIN)
    listed = service.client.get("/api/whatsapp/sessions", headers=ADMIN).json()

    assert connected.status_code == 200
    assert (connected.json()["state"], connected.json()["authMethod"], connected.json()["tenantId"]) == (
        "connected", "qr_pairing", "tenant-a")
    assert again.status_code == 409
    assert again.json() == {"detail": "session is connected, expected disconnected or failed"}
    assert [s["sessionId"] for s in listed["sessions"]] == ["s1"]


def test_unknown_sessions_scenarios_and_ids(service: SessionService) -> None:
    assert service.client.get("/api/whatsapp/sessions/ghost", headers=ADMIN).status_code == 404
    assert service.client.post("/api/whatsapp/sessions/ghost/step", headers=ADMIN).status_code == 404
    assert service.client.post("/api/whatsapp/sessions/s1/simulate/teleport", headers=ADMIN).status_code == 404
    # A phone number or JID is not a session id: it would end up in every event.
    assert service.client.post("/api/whatsapp/sessions/+4917612345/connect", headers=ADMIN).status_code == 422
    assert service.client.post("/api/whatsapp/sessions/4917612345@s.whatsapp.net/connect",
                               headers=ADMIN).status_code == 422


@pytest.mark.parametrize(("scenario", "state", "breaker_open"), [
    ("connect", "connected", False), ("heartbeat_loss", "connected", False), ("breaker_trip", "disconnected", True),
    ("recovery", "connected", False), ("corruption", "connected", False), ("exhaustion", "failed", True),
])
def test_each_scenario_ends_where_its_story_does(service: SessionService, scenario: str, state: str,
                                                 breaker_open: bool) -> None:
    response = service.client.post(f"/api/whatsapp/sessions/s-{scenario}/simulate/{scenario}", headers=ADMIN)

    assert response.status_code == 200, response.text
    assert (response.json()["state"], response.json()["circuitBreaker"]["open"]) == (state, breaker_open)


def test_a_request_traces_its_sql_and_redis_calls_and_its_events(service: SessionService) -> None:
    response = service.client.post("/api/whatsapp/sessions/s1/connect", headers=ADMIN)
    trace_id = int(response.headers["traceparent"].split("-")[1], 16)

    spans = [s for s in service.spans.get_finished_spans() if s.context.trace_id == trace_id]
    assert {SERVER, SQL, REDIS} <= roles_of(spans)
    events = service.events()
    assert len(events) == 9
    assert {e.trace_id for e in events} == {trace_id}


def test_the_live_tick_keeps_sessions_beating(make_service: MakeService, pg_url: str, redis_url: str) -> None:
    svc = make_service(DATABASE_URL=pg_url, REDIS_URL=redis_url, SESSION_TICK_INTERVAL_S=0.05)
    svc.client.post("/api/whatsapp/sessions/s1/connect", headers=ADMIN)

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        beats = [e for e in svc.events() if e.event_name == "wa.session.heartbeat"]
        if len(beats) >= 3:
            break
        time.sleep(0.05)
    assert len(beats) >= 3
    counted = [sample.value for family in svc.app.state.obs.prometheus_registry.collect() for sample in family.samples
               if sample.name == "wa_session_events_total" and sample.labels.get("event") == "wa.session.heartbeat"]
    assert counted and counted[0] >= 3


def test_local_log_sampling_never_drops_session_events(make_service: MakeService) -> None:
    svc = make_service(obs_overrides={"LOG_SAMPLING_RATE_INFO": 0.0})

    svc.client.post("/api/whatsapp/sessions/s1/connect", headers=ADMIN)

    assert len(svc.events()) == 9  # every INFO event of the connect, though INFO logs are sampled to nothing
    access_logs = [d for d in svc.logs.get_finished_logs() if not (d.log_record.event_name or "")]
    assert [d.log_record.severity_text for d in access_logs if d.log_record.severity_text == "INFO"] == []
