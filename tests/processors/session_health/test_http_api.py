"""The connector's HTTP API on a real aiohttp server: shapes field for field,
503 when critical, and the admin token on everything except the fleet health."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from tests.processors.session_health.helpers import FakeClock, Session, make_connector

TOKEN = "test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# The response bodies of processors/session_health/README.md (HTTP API), field for field.
HEALTH_KEYS = {"status", "state", "connected", "heartbeatOk", "alertCount", "uptime", "_responseTime"}
OBSERVE_KEYS = {
    "_meta": {"generatedAt", "responseTimeTarget", "version"},
    "health": {"status", "alertCount", "uptime", "uptimeFormatted"},
    "session": {"state", "stateChangedAt", "stateAge", "stateAgeFormatted", "initSuccessful", "authMethod"},
    "reconnect": {"attempts", "maxAttempts", "attemptsRemaining", "inProgress", "latencyPercentiles"},
    "heartbeat": {"lastAt", "age", "ageFormatted", "count", "missed", "healthy"},
    "auth": {"lastAuthAt", "authAge", "lastCredentialWriteAt", "credentialAge", "credentialFresh"},
    "lock": {"held", "heldBy", "operation"},
    "integrity": {"checksumValid", "validationFailures", "status"},
    "circuitBreaker": {"open", "consecutiveFailures", "threshold"},
    "alerts": None,
}
ALERTS_KEYS = {"level", "count", "alerts", "checkedAt"}
ALERT_KEYS = {"level", "code", "message", "action"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@dataclass
class Api:
    conn: object
    clock: FakeClock
    base: str
    http: aiohttp.ClientSession

    async def get(self, path: str, *, auth: bool = True, headers: dict | None = None) -> tuple[int, object]:
        async with self.http.get(self.base + path, headers=headers if headers is not None else
                                 (AUTH if auth else {})) as r:
            body = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, body


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    clock = FakeClock()
    conn = make_connector(clock, token=TOKEN, evaluation_interval_s=3600, api={"endpoint": "127.0.0.1:0"})
    await conn.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield Api(conn, clock, f"http://127.0.0.1:{conn.api.port}", http)
    finally:
        await conn.shutdown()


def assert_observe_shape(body: dict) -> None:
    assert set(body) == set(OBSERVE_KEYS)
    for section, keys in OBSERVE_KEYS.items():
        if keys is not None:
            assert set(body[section]) == keys, section
    assert set(body["reconnect"]["latencyPercentiles"]) == {"p50", "p90", "p99"}


async def test_healthy_session_field_for_field(api: Api) -> None:
    s = Session(api.conn, api.clock)
    await s.send("auth", "authenticating", **{"wa.auth.method": "session_restore"})
    await s.connect()
    await s.send("credentials_written")
    for _ in range(3):
        await s.send("reconnect_attempt", "reconnecting")
        api.clock.advance(5)
        await s.send("reconnect_success", "connected", **{"wa.reconnect.latency_ms": 5000})
    api.clock.advance(3600 - 15)
    await s.send("heartbeat")
    api.clock.advance(30)

    status, health = await api.get("/sessions/s1/health")
    assert status == 200
    assert set(health) == HEALTH_KEYS
    assert health["status"] == "ok" and health["state"] == "connected" and health["connected"] is True
    assert health["heartbeatOk"] is True and health["alertCount"] == 0
    assert health["uptime"] == 3_615_000  # since the last reconnect, 15 s after the start
    assert re.fullmatch(r"\d+ms", health["_responseTime"])

    status, obs = await api.get("/sessions/s1/observe")
    assert status == 200
    assert_observe_shape(obs)
    assert obs["_meta"]["responseTimeTarget"] == "10ms" and obs["_meta"]["version"] == "1.0.0"
    assert ISO.match(obs["_meta"]["generatedAt"])
    assert obs["session"]["authMethod"] == "session_restore" and obs["session"]["initSuccessful"] is True
    assert obs["reconnect"] == {"attempts": 0, "maxAttempts": 10, "attemptsRemaining": 10, "inProgress": False,
                                "latencyPercentiles": {"p50": 5000, "p90": 5000, "p99": 5000}}
    assert obs["heartbeat"]["age"] == 30_000 and obs["heartbeat"]["ageFormatted"] == "30s"
    assert obs["heartbeat"]["count"] == 2 and obs["heartbeat"]["healthy"] is True
    assert obs["auth"]["credentialAge"] == 3_630_000 and obs["auth"]["credentialFresh"] is True
    assert obs["lock"] == {"held": False, "heldBy": None, "operation": None}
    assert obs["integrity"] == {"checksumValid": True, "validationFailures": 0, "status": "healthy"}
    assert obs["circuitBreaker"] == {"open": False, "consecutiveFailures": 0, "threshold": 3}
    assert obs["alerts"] == []

    status, alerts = await api.get("/sessions/s1/alerts")
    assert status == 200 and alerts == {"level": "ok", "count": 0, "alerts": [], "checkedAt": alerts["checkedAt"]}
    assert set(alerts) == ALERTS_KEYS and ISO.match(alerts["checkedAt"])


async def test_warning_is_200_and_critical_is_503(api: Api) -> None:
    s = Session(api.conn, api.clock)
    await s.connect()
    api.clock.advance(65)
    status, health = await api.get("/sessions/s1/health")
    assert (status, health["status"], health["heartbeatOk"]) == (200, "warning", False)
    status, alerts = await api.get("/sessions/s1/alerts")
    assert alerts["level"] == "warning" and alerts["count"] == 1
    assert alerts["alerts"] == [{"level": "warning", "code": "HEARTBEAT_STALE", "message": "No heartbeat for 65s",
                                 "action": "Connection may be degraded"}]

    await s.send("heartbeat")
    await s.send("circuit_breaker", **{"wa.circuit_breaker.state": "open",
                                       "wa.circuit_breaker.consecutive_failures": 4})
    status, health = await api.get("/sessions/s1/health")
    assert (status, health["status"], health["alertCount"]) == (503, "critical", 1)
    status, obs = await api.get("/sessions/s1/observe")
    assert obs["circuitBreaker"] == {"open": True, "consecutiveFailures": 4, "threshold": 3}
    assert [a["code"] for a in obs["alerts"]] == ["CIRCUIT_BREAKER_OPEN"]


async def test_fleet_views(api: Api) -> None:
    a, b = Session(api.conn, api.clock, "a", "acme"), Session(api.conn, api.clock, "b", "zeta")
    await a.connect()
    await b.connect()
    await api.conn.evaluate_now()
    status, health = await api.get("/session/health", auth=False)
    assert status == 200 and set(health) == HEALTH_KEYS
    assert (health["status"], health["state"], health["connected"], health["alertCount"]) == (
        "ok", "connected", True, 0)

    await b.send("corruption_detected")
    await a.send("state_change", "disconnected")
    await api.conn.evaluate_now()
    status, health = await api.get("/session/health", auth=False)
    assert (status, health["status"], health["connected"]) == (503, "critical", False)

    status, alerts = await api.get("/session/alerts")
    assert status == 200 and set(alerts) == ALERTS_KEYS
    assert alerts["level"] == "critical" and alerts["count"] == 1
    assert alerts["alerts"][0]["sessionId"] == "b" and alerts["alerts"][0]["tenantId"] == "zeta"
    assert set(alerts["alerts"][0]) == ALERT_KEYS | {"sessionId", "tenantId"}

    status, obs = await api.get("/session/observe")
    assert status == 200
    assert_observe_shape(obs)
    assert obs["health"]["status"] == "critical"
    assert obs["integrity"]["status"] == "corrupted" and obs["integrity"]["checksumValid"] is False
    assert obs["heartbeat"]["count"] == 2

    status, listing = await api.get("/sessions")
    assert listing["count"] == 2 and listing["byStatus"] == {"ok": 1, "warning": 0, "critical": 1}
    assert [(r["sessionId"], r["state"]) for r in listing["sessions"]] == [("a", "disconnected"), ("b", "connected")]


async def test_fleet_views_follow_the_clock_without_a_tick(api: Api) -> None:
    await Session(api.conn, api.clock).connect()
    await api.conn.evaluate_now()
    api.clock.advance(2 * 3600 + 1)  # the clock task has not run for two intervals: evaluate on request
    status, health = await api.get("/session/health", auth=False)
    assert (status, health["status"]) == (503, "critical")


async def test_metrics_text(api: Api) -> None:
    s = Session(api.conn, api.clock)
    await s.connect()
    await s.send("reconnect_attempt", "reconnecting")
    await s.send("reconnect_success", "connected")
    api.clock.advance(30)
    status, text = await api.get("/sessions/s1/metrics")
    assert status == 200
    assert "# TYPE wa_session_state gauge" in text
    assert 'wa_session_state{state="connected"} 1.0' in text
    assert 'wa_session_state{state="disconnected"} 0.0' in text
    assert "wa_reconnect_attempts_total 1.0" in text
    assert "wa_heartbeat_age_seconds 30.0" in text
    assert "wa_circuit_breaker_open 0.0" in text
    await api.conn.evaluate_now()
    status, fleet = await api.get("/session/metrics")
    assert 'wa_session_state{state="connected",tenant_id="t1",wa_session_id="s1"} 1.0' in fleet


@pytest.mark.parametrize("path", ["/session/observe", "/session/alerts", "/session/metrics", "/sessions",
                                  "/sessions/s1/observe", "/sessions/s1/alerts", "/sessions/s1/metrics"])
async def test_everything_but_health_needs_the_token(api: Api, path: str) -> None:
    await Session(api.conn, api.clock).connect()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}):
        status, body = await api.get(path, headers=headers)
        assert status == 401, headers
        assert body == {"error": "missing or invalid admin token"}
    status, _ = await api.get(path)
    assert status == 200


async def test_unknown_session_is_404(api: Api) -> None:
    for path, auth in (("/sessions/nope/health", True), ("/sessions/nope/observe", True)):
        status, body = await api.get(path, auth=auth)
        assert status == 404 and body == {"error": "unknown session", "sessionId": "nope"}


async def test_empty_fleet_is_ok(api: Api) -> None:
    await api.conn.evaluate_now()
    status, health = await api.get("/session/health", auth=False)
    assert status == 200 and health["status"] == "ok" and health["alertCount"] == 0
    status, obs = await api.get("/session/observe")
    assert_observe_shape(obs)


async def test_public_api_serves_without_a_token() -> None:
    clock = FakeClock()
    conn = make_connector(clock, token=None, api={"endpoint": "127.0.0.1:0", "public": True})
    await conn.start()
    try:
        await Session(conn, clock).connect()
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{conn.api.port}/sessions/s1/observe") as r:
            assert r.status == 200
    finally:
        await conn.shutdown()
