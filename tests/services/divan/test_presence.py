"""Presence heartbeats: stored in Redis GEO with a TTL; rejects counted by reason."""

from __future__ import annotations

import pytest

from tests.services.divan.conftest import Divan, divan_settings, start_divan


def test_heartbeat_marks_the_user_online_on_the_campus(divan: Divan) -> None:
    resp = divan.client.post("/presence/heartbeat", json={"campus_id": "north", "lat": 41.01, "lon": 28.98},
                             headers=divan.auth(5))
    assert resp.status_code == 202
    seen = divan.client.get("/presence/5", headers=divan.auth(6)).json()
    assert seen == {"user_id": 5, "online": True, "campus_id": "north"}
    assert 0 < divan.state.redis.ttl("presence:user:5") <= divan.state.settings.PRESENCE_TTL_SECONDS
    assert divan.cap.total("divan_presence_heartbeats_total", campus_id="north") == 1


@pytest.mark.parametrize(("payload", "status", "reason"), [
    ({"campus_id": "mars", "lat": 41.0, "lon": 29.0}, 422, "unknown_campus"),
    ({"campus_id": "main", "lat": 89.9, "lon": 29.0}, 422, "invalid_coordinates"),
])
def test_bad_heartbeats_are_rejected_and_counted(divan: Divan, payload: dict, status: int, reason: str) -> None:
    resp = divan.client.post("/presence/heartbeat", json=payload, headers=divan.auth(1))
    assert resp.status_code == status and resp.json()["detail"] == reason
    assert divan.cap.total("divan_presence_rejects_total", reason=reason) == 1
    assert divan.cap.total("divan_presence_heartbeats_total") == 0


def test_heartbeats_faster_than_the_minimum_interval_are_rejected() -> None:
    for d in start_divan(divan_settings(PRESENCE_MIN_INTERVAL_SECONDS=30)):
        hb = {"campus_id": "main", "lat": 41.0, "lon": 29.0}
        assert d.client.post("/presence/heartbeat", json=hb, headers=d.auth(1)).status_code == 202
        assert d.client.post("/presence/heartbeat", json=hb, headers=d.auth(1)).status_code == 429
        assert d.client.post("/presence/heartbeat", json=hb, headers=d.auth(2)).status_code == 202
        assert d.cap.total("divan_presence_rejects_total", reason="too_frequent") == 1
        assert d.cap.total("divan_presence_heartbeats_total", campus_id="main") == 2


def test_heartbeat_needs_a_valid_token(divan: Divan) -> None:
    hb = {"campus_id": "main", "lat": 41.0, "lon": 29.0}
    assert divan.client.post("/presence/heartbeat", json=hb).status_code == 401
    forged = {"Authorization": "Bearer 5.not-the-signature"}
    resp = divan.client.post("/presence/heartbeat", json=hb, headers=forged)
    assert resp.status_code == 401 and resp.json()["detail"] == "Could not validate credentials"
