"""The HTTP API's JSON bodies (README, HTTP API), for one session and for the fleet.

Per session, the fields are fixed (README, HTTP API). The fleet bodies keep the
same fields, each folded over every session as the README describes (worst
status, most common state, oldest heartbeat, ...); fleet alerts add
``sessionId`` and ``tenantId`` so that an alert says which session it is about.

Times are ISO 8601 UTC with milliseconds; durations are milliseconds plus a
short human form ("1h", "30s"). Unknown times are null.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from contracts.session_events import STATES
from processors.session_health import thresholds as th
from processors.session_health.config import SessionHealthConfig
from processors.session_health.rollup import SessionView, Snapshot
from processors.session_health.state import DEFAULT_BREAKER_THRESHOLD, SessionState

VERSION = "1.0.0"
OBSERVE_TARGET = "10ms"
_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000))


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    ms = int(round(ts * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def age_ms(now: float, ts: float | None) -> int | None:
    return None if ts is None else max(0, int((now - ts) * 1000))


def human(ms: int | None) -> str | None:
    """3_600_000 -> "1h", 5_430_000 -> "1h 30m": the two largest non-zero units."""
    if ms is None:
        return None
    if ms < 1000:
        return f"{ms}ms"
    parts = []
    for unit, size in _UNITS:
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
        if len(parts) == 2:
            break
    return " ".join(parts) if parts else "0s"


def response_time(t0: float) -> str:
    return f"{round((time.perf_counter() - t0) * 1000)}ms"


def percentiles(samples: Iterable[float]) -> dict[str, int | None]:
    """Nearest-rank p50/p90/p99 of reconnect latencies in ms; null without samples."""
    data = sorted(samples)
    if not data:
        return {"p50": None, "p90": None, "p99": None}

    def pick(q: float) -> int:
        return int(round(data[max(0, math.ceil(q * len(data)) - 1)]))

    return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99)}


def _uptime_ms(st: SessionState, now: float) -> int:
    # Uptime of a session: how long its current connection has lasted.
    return age_ms(now, st.connected_since) or 0


def _heartbeat_age_ms(st: SessionState, now: float) -> int:
    since = st.heartbeat_last_at if st.heartbeat_last_at is not None else st.first_seen_at
    return age_ms(now, since) or 0


def _heartbeat_ok(st: SessionState, now: float, config: SessionHealthConfig) -> bool:
    warn = config.thresholds.warning
    return _heartbeat_age_ms(st, now) < warn.heartbeat_age_s * 1000 and st.heartbeat_missed < warn.missed_heartbeats


def _credential_fresh(st: SessionState, now: float, config: SessionHealthConfig) -> bool | None:
    age = age_ms(now, st.credentials_written_at)
    return None if age is None else age < config.thresholds.warning.credential_age_h * 3_600_000


def _integrity(st: SessionState) -> str:
    if st.corrupted:
        return "corrupted"
    return "degraded" if st.validation_failures else "healthy"


# --- one session ------------------------------------------------------------

def session_health(view: SessionView, config: SessionHealthConfig) -> dict[str, Any]:
    st, now = view.state, view.at
    return {
        "status": view.level,
        "state": st.state,
        "connected": st.connected,
        "heartbeatOk": _heartbeat_ok(st, now, config),
        "alertCount": len(view.alerts),
        "uptime": _uptime_ms(st, now),
    }


def session_observe(view: SessionView, config: SessionHealthConfig) -> dict[str, Any]:
    st, now = view.state, view.at
    uptime = _uptime_ms(st, now)
    state_age = age_ms(now, st.state_changed_at)
    hb_age = _heartbeat_age_ms(st, now)
    max_attempts = config.max_reconnect_attempts
    return {
        "_meta": meta(now),
        "health": {"status": view.level, "alertCount": len(view.alerts), "uptime": uptime,
                   "uptimeFormatted": human(uptime)},
        "session": {
            "state": st.state, "stateChangedAt": iso(st.state_changed_at), "stateAge": state_age,
            "stateAgeFormatted": human(state_age), "initSuccessful": st.init_successful, "authMethod": st.auth_method,
        },
        "reconnect": {
            "attempts": st.reconnect_attempts, "maxAttempts": max_attempts,
            "attemptsRemaining": max(0, max_attempts - st.reconnect_attempts),
            "inProgress": st.reconnect_in_progress, "latencyPercentiles": percentiles(st.reconnect_latencies_ms),
        },
        "heartbeat": {
            "lastAt": iso(st.heartbeat_last_at), "age": hb_age, "ageFormatted": human(hb_age),
            "count": st.heartbeat_count, "missed": st.heartbeat_missed, "healthy": _heartbeat_ok(st, now, config),
        },
        "auth": {
            "lastAuthAt": iso(st.auth_last_at), "authAge": age_ms(now, st.auth_last_at),
            "lastCredentialWriteAt": iso(st.credentials_written_at),
            "credentialAge": age_ms(now, st.credentials_written_at),
            "credentialFresh": _credential_fresh(st, now, config),
        },
        "lock": {"held": st.lock_held, "heldBy": st.lock_holder, "operation": st.lock_operation},
        "integrity": {
            "checksumValid": st.validation_failures == 0 and not st.corrupted,
            "validationFailures": st.validation_failures, "status": _integrity(st),
        },
        "circuitBreaker": {"open": st.breaker_open, "consecutiveFailures": st.breaker_failures,
                           "threshold": st.breaker_threshold},
        "alerts": [a.to_json() for a in view.alerts],
    }


def session_alerts(view: SessionView) -> dict[str, Any]:
    return {"level": view.level, "count": len(view.alerts), "alerts": [a.to_json() for a in view.alerts],
            "checkedAt": iso(view.at)}


def meta(now: float) -> dict[str, str | None]:
    return {"generatedAt": iso(now), "responseTimeTarget": OBSERVE_TARGET, "version": VERSION}


# --- the fleet --------------------------------------------------------------

def _mode(values: Iterable[Any], order: tuple[str, ...] = ()) -> Any:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    rank = {s: i for i, s in enumerate(order)}
    return min(counts, key=lambda v: (-counts[v], rank.get(v, len(rank)), str(v)))


def _oldest(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return min(known) if known else None


def _newest(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def fleet_alerts_list(snap: Snapshot) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for sid in sorted(snap.views):
        view = snap.views[sid]
        for alert in view.alerts:
            out.append({**alert.to_json(), "sessionId": sid, "tenantId": view.state.tenant_id})
    out.sort(key=lambda a: -th.rank(a["level"]))  # stable: critical first, then by session
    return out


def fleet_health(snap: Snapshot, config: SessionHealthConfig, started_at: float) -> dict[str, Any]:
    views = list(snap.views.values())
    now = snap.at
    return {
        "status": snap.level,
        "state": _mode((v.state.state for v in views), STATES),
        "connected": bool(views) and all(v.state.connected for v in views),
        "heartbeatOk": all(_heartbeat_ok(v.state, now, config) for v in views),
        "alertCount": sum(len(v.alerts) for v in views),
        "uptime": age_ms(now, started_at) or 0,
    }


def fleet_observe(snap: Snapshot, config: SessionHealthConfig, started_at: float) -> dict[str, Any]:
    states = [v.state for v in snap.views.values()]
    now = snap.at
    uptime = age_ms(now, started_at) or 0
    changed = _newest(s.state_changed_at for s in states)
    hb_ages = [_heartbeat_age_ms(s, now) for s in states]
    worst_attempts = max((s.reconnect_attempts for s in states), default=0)
    max_attempts = config.max_reconnect_attempts
    held = [s for s in sorted(states, key=lambda s: s.session_id) if s.lock_held]
    worst_breaker = max(states, key=lambda s: s.breaker_failures, default=None)
    integrity = [_integrity(s) for s in states]
    fresh = [_credential_fresh(s, now, config) for s in states]
    known_fresh = [f for f in fresh if f is not None]
    alerts = fleet_alerts_list(snap)
    return {
        "_meta": meta(now),
        "health": {"status": snap.level, "alertCount": len(alerts), "uptime": uptime, "uptimeFormatted": human(uptime)},
        "session": {
            "state": _mode((s.state for s in states), STATES), "stateChangedAt": iso(changed),
            "stateAge": age_ms(now, changed), "stateAgeFormatted": human(age_ms(now, changed)),
            "initSuccessful": bool(states) and all(s.init_successful for s in states),
            "authMethod": _mode(s.auth_method for s in states),
        },
        "reconnect": {
            "attempts": worst_attempts, "maxAttempts": max_attempts,
            "attemptsRemaining": max(0, max_attempts - worst_attempts),
            "inProgress": any(s.reconnect_in_progress for s in states),
            "latencyPercentiles": percentiles(x for s in states for x in s.reconnect_latencies_ms),
        },
        "heartbeat": {
            "lastAt": iso(_oldest(s.heartbeat_last_at for s in states)),
            "age": max(hb_ages, default=0), "ageFormatted": human(max(hb_ages, default=0)),
            "count": sum(s.heartbeat_count for s in states),
            "missed": max((s.heartbeat_missed for s in states), default=0),
            "healthy": all(_heartbeat_ok(s, now, config) for s in states),
        },
        "auth": {
            "lastAuthAt": iso(_oldest(s.auth_last_at for s in states)),
            "authAge": age_ms(now, _oldest(s.auth_last_at for s in states)),
            "lastCredentialWriteAt": iso(_oldest(s.credentials_written_at for s in states)),
            "credentialAge": age_ms(now, _oldest(s.credentials_written_at for s in states)),
            "credentialFresh": all(known_fresh) if known_fresh else None,
        },
        "lock": {"held": bool(held), "heldBy": held[0].lock_holder if held else None,
                 "operation": held[0].lock_operation if held else None},
        "integrity": {
            "checksumValid": all(s.validation_failures == 0 and not s.corrupted for s in states),
            "validationFailures": sum(s.validation_failures for s in states),
            "status": "corrupted" if "corrupted" in integrity else "degraded" if "degraded" in integrity else "healthy",
        },
        "circuitBreaker": {
            "open": any(s.breaker_open for s in states),
            "consecutiveFailures": worst_breaker.breaker_failures if worst_breaker else 0,
            "threshold": worst_breaker.breaker_threshold if worst_breaker else DEFAULT_BREAKER_THRESHOLD,
        },
        "alerts": alerts,
    }


def fleet_alerts(snap: Snapshot) -> dict[str, Any]:
    alerts = fleet_alerts_list(snap)
    return {"level": snap.level, "count": len(alerts), "alerts": alerts, "checkedAt": iso(snap.at)}


def session_list(snap: Snapshot) -> dict[str, Any]:
    """GET /sessions: one line per session, and counts by status and state."""
    rows = [
        {"sessionId": sid, "tenantId": v.state.tenant_id, "status": v.level, "state": v.state.state,
         "alertCount": len(v.alerts)}
        for sid, v in sorted(snap.views.items())
    ]
    return {
        "count": len(rows),
        "byStatus": {lvl: sum(1 for r in rows if r["status"] == lvl) for lvl in th.LEVELS},
        "byState": dict(Counter(r["state"] for r in rows)),
        "sessions": rows,
        "checkedAt": iso(snap.at),
    }
