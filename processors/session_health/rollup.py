"""The rollup: session events in, per-session evaluations and a fleet
snapshot out. No sockets here; the connector drives it on a clock.

Evaluating a thousand sessions takes a few milliseconds of CPU on the event
loop that also serves the API, so it yields between chunks of sessions.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from processors.session_health import events as ev
from processors.session_health import thresholds as th
from processors.session_health.config import SessionHealthConfig
from processors.session_health.state import SessionState
from processors.session_health.store import Folded, Store

Clock = Callable[[], float]
"""Seconds since the epoch. Tests inject a fake one."""

_EVALUATE_CHUNK = 50  # sessions evaluated between two yields to the event loop
_FOLD_CHUNK = 2000  # events folded between two yields (about 2 ms of work in memory)


@dataclass(slots=True)
class SessionView:
    """One session as evaluated at ``at``."""

    state: SessionState
    alerts: list[th.Alert]
    level: str
    at: float


@dataclass
class Snapshot:
    """The whole fleet as evaluated at ``at``; the fleet endpoints serve from it."""

    at: float
    views: dict[str, SessionView] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)  # rendered bodies, filled by the API on first use

    @property
    def level(self) -> str:
        return th.worst([v.level for v in self.views.values()])


def view_of(state: SessionState, now: float, config: SessionHealthConfig) -> SessionView:
    alerts = th.evaluate(state, now, config)
    return SessionView(state, alerts, th.level_of(alerts), now)


class SessionRollup:
    def __init__(self, config: SessionHealthConfig, store: Store, clock: Clock = time.time) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.started_at = clock()
        self.snapshot = Snapshot(self.started_at)
        self._folding = asyncio.Lock()  # one batch at a time, as they arrived, though each yields between chunks

    def parse(self, request: Any) -> tuple[list[ev.SessionEvent], Counter[str]]:
        """The session events of an ExportLogsServiceRequest, and rejections by reason."""
        return ev.parse_logs(request, self.clock(), max_session_id_bytes=self.config.max_session_id_bytes,
                             max_tenant_id_bytes=self.config.max_tenant_id_bytes)

    async def fold(self, events: list[ev.SessionEvent]) -> Folded:
        """Fold events into the store in timestamp order; returns the ignored ones by reason and evictions.

        Store errors propagate: the caller decides how to count them.
        """
        events.sort(key=lambda e: e.ts)  # stable: equal timestamps keep their arrival order
        if not events:
            return Folded()
        # In order, a chunk at a time, yielding between chunks: a huge batch must not hold the event loop.
        total = Folded()
        async with self._folding:
            for start in range(0, len(events), _FOLD_CHUNK):
                if start:
                    await asyncio.sleep(0)
                part = await self.store.apply(events[start:start + _FOLD_CHUNK])
                total.ignored.update(part.ignored)
                total.evicted += part.evicted
        return total

    async def session(self, session_id: str) -> SessionView | None:
        """One session, evaluated now (not from the snapshot)."""
        state = await self.store.get(session_id)
        return None if state is None else view_of(state, self.clock(), self.config)

    async def evaluate(self) -> Snapshot:
        """Evaluate every session at the current time and publish the snapshot."""
        states = await self.store.all()
        now = self.clock()
        snap = Snapshot(now)
        for i, state in enumerate(states):
            if i and i % _EVALUATE_CHUNK == 0:
                await asyncio.sleep(0)
            snap.views[state.session_id] = view_of(state, now, self.config)
        self.snapshot = snap
        return snap

    def expired(self, snapshot: Snapshot) -> list[str]:
        """Sessions not heard from for longer than session_ttl_h."""
        cutoff = snapshot.at - self.config.session_ttl_h * 3600
        return [sid for sid, v in snapshot.views.items() if v.state.last_event_at < cutoff]
