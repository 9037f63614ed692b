"""Invites; accepting one forms a friendship."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import insert, select, update

from services.divan.deps import NOT_FOUND_DETAIL, CurrentUser, StateDep
from services.divan.models import friendships, invites

router = APIRouter(prefix="/invites", tags=["invites"])


class InviteIn(BaseModel):
    to_user: int = Field(gt=0)


@router.post("", status_code=201)
def send_invite(body: InviteIn, user: CurrentUser, state: StateDep) -> dict[str, int]:
    if body.to_user == user:
        raise HTTPException(422, "Cannot invite yourself")
    with state.engine.begin() as conn:
        invite_id = conn.execute(
            insert(invites).values(from_user=user, to_user=body.to_user, status="pending",
                                   created_at=datetime.now(UTC)).returning(invites.c.id)
        ).scalar_one()
    state.metrics.invites_sent.add(1)
    state.obs.logger.info("invite sent", extra={"invite_id": invite_id})
    return {"id": invite_id}


@router.post("/{invite_id}/accept")
def accept_invite(invite_id: int, user: CurrentUser, state: StateDep) -> dict[str, int]:
    with state.engine.begin() as conn:
        row = conn.execute(select(invites).where(invites.c.id == invite_id)).first()
        if row is None or row.to_user != user:
            raise HTTPException(404, NOT_FOUND_DETAIL)
        if row.status != "pending":
            raise HTTPException(409, "Invite already answered")
        conn.execute(update(invites).where(invites.c.id == invite_id).values(status="accepted"))
        friendship_id = conn.execute(
            insert(friendships).values(user_a=row.from_user, user_b=user, created_at=datetime.now(UTC))
            .returning(friendships.c.id)
        ).scalar_one()
    state.metrics.invites_accept.add(1)
    state.metrics.friendships_accepted.add(1)
    return {"friendship_id": friendship_id}
