"""The warning and critical alert thresholds (README, Configuration) as one
table, and the evaluation of a session against it at a given time.

A row fires when its measure reaches the threshold (``>=``). When both levels
of a row fire, only the critical alert is reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from processors.session_health.config import SessionHealthConfig
from processors.session_health.state import SessionState

OK, WARNING, CRITICAL = "ok", "warning", "critical"
LEVELS = (OK, WARNING, CRITICAL)
_RANK = {OK: 0, WARNING: 1, CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class Alert:
    level: str
    code: str
    message: str
    action: str

    def to_json(self) -> dict[str, str]:
        return {"level": self.level, "code": self.code, "message": self.message, "action": self.action}


Measure = Callable[[SessionState, float], float | None]


@dataclass(frozen=True)
class Rule:
    """One row of the threshold table: a measure, its thresholds and what to say."""

    name: str
    measure: Measure
    warning_key: str | None  # attribute of thresholds.warning; None when the row is critical-only
    critical_key: str | None  # attribute of thresholds.critical; None when the row is warning-only
    warning_code: str | None
    critical_code: str | None
    message: Callable[[float, SessionState, SessionHealthConfig], str]
    warning_action: str | None
    critical_action: str | None

    def thresholds(self, config: SessionHealthConfig) -> tuple[float | None, float | None]:
        """(warning, critical); None where the row has no such level or it is switched off."""
        t = config.thresholds
        warning = float(getattr(t.warning, self.warning_key)) if self.warning_key else None
        critical = getattr(t.critical, self.critical_key) if self.critical_key else None
        if isinstance(critical, bool):
            critical = 1.0 if critical else None
        return warning, critical


def _heartbeat_age_s(st: SessionState, now: float) -> float:
    # A session that never sent a heartbeat has been silent since it was first seen.
    since = st.heartbeat_last_at if st.heartbeat_last_at is not None else st.first_seen_at
    return max(0.0, now - since)


def _credential_age_h(st: SessionState, now: float) -> float | None:
    if st.credentials_written_at is None:
        return None
    return max(0.0, now - st.credentials_written_at) / 3600


def _reconnect_latency_s(st: SessionState, now: float) -> float | None:
    if st.reconnect_started_at is None:
        return None
    return max(0.0, now - st.reconnect_started_at)


def _disconnected_min(st: SessionState, now: float) -> float | None:
    if st.connected or st.disconnected_since is None:
        return None
    return max(0.0, now - st.disconnected_since) / 60


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


RULES: tuple[Rule, ...] = (
    Rule(
        "heartbeat_age", _heartbeat_age_s, "heartbeat_age_s", "heartbeat_age_s",
        "HEARTBEAT_STALE", "HEARTBEAT_LOST",
        lambda v, st, c: f"No heartbeat for {int(v)}s",
        "Connection may be degraded", "Connection is probably lost; check the session and restart it",
    ),
    Rule(
        "reconnect_attempts", lambda st, now: float(st.reconnect_attempts), "reconnect_attempts", "reconnect_attempts",
        "RECONNECT_ATTEMPTS_HIGH", "RECONNECT_ATTEMPTS_CRITICAL",
        lambda v, st, c: f"{_plural(int(v), 'reconnect attempt')} (max {c.max_reconnect_attempts})",
        "Connection is unstable", "Session is close to giving up; check network and WhatsApp status",
    ),
    Rule(
        "credential_age", _credential_age_h, "credential_age_h", "credential_age_h",
        "CREDENTIALS_STALE", "CREDENTIALS_EXPIRED",
        lambda v, st, c: f"Credentials last written {int(v)}h ago",
        "Check that credentials are being saved", "Re-authenticate the session before it is logged out",
    ),
    Rule(
        "reconnect_latency", _reconnect_latency_s, "reconnect_latency_s", "reconnect_latency_s",
        "RECONNECT_SLOW", "RECONNECT_STALLED",
        lambda v, st, c: f"Reconnect taking {int(v)}s",
        "Network or WhatsApp servers may be slow", "Reconnect is stuck; restart the session",
    ),
    Rule(
        "missed_heartbeats", lambda st, now: float(st.heartbeat_missed), "missed_heartbeats", "missed_heartbeats",
        "HEARTBEATS_MISSED", "HEARTBEATS_MISSED_CRITICAL",
        lambda v, st, c: f"{_plural(int(v), 'missed heartbeat')}",
        "Connection may be degraded", "Connection is probably lost; restart the session",
    ),
    Rule(
        "validation_failures", lambda st, now: float(st.validation_failures), "validation_failures",
        None, "VALIDATION_FAILURE", None,  # its critical form is the corruption row
        lambda v, st, c: f"{_plural(int(v), 'session validation failure')} (checksum)",
        "Session data failed a checksum; watch for corruption", None,
    ),
    Rule(
        "circuit_breaker", lambda st, now: 1.0 if st.breaker_open else 0.0, None, "circuit_breaker_open",
        None, "CIRCUIT_BREAKER_OPEN",
        lambda v, st, c: f"Circuit breaker open after {_plural(st.breaker_failures, 'consecutive failure')}",
        None, "Calls are failing fast; find the failing dependency",
    ),
    Rule(
        "corruption", lambda st, now: 1.0 if st.corrupted else 0.0, None, "corruption",
        None, "SESSION_CORRUPTED",
        lambda v, st, c: "Session data corrupted",
        None, "Restore the session from backup or re-authenticate",
    ),
    Rule(
        "disconnection", _disconnected_min, None, "disconnected_min",
        None, "DISCONNECTED_TOO_LONG",
        lambda v, st, c: f"Disconnected for {int(v)}m",
        None, "Session is offline; check the device and re-authenticate if needed",
    ),
)


def evaluate(st: SessionState, now: float, config: SessionHealthConfig) -> list[Alert]:
    """Active alerts of one session at ``now``, critical first."""
    critical: list[Alert] = []
    warning: list[Alert] = []
    for rule in RULES:
        value = rule.measure(st, now)
        if value is None:
            continue
        warn_at, crit_at = rule.thresholds(config)
        if crit_at is not None and value >= crit_at:
            critical.append(Alert(CRITICAL, rule.critical_code or "", rule.message(value, st, config),
                                  rule.critical_action or ""))
        elif warn_at is not None and value >= warn_at:
            warning.append(Alert(WARNING, rule.warning_code or "", rule.message(value, st, config),
                                 rule.warning_action or ""))
    return critical + warning


def level_of(alerts: list[Alert]) -> str:
    if not alerts:
        return OK
    return alerts[0].level if alerts[0].level == CRITICAL else WARNING


def worst(levels: list[str] | tuple[str, ...]) -> str:
    return max(levels, key=_RANK.__getitem__, default=OK)


def rank(level: str) -> int:
    return _RANK[level]
