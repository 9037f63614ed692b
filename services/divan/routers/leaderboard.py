"""Leaderboard events in and boards out; the daily snapshot runs from ``POST /ops/rollover``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from services.divan import leaderboard
from services.divan.deps import CurrentUser, StateDep

router = APIRouter(prefix="/leaderboard", tags=["leaderboard"])


class LbEventIn(BaseModel):
    stream: leaderboard.Stream
    points: int = Field(ge=1, le=1000)
    campus_id: str = "main"


@router.post("/events", status_code=202)
def add_event(event: LbEventIn, user: CurrentUser, state: StateDep) -> dict[str, int]:
    if event.campus_id not in state.settings.DIVAN_CAMPUSES:
        raise HTTPException(404, "Unknown campus")
    leaderboard.append_event(state, event.stream, user, event.points, event.campus_id)
    return {"processed": leaderboard.process(state, event.stream)}


@router.get("/{period}")
def board(period: leaderboard.Period, _: CurrentUser, state: StateDep,
          campus_id: str | None = None) -> dict[str, object]:
    return {"period": period, "top": leaderboard.top(state, period, campus_id)}
