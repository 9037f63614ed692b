"""Direct messages with delivered and read updates, pushed over Socket.IO when the peer is connected.

The body is stored and sent to the recipient; it is never logged or put on a span.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio.from_thread
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import and_, insert, or_, select, update

from services.divan.deps import NOT_FOUND_DETAIL, CurrentUser, DivanState, StateDep
from services.divan.models import messages

router = APIRouter(prefix="/chat", tags=["chat"])


class MessageIn(BaseModel):
    to_user: int = Field(gt=0)
    body: str = Field(min_length=1, max_length=4000)


def unread_key(user_id: int) -> str:
    return f"chat:unread:{user_id}"


def _decrement_unread(state: DivanState, user_id: int) -> None:
    # DECR, and undo a step below zero (a counter lost to a Redis restart); no Lua, so fakeredis runs it too.
    if state.redis.decr(unread_key(user_id)) < 0:
        state.redis.incr(unread_key(user_id))


def push(state: DivanState, event: str, data: dict[str, Any], room: str) -> None:
    """Emit to a Socket.IO room from a worker thread (the route handlers run in the threadpool)."""
    if state.sio is not None:
        anyio.from_thread.run(lambda: state.sio.emit(event, data, room=room))


@router.post("/messages", status_code=201)
def send_message(msg: MessageIn, user: CurrentUser, state: StateDep) -> dict[str, int]:
    now = datetime.now(UTC)
    with state.engine.begin() as conn:
        message_id = conn.execute(
            insert(messages).values(sender=user, recipient=msg.to_user, body=msg.body, sent_at=now)
            .returning(messages.c.id)
        ).scalar_one()
    state.redis.incr(unread_key(msg.to_user))
    state.metrics.chat_send.add(1)
    state.obs.logger.info("chat message sent", extra={"message_id": message_id, "body_len": len(msg.body)})
    push(state, "chat:message", {"id": message_id, "from": user, "body": msg.body}, f"user:{msg.to_user}")
    return {"id": message_id}


def _mark(state: DivanState, user: int, message_id: int, *, read: bool) -> dict[str, object]:
    now = datetime.now(UTC)
    with state.engine.begin() as conn:
        row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
        if row is None or row.recipient != user:
            raise HTTPException(404, NOT_FOUND_DETAIL)
        values: dict[str, datetime] = {}
        if row.delivered_at is None:
            values["delivered_at"] = now
        if read and row.read_at is None:
            values["read_at"] = now
        if values:
            conn.execute(update(messages).where(messages.c.id == message_id).values(**values))
    # An update counts only when it changed something: repeated acks are free and uncounted.
    if "delivered_at" in values and not read:
        state.metrics.chat_delivered.add(1)
    if "read_at" in values:
        state.metrics.chat_read.add(1)
        _decrement_unread(state, user)
    if values:
        push(state, "chat:read" if read else "chat:delivered", {"id": message_id}, f"user:{row.sender}")
    return {"id": message_id, "changed": bool(values)}


@router.post("/messages/{message_id}/delivered")
def mark_delivered(message_id: int, user: CurrentUser, state: StateDep) -> dict[str, object]:
    return _mark(state, user, message_id, read=False)


@router.post("/messages/{message_id}/read")
def mark_read(message_id: int, user: CurrentUser, state: StateDep) -> dict[str, object]:
    return _mark(state, user, message_id, read=True)


@router.get("/unread")
def unread(user: CurrentUser, state: StateDep) -> dict[str, int]:
    return {"unread": int(state.redis.get(unread_key(user)) or 0)}


@router.get("/messages")
def conversation(with_user: int, user: CurrentUser, state: StateDep, limit: int = 50) -> dict[str, object]:
    pair = or_(and_(messages.c.sender == user, messages.c.recipient == with_user),
               and_(messages.c.sender == with_user, messages.c.recipient == user))
    with state.engine.connect() as conn:
        rows = conn.execute(select(messages).where(pair).order_by(messages.c.id.desc()).limit(min(limit, 200))).all()
    return {"messages": [
        {"id": r.id, "from": r.sender, "body": r.body, "delivered": r.delivered_at is not None,
         "read": r.read_at is not None} for r in rows
    ]}
