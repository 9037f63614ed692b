"""What the divan-api load files share: users with tokens of their own, made up per run.

divan-api takes ``Authorization: Bearer <user_id>.<HMAC(JWT_SECRET, user_id)>``;
the load generator mints them with the service's JWT_SECRET from the
environment, as the traffic driver does. Each simulated user gets an id of its
own from a random base per run, so no two runs (or users) send the same data
and nothing is served from a cache by accident.
"""

from __future__ import annotations

import itertools
import os
import random

from pydantic import SecretStr

from services.divan.security import issue_token

# Far above the ids the traffic driver and tests use.
_BASE = random.randrange(10**6, 10**9)
_IDS = itertools.count(_BASE)


def jwt_secret() -> SecretStr:
    value = os.environ.get("JWT_SECRET")
    if not value:
        raise SystemExit("JWT_SECRET is not set: the load users sign their divan tokens with it")
    return SecretStr(value)


def new_user() -> tuple[int, dict[str, str]]:
    """A fresh user id and its Authorization header."""
    user_id = next(_IDS)
    return user_id, {"Authorization": f"Bearer {issue_token(jwt_secret(), user_id)}"}


def peer_of(user_id: int, rng: random.Random, spread: int = 1000) -> int:
    """Another user of this run."""
    peer = _BASE + rng.randrange(spread)
    return peer if peer != user_id else peer + 1
