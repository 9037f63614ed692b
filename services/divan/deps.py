"""Request dependencies: the app's stores and the current user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import redis
from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine

from services import obs
from services.divan.metrics import DivanMetrics
from services.divan.security import verify_token
from services.divan.settings import Settings

CREDENTIALS_DETAIL = "Could not validate credentials"
NOT_FOUND_DETAIL = "Not found"


@dataclass
class DivanState:
    settings: Settings
    obs: obs.Obs
    redis: redis.Redis
    engine: Engine
    metrics: DivanMetrics
    sio: Any = None


def get_state(request: Request) -> DivanState:
    return request.app.state.divan


StateDep = Annotated[DivanState, Depends(get_state)]


def current_user(request: Request, state: StateDep) -> int:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    user_id = verify_token(state.settings.JWT_SECRET, token.strip()) if scheme.lower() == "bearer" else None
    if user_id is None:
        raise HTTPException(401, CREDENTIALS_DETAIL, headers={"WWW-Authenticate": "Bearer"})
    obs.set_user(user_id)
    return user_id


CurrentUser = Annotated[int, Depends(current_user)]
