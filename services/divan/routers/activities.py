"""Activities: create and complete; completing one scores on the activity leaderboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from sqlalchemy import insert, select, update

from services.divan import leaderboard
from services.divan.deps import NOT_FOUND_DETAIL, CurrentUser, StateDep
from services.divan.models import activities

router = APIRouter(prefix="/activities", tags=["activities"])

Kind = Literal["study", "sport", "social", "event"]
POINTS = {"study": 10, "sport": 15, "social": 5, "event": 20}


class ActivityIn(BaseModel):
    kind: Kind
    campus_id: str = "main"


@router.post("", status_code=201)
def create_activity(activity: ActivityIn, user: CurrentUser, state: StateDep) -> dict[str, int]:
    with state.engine.begin() as conn:
        activity_id = conn.execute(
            insert(activities).values(kind=activity.kind, created_by=user, status="open",
                                      created_at=datetime.now(UTC)).returning(activities.c.id)
        ).scalar_one()
    state.metrics.activities_created.add(1, {"kind": activity.kind})
    return {"id": activity_id}


@router.post("/{activity_id}/complete")
def complete_activity(activity_id: int, user: CurrentUser, state: StateDep,
                      campus_id: str = "main") -> dict[str, object]:
    with state.engine.begin() as conn:
        row = conn.execute(select(activities).where(activities.c.id == activity_id)).first()
        if row is None or row.created_by != user:
            raise HTTPException(404, NOT_FOUND_DETAIL)
        if row.status == "done":
            raise HTTPException(409, "Activity already completed")
        conn.execute(update(activities).where(activities.c.id == activity_id)
                     .values(status="done", completed_at=datetime.now(UTC)))
    state.metrics.activities_completed.add(1, {"kind": row.kind})
    campus = campus_id if campus_id in state.settings.DIVAN_CAMPUSES else "main"
    leaderboard.append_event(state, "activity", user, POINTS[row.kind], campus)
    processed = leaderboard.process(state, "activity")
    return {"id": activity_id, "lb_processed": processed}
