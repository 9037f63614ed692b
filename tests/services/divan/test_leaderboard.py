"""Leaderboards: stream events folded into boards; the rollover job snapshots them and resets the daily ones."""

from __future__ import annotations

import json

from sqlalchemy import select

from services.divan.models import lb_snapshots
from tests.services.divan.conftest import Divan


def _event(d: Divan, user: int, points: int, stream: str = "social", campus: str = "main") -> int:
    resp = d.client.post("/leaderboard/events", json={"stream": stream, "points": points, "campus_id": campus},
                         headers=d.auth(user))
    assert resp.status_code == 202
    return resp.json()["processed"]


def test_events_are_folded_once_into_global_and_campus_boards(divan: Divan) -> None:
    assert _event(divan, 1, 5) == 1
    assert _event(divan, 2, 7, campus="north") == 1
    assert _event(divan, 1, 4) == 1
    top = divan.client.get("/leaderboard/daily", headers=divan.auth(1)).json()["top"]
    assert top == [{"user_id": 1, "points": 9}, {"user_id": 2, "points": 7}]
    north = divan.client.get("/leaderboard/daily", params={"campus_id": "north"}, headers=divan.auth(1)).json()
    assert north["top"] == [{"user_id": 2, "points": 7}]
    assert divan.cap.total("divan_lb_events_processed_total", stream="social") == 3


def test_rollover_snapshots_every_board_and_resets_daily(divan: Divan) -> None:
    _event(divan, 1, 5)
    _event(divan, 2, 3, stream="activity")
    reply = divan.client.post("/ops/rollover", headers=divan.admin)
    campuses = len(divan.state.settings.DIVAN_CAMPUSES)
    assert reply.json() == {"status": "ok", "ran": {"lb_snapshot": {"daily": campuses + 1, "weekly": campuses + 1}}}
    with divan.state.engine.connect() as conn:
        rows = conn.execute(select(lb_snapshots).where(lb_snapshots.c.scope == "global")).all()
    assert {r.period: json.loads(r.entries) for r in rows}["daily"] == [
        {"user_id": 1, "points": 5}, {"user_id": 2, "points": 3}]
    assert divan.client.get("/leaderboard/daily", headers=divan.auth(1)).json()["top"] == []
    assert divan.client.get("/leaderboard/weekly", headers=divan.auth(1)).json()["top"] != []
    assert divan.cap.total("divan_lb_snapshots_total", period="daily", scope="global") == 1
    assert divan.cap.total("divan_lb_snapshots_total", period="weekly", scope="campus") == campuses
    assert divan.cap.total("divan_jobs_runs_total", name="lb_snapshot", result="ok") == 1


def test_rollover_is_admin_only(divan: Divan) -> None:
    assert divan.client.post("/ops/rollover", headers=divan.auth(1)).status_code == 403
    assert divan.client.post("/ops/rollover").status_code == 401
