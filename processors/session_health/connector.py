"""The ``session_health`` connector: the exporter of a logs pipeline and the
receiver of a metrics (and optionally a logs) pipeline.

``export`` only folds events into the store and never raises: bad records are
counted by reason, and a record sent again (a retry after the next hop failed)
is recognised by its identity and not folded twice (state.py). A task started
in ``start`` evaluates the fleet on a clock (heartbeat age grows with no event at all), announces level changes as log
records and pushes metrics into the attached pipelines. With a shared Redis
store, only the replica holding the lease announces and emits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections import Counter, deque

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter

from processors.api import Connector, Consumer, CreateSettings, MalformedPayload, Payload, Signal, count_items
from processors.config import ConfigError
from processors.session_health import emit
from processors.session_health import events as ev
from processors.session_health.config import SessionHealthConfig
from processors.session_health.http_api import SessionHealthApi
from processors.session_health.rollup import Clock, SessionRollup, Snapshot
from processors.session_health.store import Store, StoreError, open_store

IGNORED_EVENTS = "otelproc_session_health_ignored_events"
APPLIED_EVENTS = "otelproc_session_health_applied_events"
EMIT_FAILURES = "otelproc_session_health_emit_failures"
TRANSITIONS = "otelproc_session_health_alert_transitions"
EVICTED_SESSIONS = "otelproc_session_health_evicted_sessions"
_EVICTION_LOG_INTERVAL_S = 60.0


# Picking the session events out of this many log records takes long enough (about 1.5 µs a record)
# to be done on a worker thread, so that the event loop keeps serving meanwhile.
PARSE_OFF_LOOP_RECORDS = 5000


class _Metrics:
    """Self-metrics, registered once per server (several connectors may share them)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ignored = PromCounter(IGNORED_EVENTS, "Session events ignored, by reason",
                                   ["component", "reason"], registry=registry)
        self.applied = PromCounter(APPLIED_EVENTS, "Session events folded into session state",
                                   ["component"], registry=registry)
        self.emit_failures = PromCounter(EMIT_FAILURES, "Emitted payloads the next pipeline refused",
                                         ["component", "signal"], registry=registry)
        self.transitions = PromCounter(TRANSITIONS, "Alert level changes announced",
                                       ["component", "level"], registry=registry)
        self.evicted = PromCounter(EVICTED_SESSIONS, "Sessions dropped before their TTL, by reason",
                                   ["component", "reason"], registry=registry)


def _admin_token(config: SessionHealthConfig) -> str | None:
    token = os.environ.get(config.api.admin_token_env, "").strip() or None
    if config.api.enabled and not config.api.public and token is None:
        # Fails closed: an API without a token would expose every session to anyone on the network.
        raise ConfigError(
            "api.admin_token_env",
            f"environment variable {config.api.admin_token_env} is unset or empty; set it, "
            "or set api.public: true to serve the API without a token",
        )
    return token


class SessionHealthConnector(Connector):
    def __init__(self, config: SessionHealthConfig, settings: CreateSettings, *, store: Store | None = None,
                 admin_token: str | None = None, clock: Clock = time.time) -> None:
        """``store`` defaults to the one ``config.store`` names, ``admin_token`` to the value of the
        environment variable ``config.api.admin_token_env``."""
        if admin_token is None:
            admin_token = _admin_token(config)
        if store is None:
            store = open_store(config.store, config.store_key_prefix, config.max_sessions)
        self.config = config
        self.settings = settings
        self.id = settings.component_id
        self.log = settings.logger
        self.rollup = SessionRollup(config, store, clock)
        self.replica_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._consumers: dict[Signal, Consumer] = {}
        self._metrics = settings.telemetry.shared(_Metrics)
        self._task: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        # (due time on the monotonic clock, events) in arrival order: the reorder window.
        self._pending: deque[tuple[float, list[ev.SessionEvent]]] = deque()
        self._evictions_logged_at = -_EVICTION_LOG_INTERVAL_S
        self.api: SessionHealthApi | None = None
        if config.api.enabled:
            self.api = SessionHealthApi(
                self.rollup, host=config.api.host, port=config.api.port,
                token=None if config.api.public else admin_token,
                max_snapshot_age_s=2 * config.evaluation_interval_s,
            )

    @property
    def store(self) -> Store:
        return self.rollup.store

    def attach(self, signal: Signal, consumer: Consumer) -> None:
        self._consumers[signal] = consumer

    # --- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        await self.store.start()
        if self.api is not None:
            await self.api.start()
        self._task = asyncio.create_task(self._run(), name=f"{self.id}-evaluate")
        if self.config.reorder_window_s:
            self._flusher = asyncio.create_task(self._flush_loop(), name=f"{self.id}-fold")

    async def shutdown(self) -> None:
        for task in (self._task, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._flusher = None
        await self.flush(everything=True)
        if self.api is not None:
            await self.api.stop()
        with contextlib.suppress(StoreError, OSError):
            await self.store.resign(self.replica_id)
        await self.store.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.config.evaluation_interval_s)
            try:
                await self.evaluate_now()
            except asyncio.CancelledError:
                raise
            except (StoreError, OSError) as exc:
                self.log.warning("%s: evaluation skipped, store unavailable: %s", self.id, exc)
            except Exception:
                self.log.exception("%s: evaluation failed", self.id)

    # --- logs in -------------------------------------------------------------

    async def export(self, payload: Payload) -> None:
        try:
            request = payload.message
        except MalformedPayload as exc:
            self._ignore(Counter({ev.MALFORMED_PAYLOAD: 1}))
            self.log.debug("%s: %s", self.id, exc)
            return
        if count_items(Signal.LOGS, request) < PARSE_OFF_LOOP_RECORDS:
            events, rejected = self.rollup.parse(request)
        else:  # the records are read, never changed, so another exporter may read them meanwhile
            events, rejected = await asyncio.to_thread(self.rollup.parse, request)
        if rejected:
            self._ignore(rejected)
        if not events:
            return
        if self.config.reorder_window_s == 0:
            await self._fold(events)
        else:
            self._pending.append((time.monotonic() + self.config.reorder_window_s, events))

    async def _fold(self, events: list[ev.SessionEvent]) -> None:
        try:
            folded = await self.rollup.fold(events)
        except (StoreError, OSError) as exc:
            # The logs still flow through the other exporters; only the session view misses them.
            self._ignore(Counter({ev.STORE_UNAVAILABLE: len(events)}))
            self.log.warning("%s: %d session events not folded, store unavailable: %s", self.id, len(events), exc)
            return
        applied = len(events) - folded.ignored.total()
        if applied:
            self._metrics.applied.labels(self.id).inc(applied)
        if folded.ignored:
            self._ignore(folded.ignored)
        if folded.evicted:
            self._metrics.evicted.labels(self.id, "max_sessions").inc(folded.evicted)
            now = time.monotonic()
            if now - self._evictions_logged_at >= _EVICTION_LOG_INTERVAL_S:  # a flood of ids must not flood the log
                self._evictions_logged_at = now
                self.log.warning("%s: sessions evicted, over max_sessions (%d); see %s_total", self.id,
                                 self.config.max_sessions, EVICTED_SESSIONS)

    async def flush(self, *, everything: bool = False) -> None:
        """Fold the events whose reorder window has passed (all of them on shutdown)."""
        now = time.monotonic()
        due: list[ev.SessionEvent] = []
        # Batches are queued in arrival order, so their due times only grow.
        while self._pending and (everything or self._pending[0][0] <= now):
            due.extend(self._pending.popleft()[1])
        if due:
            await self._fold(due)

    async def _flush_loop(self) -> None:
        pause = max(0.01, self.config.reorder_window_s / 4)
        while True:
            await asyncio.sleep(pause)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("%s: folding session events failed", self.id)

    def _ignore(self, ignored: Counter[str]) -> None:
        for reason, n in ignored.items():
            self._metrics.ignored.labels(self.id, reason).inc(n)
        self.log.debug("%s: ignored session events %s", self.id, dict(ignored))

    # --- on the clock ----------------------------------------------------------

    async def evaluate_now(self) -> Snapshot:
        """One tick: evaluate, and (as the leader) forget expired sessions, announce and emit."""
        snap = await self.rollup.evaluate()
        lease_s = max(3 * self.config.evaluation_interval_s, 2.0)
        if not await self.store.lead(self.replica_id, lease_s):
            return snap
        expired = self.rollup.expired(snap)
        if expired:
            await self.store.forget(expired)
            for sid in expired:
                del snap.views[sid]
        changed = await self.store.swap_levels({sid: v.level for sid, v in snap.views.items()})
        for sid in changed:
            self._metrics.transitions.labels(self.id, snap.views[sid].level).inc()
        if changed and Signal.LOGS in self._consumers:
            await self._push(Signal.LOGS, emit.transitions_request(snap, changed, self.id))
        if Signal.METRICS in self._consumers:
            async for request in emit.metrics_requests(snap, self.id):
                await self._push(Signal.METRICS, request)
        return snap

    async def _push(self, signal: Signal, request: object) -> None:
        try:
            await self._consumers[signal](Payload(signal, message=request))
        except Exception as exc:  # noqa: BLE001 - the next tick emits a fresh view anyway
            self._metrics.emit_failures.labels(self.id, signal.value).inc()
            self.log.warning("%s: emitted %s not accepted: %s", self.id, signal.value, exc)
