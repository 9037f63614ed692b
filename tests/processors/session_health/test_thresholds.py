"""Every row of the connector's warning and critical threshold tables
(processors/session_health/README.md, Configuration), just below and just
above its threshold, on a fake clock: the alert's level, code and message."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from processors.session_health.thresholds import RULES
from tests.processors.session_health.helpers import FakeClock, Session, make_connector

EPS = 0.001  # seconds
Drive = Callable[[Session, FakeClock, float], Awaitable[None]]


async def heartbeat_age(s: Session, clock: FakeClock, seconds: float) -> None:
    await s.connect()
    clock.advance(seconds)


async def reconnect_attempts(s: Session, clock: FakeClock, n: float) -> None:
    await s.connect()
    for _ in range(int(n)):
        await s.send("reconnect_attempt", "reconnecting")


async def credential_age(s: Session, clock: FakeClock, hours: float) -> None:
    await s.connect()
    await s.send("credentials_written")
    clock.advance(hours * 3600)
    await s.send("heartbeat")  # keeps every other row quiet


async def reconnect_latency(s: Session, clock: FakeClock, seconds: float) -> None:
    await s.connect()
    await s.send("reconnect_attempt", "reconnecting")
    clock.advance(seconds)
    await s.send("heartbeat")


async def missed_heartbeats(s: Session, clock: FakeClock, n: float) -> None:
    await s.connect()
    for _ in range(int(n)):
        await s.send("heartbeat_missed")


async def validation_failures(s: Session, clock: FakeClock, n: float) -> None:
    await s.connect()
    for _ in range(int(n)):
        await s.send("validation_failure")


async def circuit_breaker(s: Session, clock: FakeClock, is_open: float) -> None:
    await s.connect()
    state, failures = ("open", 3) if is_open else ("closed", 2)
    await s.send("circuit_breaker", **{"wa.circuit_breaker.state": state,
                                       "wa.circuit_breaker.consecutive_failures": failures})


async def corruption(s: Session, clock: FakeClock, detected: float) -> None:
    await s.connect()
    if detected:
        await s.send("corruption_detected")


async def disconnection(s: Session, clock: FakeClock, minutes: float) -> None:
    await s.connect()
    await s.send("state_change", "disconnected")
    clock.advance(minutes * 60)
    await s.send("heartbeat")


H = EPS / 3600  # EPS in hours
M = EPS / 60  # EPS in minutes
W, C = "warning", "critical"

# (row, drive, just below, just above, alerts just below, the alert just above)
WARNING_ROWS = [
    ("heartbeat_age", heartbeat_age, 60 - EPS, 60 + EPS, [], (W, "HEARTBEAT_STALE", "No heartbeat for 60s")),
    ("reconnect_attempts", reconnect_attempts, 2, 3, [],
     (W, "RECONNECT_ATTEMPTS_HIGH", "3 reconnect attempts (max 10)")),
    ("credential_age", credential_age, 24 - H, 24 + H, [],
     (W, "CREDENTIALS_STALE", "Credentials last written 24h ago")),
    ("reconnect_latency", reconnect_latency, 30 - EPS, 30 + EPS, [], (W, "RECONNECT_SLOW", "Reconnect taking 30s")),
    ("missed_heartbeats", missed_heartbeats, 2, 3, [], (W, "HEARTBEATS_MISSED", "3 missed heartbeats")),
    ("validation_failures", validation_failures, 0, 1, [],
     (W, "VALIDATION_FAILURE", "1 session validation failure (checksum)")),
]
CRITICAL_ROWS = [
    ("heartbeat_age", heartbeat_age, 300 - EPS, 300 + EPS, [(W, "HEARTBEAT_STALE", "No heartbeat for 299s")],
     (C, "HEARTBEAT_LOST", "No heartbeat for 300s")),
    ("reconnect_attempts", reconnect_attempts, 6, 7,
     [(W, "RECONNECT_ATTEMPTS_HIGH", "6 reconnect attempts (max 10)")],
     (C, "RECONNECT_ATTEMPTS_CRITICAL", "7 reconnect attempts (max 10)")),
    ("credential_age", credential_age, 168 - H, 168 + H,
     [(W, "CREDENTIALS_STALE", "Credentials last written 167h ago")],
     (C, "CREDENTIALS_EXPIRED", "Credentials last written 168h ago")),
    ("reconnect_latency", reconnect_latency, 120 - EPS, 120 + EPS, [(W, "RECONNECT_SLOW", "Reconnect taking 119s")],
     (C, "RECONNECT_STALLED", "Reconnect taking 120s")),
    ("missed_heartbeats", missed_heartbeats, 9, 10, [(W, "HEARTBEATS_MISSED", "9 missed heartbeats")],
     (C, "HEARTBEATS_MISSED_CRITICAL", "10 missed heartbeats")),
    ("circuit_breaker", circuit_breaker, 0, 1, [],
     (C, "CIRCUIT_BREAKER_OPEN", "Circuit breaker open after 3 consecutive failures")),
    ("corruption", corruption, 0, 1, [], (C, "SESSION_CORRUPTED", "Session data corrupted")),
    ("disconnection", disconnection, 30 - M, 30 + M, [], (C, "DISCONNECTED_TOO_LONG", "Disconnected for 30m")),
]


async def _alerts_at(drive: Drive, amount: float, **config) -> list[tuple[str, str, str]]:
    clock = FakeClock()
    conn = make_connector(clock, **config)
    s = Session(conn, clock)
    await drive(s, clock, amount)
    live = await s.alerts()
    # The fleet snapshot, evaluated on the clock, must agree with the live per-session view.
    snap = await conn.evaluate_now()
    assert [(a.level, a.code, a.message) for a in snap.views["s1"].alerts] == live
    return live


@pytest.mark.parametrize(("row", "drive", "below", "above", "alerts_below", "alert_above"),
                         WARNING_ROWS + CRITICAL_ROWS,
                         ids=[f"warning-{r[0]}" for r in WARNING_ROWS] + [f"critical-{r[0]}" for r in CRITICAL_ROWS])
async def test_row_fires_just_above_its_threshold_and_not_just_below(
        row, drive, below, above, alerts_below, alert_above) -> None:
    assert await _alerts_at(drive, below) == alerts_below
    # Above a critical threshold only the critical alert of the row is reported, not its warning too.
    assert await _alerts_at(drive, above) == [alert_above]


def test_the_tables_cover_every_rule() -> None:
    warning = {r[0] for r in WARNING_ROWS}
    critical = {r[0] for r in CRITICAL_ROWS}
    assert warning == {r.name for r in RULES if r.warning_key}
    assert critical == {r.name for r in RULES if r.critical_key}


async def test_every_alert_says_what_to_do() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    s = Session(conn, clock)
    await s.connect()
    await s.send("circuit_breaker", **{"wa.circuit_breaker.state": "open"})
    await s.send("corruption_detected")
    for _ in range(10):
        await s.send("heartbeat_missed")
    view = await conn.rollup.session("s1")
    assert len(view.alerts) == 3
    assert all(a.action for a in view.alerts)
    assert [a.level for a in view.alerts] == ["critical"] * 3


async def test_thresholds_come_from_the_config() -> None:
    cfg = {"thresholds": {"warning": {"heartbeat_age_s": 10}, "critical": {"heartbeat_age_s": 20}}}
    assert await _alerts_at(heartbeat_age, 10 - EPS, **cfg) == []
    assert await _alerts_at(heartbeat_age, 10 + EPS, **cfg) == [(W, "HEARTBEAT_STALE", "No heartbeat for 10s")]
    assert await _alerts_at(heartbeat_age, 20 + EPS, **cfg) == [(C, "HEARTBEAT_LOST", "No heartbeat for 20s")]


async def test_a_switched_off_critical_row_stays_quiet() -> None:
    cfg = {"thresholds": {"critical": {"circuit_breaker_open": False}}}
    assert await _alerts_at(circuit_breaker, 1, **cfg) == []


async def test_heartbeat_age_grows_with_no_event_at_all() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    s = Session(conn, clock)
    await s.connect()
    levels = []
    for _ in range(4):
        levels.append((await conn.evaluate_now()).views["s1"].level)
        clock.advance(100)
    assert levels == ["ok", "warning", "warning", "critical"]


async def test_a_heartbeat_clears_heartbeat_alerts() -> None:
    clock = FakeClock()
    conn = make_connector(clock)
    s = Session(conn, clock)
    await s.connect()
    clock.advance(301)
    for _ in range(3):
        await s.send("heartbeat_missed")
    assert {code for _, code, _ in await s.alerts()} == {"HEARTBEAT_LOST", "HEARTBEATS_MISSED"}
    await s.send("heartbeat")
    assert await s.alerts() == []
