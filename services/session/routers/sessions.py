"""The simulated sessions of this replica: list, connect, step, disconnect, run a scenario.

All of these change or reveal session state, so all need the admin token.
Sync routes: they run in worker threads, where the Redis lock and the SQL
credential store may block.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException

from services.session.deps import (
    SESSION_BUSY,
    UNKNOWN_SCENARIO,
    UNKNOWN_SESSION,
    ContextDep,
    SessionIdPath,
    require_admin,
)
from services.session.machine import InvalidTransition, SessionBusy
from services.session.manager import ManagedSession
from services.session.simulator import SCENARIOS, ScenarioError

router = APIRouter(prefix="/api/whatsapp/sessions", tags=["sessions"], dependencies=[Depends(require_admin)])


def _act(ctx: ContextDep, session: ManagedSession, action: Any) -> dict[str, Any]:
    try:
        ctx.manager.run(session, action)
    except SessionBusy:
        raise HTTPException(423, SESSION_BUSY) from None
    except (InvalidTransition, ScenarioError) as exc:
        # The message names states only (no ids, no input), so it is safe to return.
        raise HTTPException(409, str(exc)) from None
    return session.view()


def _existing(ctx: ContextDep, session_id: str) -> ManagedSession:
    session = ctx.manager.get(session_id)
    if session is None:
        raise HTTPException(404, UNKNOWN_SESSION)
    return session


@router.get("")
def list_sessions(ctx: ContextDep) -> dict[str, Any]:
    return {"sessions": [s.view() for s in ctx.manager.all()]}


@router.get("/{session_id}")
def get_session(session_id: SessionIdPath, ctx: ContextDep) -> dict[str, Any]:
    return _existing(ctx, session_id).view()


@router.post("/{session_id}/connect")
def connect(session_id: SessionIdPath, ctx: ContextDep) -> dict[str, Any]:
    session = ctx.manager.ensure(session_id, ctx.settings.SESSION_TENANT_ID)
    return _act(ctx, session, lambda s: s.machine.connect())


@router.post("/{session_id}/step")
def step(session_id: SessionIdPath, ctx: ContextDep) -> dict[str, Any]:
    return _act(ctx, _existing(ctx, session_id), lambda s: s.simulator.tick())


@router.post("/{session_id}/disconnect")
def disconnect(session_id: SessionIdPath, ctx: ContextDep) -> dict[str, Any]:
    return _act(ctx, _existing(ctx, session_id), lambda s: s.machine.disconnect())


@router.post("/{session_id}/simulate/{scenario}")
def simulate(session_id: SessionIdPath, scenario: str, ctx: ContextDep) -> dict[str, Any]:
    script = SCENARIOS.get(scenario)
    if script is None:
        raise HTTPException(404, UNKNOWN_SCENARIO)
    session = ctx.manager.ensure(session_id, ctx.settings.SESSION_TENANT_ID)
    return _act(ctx, session, lambda s: script(s.simulator))
