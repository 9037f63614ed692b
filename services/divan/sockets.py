"""Socket.IO server of divan: authenticated connections, per-user rooms, presence and typing events.

Counting and spans come from ``obs.instrument_socketio``; this module only
holds the handlers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import socketio
from pydantic import ValidationError

from services.divan.deps import DivanState
from services.divan.routers.presence import Heartbeat, record_heartbeat
from services.divan.security import verify_token


def build_socketio(state: DivanState) -> socketio.AsyncServer:
    # logger/engineio_logger off: python-socketio's own logs print payloads.
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins=[], logger=False, engineio_logger=False)

    @sio.event
    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any] | None = None) -> None:
        token = (auth or {}).get("token")
        user_id = verify_token(state.settings.JWT_SECRET, token) if isinstance(token, str) else None
        if user_id is None:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        await sio.save_session(sid, {"user_id": user_id})
        await sio.enter_room(sid, f"user:{user_id}")

    @sio.event
    async def disconnect(sid: str, reason: str | None = None) -> None:
        return None

    @sio.on("presence:heartbeat")
    async def presence_heartbeat(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        session = await sio.get_session(sid)
        try:
            hb = Heartbeat.model_validate(data)
        except ValidationError:
            return {"ok": False, "reason": "invalid_payload"}
        reason = await asyncio.to_thread(record_heartbeat, state, session["user_id"], hb)
        return {"ok": reason is None, **({"reason": reason} if reason else {})}

    @sio.on("chat:typing")
    async def chat_typing(sid: str, data: dict[str, Any]) -> None:
        session = await sio.get_session(sid)
        to_user = data.get("to_user") if isinstance(data, dict) else None
        if isinstance(to_user, int):
            await sio.emit("chat:typing", {"from": session["user_id"]}, room=f"user:{to_user}")

    @sio.on("rooms:subscribe")
    async def rooms_subscribe(sid: str, data: dict[str, Any]) -> dict[str, bool]:
        room_id = data.get("room_id") if isinstance(data, dict) else None
        if not isinstance(room_id, int):
            return {"ok": False}
        await sio.enter_room(sid, f"room:{room_id}")
        return {"ok": True}

    return sio
