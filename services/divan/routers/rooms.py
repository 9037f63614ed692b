"""Rooms: create, join, send."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import insert, select

from services.divan.deps import NOT_FOUND_DETAIL, CurrentUser, StateDep
from services.divan.models import room_members, room_messages, rooms
from services.divan.routers.chat import push

router = APIRouter(prefix="/rooms", tags=["rooms"])


class RoomIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)


class RoomMessageIn(BaseModel):
    body: str = Field(min_length=1, max_length=4000)


@router.post("", status_code=201)
def create_room(room: RoomIn, user: CurrentUser, state: StateDep) -> dict[str, int]:
    with state.engine.begin() as conn:
        room_id = conn.execute(
            insert(rooms).values(name=room.name, created_by=user, created_at=datetime.now(UTC)).returning(rooms.c.id)
        ).scalar_one()
        conn.execute(insert(room_members).values(room_id=room_id, user_id=user))
    state.metrics.rooms_created.add(1)
    return {"id": room_id}


@router.post("/{room_id}/join")
def join_room(room_id: int, user: CurrentUser, state: StateDep) -> dict[str, object]:
    with state.engine.begin() as conn:
        if conn.execute(select(rooms.c.id).where(rooms.c.id == room_id)).first() is None:
            raise HTTPException(404, NOT_FOUND_DETAIL)
        member = select(room_members).where(room_members.c.room_id == room_id, room_members.c.user_id == user)
        joined = conn.execute(member).first() is None
        if joined:
            conn.execute(insert(room_members).values(room_id=room_id, user_id=user))
    if joined:
        state.metrics.rooms_join.add(1)
    return {"id": room_id, "joined": joined}


@router.post("/{room_id}/messages", status_code=201)
def send_room_message(room_id: int, msg: RoomMessageIn, user: CurrentUser, state: StateDep) -> dict[str, int]:
    with state.engine.begin() as conn:
        member = select(room_members).where(room_members.c.room_id == room_id, room_members.c.user_id == user)
        if conn.execute(member).first() is None:
            raise HTTPException(404, NOT_FOUND_DETAIL)
        message_id = conn.execute(
            insert(room_messages).values(room_id=room_id, sender=user, body=msg.body, sent_at=datetime.now(UTC))
            .returning(room_messages.c.id)
        ).scalar_one()
    state.metrics.rooms_send.add(1)
    push(state, "rooms:message", {"room_id": room_id, "id": message_id, "from": user, "body": msg.body},
         f"room:{room_id}")
    return {"id": message_id}
