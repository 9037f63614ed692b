"""Where session state lives: in this process (``memory``) or in Redis, so
that several replicas fold into, and serve, one fleet view.

Redis layout (every key under one hash tag, so scripts work on a cluster too):

- ``{prefix}:state``  hash session id -> JSON of SessionState
- ``{prefix}:ver``    hash session id -> version, bumped on every write
- ``{prefix}:level``  hash session id -> last alert level announced
- ``{prefix}:leader`` the replica that evaluates and emits, with a lease
- ``{prefix}:seen``   sorted set session id -> ``{prefix}:seq`` at its last write:
  which session was heard from least recently, evicted past ``max_sessions``

Writes are optimistic: a replica reads states and versions, folds its events
in Python, and a script writes back only the sessions whose version did not
move meanwhile. The others are read again and folded again. A session none
of whose events applied (repeats, out of order) is not written at all.

Both stores keep at most ``max_sessions`` sessions: a new one past that evicts
the session written least recently.
"""

from __future__ import annotations

import abc
import asyncio
import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from redis.exceptions import RedisError as StoreError  # noqa: F401 - what a failing store raises

from processors.session_health import events as ev
from processors.session_health.state import SessionState, apply

_YIELD_EVERY = 200  # events folded between two yields to the event loop (keeps API latency low)
_CAS_ATTEMPTS = 10
_BACKOFF_S = 0.002


@dataclass(slots=True)
class Folded:
    """What one ``apply`` did besides folding."""

    ignored: Counter[str] = field(default_factory=Counter)  # events not folded, by reason
    evicted: int = 0  # sessions dropped to stay within max_sessions


class Store(abc.ABC):
    """Session states plus the little shared bookkeeping evaluation needs."""

    async def start(self) -> None:  # noqa: B027 - optional hook, a no-op for stores without one
        """Connect."""

    async def close(self) -> None:  # noqa: B027 - optional hook, a no-op for stores without one
        """Disconnect."""

    @abc.abstractmethod
    async def apply(self, events: list[ev.SessionEvent]) -> Folded:
        """Fold events (in order) into their sessions; returns ignored events by reason and evictions."""

    @abc.abstractmethod
    async def get(self, session_id: str) -> SessionState | None: ...

    @abc.abstractmethod
    async def all(self) -> list[SessionState]:
        """Every session. Callers read them and never write them back."""

    @abc.abstractmethod
    async def forget(self, session_ids: Iterable[str]) -> None: ...

    @abc.abstractmethod
    async def swap_levels(self, levels: dict[str, str]) -> dict[str, str]:
        """Record each session's current level; returns the previous level of those that changed
        (``ok`` for a session never recorded before)."""

    @abc.abstractmethod
    async def lead(self, replica_id: str, ttl_s: float) -> bool:
        """Take or renew the lease to evaluate and emit; True while this replica holds it."""

    async def resign(self, replica_id: str) -> None:  # noqa: B027 - optional hook, a no-op for stores without one
        """Give the lease up (on shutdown) so another replica takes over at once."""


def _diff_levels(previous: dict[str, str], levels: dict[str, str]) -> dict[str, str]:
    return {sid: previous.get(sid, "ok") for sid, level in levels.items() if previous.get(sid, "ok") != level}


class MemoryStore(Store):
    def __init__(self, max_sessions: int = ev.MAX_SESSIONS) -> None:
        # Insertion order is recency: a session is moved to the end when one of its events applies.
        self._sessions: dict[str, SessionState] = {}
        self._levels: dict[str, str] = {}
        self.max_sessions = max_sessions

    async def apply(self, events: list[ev.SessionEvent]) -> Folded:
        out = Folded()
        sessions = self._sessions
        for i, event in enumerate(events):
            if i and i % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            sid = event.session_id
            previous = sessions.get(sid)
            state, reason = apply(previous, event)
            if reason:
                out.ignored[reason] += 1
                continue
            if previous is not None:
                del sessions[sid]
            sessions[sid] = state
            if previous is None and len(sessions) > self.max_sessions:
                stalest = next(iter(sessions))
                del sessions[stalest]
                self._levels.pop(stalest, None)
                out.evicted += 1
        return out

    async def get(self, session_id: str) -> SessionState | None:
        return self._sessions.get(session_id)

    async def all(self) -> list[SessionState]:
        return list(self._sessions.values())

    async def forget(self, session_ids: Iterable[str]) -> None:
        for sid in session_ids:
            self._sessions.pop(sid, None)
            self._levels.pop(sid, None)

    async def swap_levels(self, levels: dict[str, str]) -> dict[str, str]:
        changed = _diff_levels(self._levels, levels)
        for sid in changed:
            if sid in self._sessions:  # not one evicted since the evaluation: its level would stay behind
                self._levels[sid] = levels[sid]
        return changed

    async def lead(self, replica_id: str, ttl_s: float) -> bool:
        return True


# Write each (session, expected version, JSON) triple whose version is unchanged and mark it the most
# recently written; then evict the least recently written past ARGV[1] sessions.
# Returns {sessions that conflicted, number evicted}.
_CAS_SCRIPT = """
local conflicts = {}
for i = 2, #ARGV, 3 do
  local sid = ARGV[i]
  local cur = redis.call('HGET', KEYS[2], sid)
  if not cur then cur = '0' end
  if cur == ARGV[i + 1] then
    redis.call('HSET', KEYS[1], sid, ARGV[i + 2])
    redis.call('HINCRBY', KEYS[2], sid, 1)
    redis.call('ZADD', KEYS[3], redis.call('INCR', KEYS[4]), sid)
  else
    table.insert(conflicts, sid)
  end
end
local evicted = 0
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[1])
if over > 0 then
  local popped = redis.call('ZPOPMIN', KEYS[3], over)
  for j = 1, #popped, 2 do
    redis.call('HDEL', KEYS[1], popped[j])
    redis.call('HDEL', KEYS[2], popped[j])
    redis.call('HDEL', KEYS[5], popped[j])
    evicted = evicted + 1
  end
end
return {conflicts, evicted}
"""

# Record each (session, level) pair of a session that still exists (not evicted since the evaluation).
_LEVELS_SCRIPT = """
for i = 1, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 0
"""

_LEASE_SCRIPT = """
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RESIGN_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisStore(Store):
    def __init__(self, url: str, prefix: str, max_sessions: int = ev.MAX_SESSIONS) -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url)
        tag = "{" + prefix + "}"
        self.k_state, self.k_ver = f"{tag}:state", f"{tag}:ver"
        self.k_level, self.k_leader = f"{tag}:level", f"{tag}:leader"
        self.k_seen, self.k_seq = f"{tag}:seen", f"{tag}:seq"
        self.max_sessions = max_sessions
        self._cas = self._redis.register_script(_CAS_SCRIPT)
        self._lease = self._redis.register_script(_LEASE_SCRIPT)
        self._set_levels = self._redis.register_script(_LEVELS_SCRIPT)
        self._resign = self._redis.register_script(_RESIGN_SCRIPT)
        self._cache: dict[str, tuple[bytes, SessionState]] = {}  # decoded states by version, for all()

    async def start(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

    async def apply(self, events: list[ev.SessionEvent]) -> Folded:
        pending: dict[str, list[ev.SessionEvent]] = {}
        for event in events:
            pending.setdefault(event.session_id, []).append(event)
        out = Folded()
        for attempt in range(_CAS_ATTEMPTS):
            if attempt:
                # Jittered backoff: two replicas retrying in lockstep would otherwise keep colliding.
                await asyncio.sleep(random.uniform(0, _BACKOFF_S * attempt))
            pending = await self._fold_and_write(pending, out)
            if not pending:
                break
        for evs in pending.values():
            out.ignored[ev.STORE_CONFLICT] += len(evs)
        return out

    async def _fold_and_write(self, pending: dict[str, list[ev.SessionEvent]],
                              out: Folded) -> dict[str, list[ev.SessionEvent]]:
        sids = list(pending)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.k_state, sids)
            pipe.hmget(self.k_ver, sids)
            raw_states, versions = await pipe.execute()
        args: list[str | bytes | int] = [self.max_sessions]
        reasons: dict[str, Counter[str]] = {}
        for i, (sid, raw, ver) in enumerate(zip(sids, raw_states, versions, strict=True)):
            if i and i % _YIELD_EVERY == 0:
                await asyncio.sleep(0)
            state = SessionState.from_dict(json.loads(raw)) if raw else None
            mine: Counter[str] = Counter()
            for event in pending[sid]:
                state, reason = apply(state, event)
                if reason:
                    mine[reason] += 1
            if mine.total() == len(pending[sid]):
                # Nothing applied: repeats and late events stay ignored whatever another replica wrote since.
                out.ignored.update(mine)
                continue
            reasons[sid] = mine
            args += [sid, ver or b"0", json.dumps(state.to_dict(), separators=(",", ":"))]
        if not reasons:
            return {}
        raw_conflicts, evicted = await self._cas(
            keys=[self.k_state, self.k_ver, self.k_seen, self.k_seq, self.k_level], args=args)
        out.evicted += int(evicted)
        conflicts = {c.decode() for c in raw_conflicts}
        for sid in reasons:
            if sid not in conflicts:
                out.ignored.update(reasons[sid])
        return {sid: pending[sid] for sid in reasons if sid in conflicts}

    async def get(self, session_id: str) -> SessionState | None:
        raw = await self._redis.hget(self.k_state, session_id)
        return SessionState.from_dict(json.loads(raw)) if raw else None

    async def all(self) -> list[SessionState]:
        versions: dict[bytes, bytes] = await self._redis.hgetall(self.k_ver)
        stale = [sid for sid, ver in versions.items() if self._cache.get(sid.decode(), (None,))[0] != ver]
        if stale:
            raws = await self._redis.hmget(self.k_state, stale)
            for i, (sid, raw) in enumerate(zip(stale, raws, strict=True)):
                if i and i % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                if raw:
                    self._cache[sid.decode()] = (versions[sid], SessionState.from_dict(json.loads(raw)))
        live = {sid.decode() for sid in versions}
        for sid in [s for s in self._cache if s not in live]:
            del self._cache[sid]
        return [state for _, state in self._cache.values()]

    async def forget(self, session_ids: Iterable[str]) -> None:
        sids = list(session_ids)
        if not sids:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.k_state, *sids)
            pipe.hdel(self.k_ver, *sids)
            pipe.hdel(self.k_level, *sids)
            pipe.zrem(self.k_seen, *sids)
            await pipe.execute()

    async def swap_levels(self, levels: dict[str, str]) -> dict[str, str]:
        previous = {k.decode(): v.decode() for k, v in (await self._redis.hgetall(self.k_level)).items()}
        changed = _diff_levels(previous, levels)
        if changed:
            args = [x for sid in changed for x in (sid, levels[sid])]
            await self._set_levels(keys=[self.k_level, self.k_state], args=args)
        return changed

    async def lead(self, replica_id: str, ttl_s: float) -> bool:
        return bool(await self._lease(keys=[self.k_leader], args=[replica_id, int(ttl_s * 1000)]))

    async def resign(self, replica_id: str) -> None:
        await self._resign(keys=[self.k_leader], args=[replica_id])


def open_store(url: str, prefix: str, max_sessions: int = ev.MAX_SESSIONS) -> Store:
    return MemoryStore(max_sessions) if url == "memory" else RedisStore(url, prefix, max_sessions)
