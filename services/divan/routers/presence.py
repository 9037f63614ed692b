"""Presence heartbeats: the user's campus and position, kept in Redis GEO with a TTL."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from services.divan.deps import CurrentUser, DivanState, StateDep

router = APIRouter(prefix="/presence", tags=["presence"])

# Redis GEO accepts latitudes within the Web Mercator range only.
_MAX_LAT = 85.05112878


class Heartbeat(BaseModel):
    campus_id: str = Field(max_length=32)
    lat: float
    lon: float


def geo_key(campus_id: str) -> str:
    return f"presence:geo:{campus_id}"


def online_key(user_id: int | str) -> str:
    return f"presence:user:{user_id}"


def reject_reason(state: DivanState, user_id: int, hb: Heartbeat) -> str | None:
    s = state.settings
    if hb.campus_id not in s.DIVAN_CAMPUSES:
        return "unknown_campus"
    if not (-_MAX_LAT <= hb.lat <= _MAX_LAT and -180.0 <= hb.lon <= 180.0):
        return "invalid_coordinates"
    if s.PRESENCE_MIN_INTERVAL_SECONDS > 0 and not state.redis.set(
        f"presence:last:{user_id}", 1, nx=True, px=int(s.PRESENCE_MIN_INTERVAL_SECONDS * 1000)
    ):
        return "too_frequent"
    return None


def record_heartbeat(state: DivanState, user_id: int, hb: Heartbeat) -> str | None:
    """Store the heartbeat; the reject reason when it is refused (counted either way)."""
    reason = reject_reason(state, user_id, hb)
    if reason is not None:
        state.metrics.presence_rejects.add(1, {"reason": reason})
        return reason
    pipe = state.redis.pipeline()
    pipe.geoadd(geo_key(hb.campus_id), (hb.lon, hb.lat, str(user_id)))
    pipe.set(online_key(user_id), hb.campus_id, ex=state.settings.PRESENCE_TTL_SECONDS)
    pipe.execute()
    state.metrics.presence_heartbeats.add(1, {"campus_id": hb.campus_id})
    return None


@router.post("/heartbeat", status_code=202)
def heartbeat(hb: Heartbeat, user: CurrentUser, state: StateDep) -> dict[str, str]:
    reason = record_heartbeat(state, user, hb)
    if reason is not None:
        raise HTTPException(429 if reason == "too_frequent" else 422, reason)
    return {"status": "ok"}


@router.get("/{user_id}")
def presence_of(user_id: int, _: CurrentUser, state: StateDep) -> dict[str, object]:
    campus = state.redis.get(online_key(user_id))
    return {"user_id": user_id, "online": campus is not None, "campus_id": campus}
