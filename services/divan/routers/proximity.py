"""Nearby users on a campus (Redis GEOSEARCH), at a fixed set of radii so the metric label stays bounded."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from services.divan.deps import CurrentUser, StateDep
from services.divan.routers.presence import geo_key, online_key

router = APIRouter(prefix="/proximity", tags=["proximity"])

RADII_M = (100, 250, 500, 1000, 2000)
MAX_RESULTS = 50
# Distances are rounded to 10 m: close enough to be useful, too coarse to triangulate anyone.
DISTANCE_ROUNDING = -1


@router.get("/nearby")
def nearby(
    campus_id: Annotated[str, Query(max_length=32)],
    lat: Annotated[float, Query(ge=-85.05112878, le=85.05112878)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    user: CurrentUser,
    state: StateDep,
    radius: int = 500,
) -> dict[str, object]:
    if radius not in RADII_M:
        raise HTTPException(422, f"radius must be one of {', '.join(map(str, RADII_M))} (metres)")
    if campus_id not in state.settings.DIVAN_CAMPUSES:
        raise HTTPException(404, "Unknown campus")
    state.metrics.proximity_queries.add(1, {"radius": str(radius)})
    hits = state.redis.geosearch(
        geo_key(campus_id), longitude=lon, latitude=lat, radius=radius, unit="m",
        withdist=True, sort="ASC", count=MAX_RESULTS + 1,
    )
    others = [(member, dist) for member, dist in hits if member != str(user)]
    online = state.redis.mget([online_key(m) for m, _ in others]) if others else []
    nearby_users = [
        {"user_id": int(member), "distance_m": round(dist, DISTANCE_ROUNDING)}
        for (member, dist), here in zip(others, online, strict=True) if here == campus_id
    ][:MAX_RESULTS]
    return {"radius": radius, "nearby": nearby_users}
