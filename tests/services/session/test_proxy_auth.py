"""Who may read what through /api/whatsapp/session/{health,observe,alerts}, against the real
session-health API: the split is the API's own (the fleet health public, everything
else behind its token). The proxy adds its own token to a request only when the caller
proved to be this service's admin; any other Authorization is forwarded as it is, and
a caller who presented none reaches the API with none."""

from __future__ import annotations

import pytest

from tests.services.session.conftest import MakeService, SessionService
from tests.services.session.test_proxy import HEALTH_TOKEN, HealthApi, health_api  # noqa: F401 - the fixture
from tests.support.otel import ADMIN

VIEW = "/api/whatsapp/session"
GUARDED = [("observe", None), ("alerts", None), ("health", "s1"), ("observe", "s1"), ("alerts", "s1")]


@pytest.fixture
def fed(make_service: MakeService, pg_url: str, redis_url: str,
        health_api: HealthApi) -> SessionService:  # noqa: F811
    svc = make_service(DATABASE_URL=pg_url, REDIS_URL=redis_url, SESSION_HEALTH_URL=health_api.url,
                       SESSION_HEALTH_ADMIN_TOKEN=HEALTH_TOKEN)
    assert svc.client.post("/api/whatsapp/sessions/s1/connect", headers=ADMIN).status_code == 200
    health_api.feed(svc)
    return svc


def _get(svc: SessionService, view: str, session_id: str | None, headers: dict[str, str] | None = None):
    return svc.client.get(f"{VIEW}/{view}", params={"session_id": session_id} if session_id else None,
                          headers=headers)


@pytest.mark.parametrize(("view", "session_id"), GUARDED)
def test_a_caller_without_credentials_is_401(fed: SessionService, view: str, session_id: str | None) -> None:
    response = _get(fed, view, session_id)

    assert response.status_code == 401
    assert response.json() == {"detail": "Admin token required"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_the_fleet_health_stays_public(fed: SessionService) -> None:
    response = _get(fed, "health", None)
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize(("view", "session_id"), GUARDED)
def test_a_wrong_token_is_401_not_the_services_own(fed: SessionService, view: str, session_id: str | None) -> None:
    response = _get(fed, view, session_id, {"Authorization": "Bearer not-a-token"})

    assert response.status_code == 401
    assert response.json() == {"detail": "Admin token required"}


@pytest.mark.parametrize(("view", "session_id"), GUARDED)
def test_this_services_admin_reads_through_the_services_token(fed: SessionService, view: str,
                                                              session_id: str | None) -> None:
    assert _get(fed, view, session_id, ADMIN).status_code == 200


def test_the_callers_session_health_token_is_forwarded(make_service: MakeService, pg_url: str, redis_url: str,
                                                       health_api: HealthApi) -> None:  # noqa: F811
    # No token of its own: what the API accepts is the caller's.
    svc = make_service(DATABASE_URL=pg_url, REDIS_URL=redis_url, SESSION_HEALTH_URL=health_api.url,
                       SESSION_HEALTH_ADMIN_TOKEN=None)
    svc.client.post("/api/whatsapp/sessions/s1/connect", headers=ADMIN)
    health_api.feed(svc)
    caller = {"Authorization": f"Bearer {HEALTH_TOKEN}"}

    for view, session_id in GUARDED:
        assert _get(svc, view, session_id, caller).status_code == 200, (view, session_id)
    # This service's admin, with no token to add, is refused upstream: the admin token itself is not passed on.
    refused = _get(svc, "alerts", None, ADMIN)
    assert refused.status_code == 502 and refused.json() == {"detail": "Session health API refused the admin token"}
