"""Leaderboards: events on Redis streams, folded into sorted sets, snapshotted to SQL.

- ``append_event``: XADD to ``lb:events:<stream>``.
- ``process``: reads the stream past its cursor and adds points to the
  daily and weekly boards, global and per campus; counts
  ``divan_lb_events_processed_total{stream}``.
- ``snapshot`` (the ``lb_snapshot`` rollover job): writes each board's top
  entries to ``lb_snapshots`` and counts ``divan_lb_snapshots_total{period,scope}``;
  the daily boards then start again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import insert

from services.divan.deps import DivanState
from services.divan.models import lb_snapshots

Stream = Literal["activity", "social"]
Period = Literal["daily", "weekly"]
STREAMS: tuple[str, ...] = ("activity", "social")
PERIODS: tuple[str, ...] = ("daily", "weekly")
TOP_N = 10
_BATCH = 500
_STREAM_MAXLEN = 100_000


def _events_key(stream: str) -> str:
    return f"lb:events:{stream}"


def _board_key(period: str, campus_id: str | None) -> str:
    return f"lb:board:{period}:" + (f"campus:{campus_id}" if campus_id else "global")


def append_event(state: DivanState, stream: str, user_id: int, points: int, campus_id: str) -> str:
    return state.redis.xadd(_events_key(stream), {"user": user_id, "points": points, "campus": campus_id},
                            maxlen=_STREAM_MAXLEN, approximate=True)


def process(state: DivanState, stream: str) -> int:
    """Fold new events of ``stream`` into the boards; the number folded."""
    r = state.redis
    cursor_key = f"lb:cursor:{stream}"
    cursor = r.get(cursor_key) or "0-0"
    reply = r.xread({_events_key(stream): cursor}, count=_BATCH)
    entries = reply[0][1] if reply else []
    if not entries:
        return 0
    pipe = r.pipeline()
    for _, fields in entries:
        points, user = int(fields["points"]), fields["user"]
        for period in PERIODS:
            pipe.zincrby(_board_key(period, None), points, user)
            pipe.zincrby(_board_key(period, fields["campus"]), points, user)
    pipe.set(cursor_key, entries[-1][0])
    pipe.execute()
    state.metrics.lb_events_processed.add(len(entries), {"stream": stream})
    return len(entries)


def top(state: DivanState, period: str, campus_id: str | None = None) -> list[dict[str, object]]:
    rows = state.redis.zrevrange(_board_key(period, campus_id), 0, TOP_N - 1, withscores=True)
    return [{"user_id": int(user), "points": int(score)} for user, score in rows]


def snapshot(state: DivanState) -> dict[str, int]:
    """Snapshot every board, then reset the daily ones. Returns snapshots taken per period."""
    for stream in STREAMS:
        process(state, stream)
    now = datetime.now(UTC)
    taken = {period: 0 for period in PERIODS}
    with state.engine.begin() as conn:
        for period in PERIODS:
            for campus in (None, *state.settings.DIVAN_CAMPUSES):
                entries = top(state, period, campus)
                conn.execute(insert(lb_snapshots).values(
                    period=period, scope=f"campus:{campus}" if campus else "global", taken_at=now,
                    entries=json.dumps(entries),
                ))
                state.metrics.lb_snapshots.add(1, {"period": period, "scope": "campus" if campus else "global"})
                taken[period] += 1
    state.redis.delete(*(_board_key("daily", c) for c in (None, *state.settings.DIVAN_CAMPUSES)))
    return taken
