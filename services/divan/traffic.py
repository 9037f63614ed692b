"""A small traffic driver: every divan route and Socket.IO event once per round.

Used by ``make run`` (through the pipeline) and by the end-to-end test, so
every ``divan_*`` metric of services/obs/README.md has data:

    python -m services.divan.traffic http://127.0.0.1:8000 --rounds 3

Tokens are minted with JWT_SECRET from the environment (the same secret the
service runs with); the admin token comes from OBS_ADMIN_TOKEN.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from collections import Counter

import httpx
import socketio
from pydantic import SecretStr

from services.divan.app import SOCKETIO_MOUNT
from services.divan.security import issue_token

USERS = (101, 102, 103)
CAMPUS = "main"
# Around a point on the campus, a few tens of metres apart.
BASE = (41.0082, 28.9784)


def _auth(secret: SecretStr, user: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(secret, user)}"}


def drive_http(http: httpx.Client, secret: SecretStr, *, admin_token: str | None = None, rounds: int = 1,
               seed: int = 7) -> Counter[str]:
    """Call every route ``rounds`` times; the status codes seen, by route."""
    rnd = random.Random(seed)
    seen: Counter[str] = Counter()

    def call(method: str, path: str, user: int | None, **kw) -> httpx.Response:  # noqa: ANN003
        headers = _auth(secret, user) if user is not None else {"Authorization": f"Bearer {admin_token}"}
        resp = http.request(method, path, headers=headers, **kw)
        seen[f"{method} {path.split('?')[0]} {resp.status_code}"] += 1
        return resp

    a, b, c = USERS
    for _ in range(rounds):
        for user in USERS:
            jitter = (rnd.uniform(-0.0005, 0.0005), rnd.uniform(-0.0005, 0.0005))
            call("POST", "/presence/heartbeat", user,
                 json={"campus_id": CAMPUS, "lat": BASE[0] + jitter[0], "lon": BASE[1] + jitter[1]})
        call("POST", "/presence/heartbeat", a, json={"campus_id": "atlantis", "lat": 0.0, "lon": 0.0})
        call("GET", "/proximity/nearby", a, params={"campus_id": CAMPUS, "lat": BASE[0], "lon": BASE[1], "radius": 500})
        invite = call("POST", "/invites", a, json={"to_user": b}).json()["id"]
        call("POST", f"/invites/{invite}/accept", b)
        message = call("POST", "/chat/messages", a, json={"to_user": b, "body": "are you at the library?"}).json()["id"]
        call("POST", f"/chat/messages/{message}/delivered", b)
        call("POST", f"/chat/messages/{message}/read", b)
        room = call("POST", "/rooms", a, json={"name": "study group"}).json()["id"]
        call("POST", f"/rooms/{room}/join", c)
        call("POST", f"/rooms/{room}/messages", c, json={"body": "on my way"})
        activity = call("POST", "/activities", c, json={"kind": rnd.choice(["study", "sport", "social", "event"])})
        call("POST", f"/activities/{activity.json()['id']}/complete", c)
        call("POST", "/leaderboard/events", b, json={"stream": "social", "points": rnd.randint(1, 20)})
        call("GET", "/leaderboard/daily", a)
        call("GET", "/health/ready", a)
    if admin_token:
        call("POST", "/ops/rollover", None)
    return seen


async def drive_sockets(base_url: str, secret: SecretStr, *, rounds: int = 1) -> int:
    """Connect two users, send heartbeats and typing events, disconnect; the number of events sent."""
    sent = 0
    clients = []
    try:
        for user in USERS[:2]:
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(base_url, socketio_path=f"{SOCKETIO_MOUNT}/socket.io", transports=["websocket"],
                                 auth={"token": issue_token(secret, user)}, wait_timeout=10)
            clients.append(client)
        for _ in range(rounds):
            await clients[0].call("presence:heartbeat", {"campus_id": CAMPUS, "lat": BASE[0], "lon": BASE[1]},
                                  timeout=10)
            await clients[0].emit("chat:typing", {"to_user": USERS[1]})
            sent += 2
    finally:
        for client in clients:
            await client.disconnect()
    return sent


def main(argv: list[str] | None = None) -> None:
    from services.divan.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    settings = Settings()
    admin = settings.OBS_ADMIN_TOKEN.get_secret_value() if settings.OBS_ADMIN_TOKEN else None
    with httpx.Client(base_url=args.base_url, timeout=10) as http:
        seen = drive_http(http, settings.JWT_SECRET, admin_token=admin, rounds=args.rounds)
    events = asyncio.run(drive_sockets(args.base_url, settings.JWT_SECRET, rounds=args.rounds))
    for key, n in sorted(seen.items()):
        print(f"{n:5d}  {key}")
    print(f"{events:5d}  socket.io events")


if __name__ == "__main__":
    main()
