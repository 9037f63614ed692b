"""The session-health HTTP API (README, HTTP API), served by aiohttp on its own port in the event loop
of the processors server.

Fleet endpoints (``/session/...``) answer from the last evaluation, rendered
once per evaluation, so they cost the same with ten sessions or a thousand.
Per-session endpoints (``/sessions/{id}/...``) evaluate that session now.
Everything but the fleet health needs ``Authorization: Bearer <token>``:
per-session health too, since its 404 or 200 would tell anyone whether a
session id exists.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from processors.session_health import exposition, views
from processors.session_health.rollup import SessionRollup, SessionView, Snapshot
from processors.session_health.store import StoreError
from processors.session_health.thresholds import CRITICAL

log = logging.getLogger("otelproc.session_health.api")

PUBLIC_ROUTES = frozenset({"fleet_health"})
UNAUTHORIZED = "missing or invalid admin token"
UNKNOWN_SESSION = "unknown session"
STORE_UNAVAILABLE = "session store unavailable"
# A fleet exposition this large takes long enough to render (about 0.1 s per 1,000 sessions) to be
# written on a worker thread: the event loop keeps serving exports and health checks meanwhile.
RENDER_OFF_LOOP_SESSIONS = 500

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":")).encode(), status=status,
                        content_type="application/json")


def _health_status(level: str) -> int:
    # 200 for ok and warning (still serving), 503 for critical: what load balancers act on.
    return 503 if level == CRITICAL else 200


class SessionHealthApi:
    def __init__(self, rollup: SessionRollup, *, host: str, port: int, token: str | None,
                 max_snapshot_age_s: float) -> None:
        self.rollup = rollup
        self.host, self.port = host, port
        self._token = token.encode() if token else None
        self._max_snapshot_age_s = max_snapshot_age_s
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        r = app.router
        r.add_get("/session/health", self.fleet_health, name="fleet_health")
        r.add_get("/session/observe", self.fleet_observe, name="fleet_observe")
        r.add_get("/session/alerts", self.fleet_alerts, name="fleet_alerts")
        r.add_get("/session/metrics", self.fleet_metrics, name="fleet_metrics")
        r.add_get("/sessions", self.session_list, name="session_list")
        r.add_get("/sessions/{id}/health", self.session_health, name="session_health")
        r.add_get("/sessions/{id}/observe", self.session_observe, name="session_observe")
        r.add_get("/sessions/{id}/alerts", self.session_alerts, name="session_alerts")
        r.add_get("/sessions/{id}/metrics", self.session_metrics, name="session_metrics")
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        log.info("session-health API on http://%s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- guard -------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name
        if self._token is not None and route not in PUBLIC_ROUTES and not self._authorized(request):
            resp = _json({"error": UNAUTHORIZED}, status=401)
            resp.headers["WWW-Authenticate"] = 'Bearer realm="session-health"'
            return resp
        return await handler(request)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        # aiohttp decodes header bytes as UTF-8 with surrogateescape: this gives back the bytes sent, so any
        # byte sequence is compared (in constant time) instead of raising.
        try:
            sent = given.strip().encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return False
        return hmac.compare_digest(sent, self._token or b"")

    # --- fleet -------------------------------------------------------------

    async def _snapshot(self) -> Snapshot:
        snap = self.rollup.snapshot
        # The connector's clock task keeps it fresh; evaluate here only if that task is not running.
        if self.rollup.clock() - snap.at > self._max_snapshot_age_s:
            try:
                snap = await self.rollup.evaluate()
            except (StoreError, OSError) as exc:
                log.warning("session-health API: serving the last fleet view, store unavailable: %s", exc)
        return snap

    def _cached(self, snap: Snapshot, key: str, build: Callable[[], Any]) -> Any:
        if key not in snap.cache:
            snap.cache[key] = build()
        return snap.cache[key]

    async def fleet_health(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        snap = await self._snapshot()
        cfg, started = self.rollup.config, self.rollup.started_at
        body = dict(self._cached(snap, "health", lambda: views.fleet_health(snap, cfg, started)))
        body["_responseTime"] = views.response_time(t0)
        return _json(body, status=_health_status(body["status"]))

    async def fleet_observe(self, request: web.Request) -> web.Response:
        snap = await self._snapshot()
        cfg, started = self.rollup.config, self.rollup.started_at
        raw = self._cached(snap, "observe", lambda: json.dumps(
            views.fleet_observe(snap, cfg, started), separators=(",", ":")).encode())
        return web.Response(body=raw, content_type="application/json")

    async def fleet_alerts(self, request: web.Request) -> web.Response:
        snap = await self._snapshot()
        raw = self._cached(snap, "alerts", lambda: json.dumps(views.fleet_alerts(snap), separators=(",", ":")).encode())
        return web.Response(body=raw, content_type="application/json")

    async def fleet_metrics(self, request: web.Request) -> web.Response:
        snap = await self._snapshot()
        raw = snap.cache.get("metrics")
        if raw is None:
            items = sorted(snap.views.items())  # on the loop: the leader prunes the snapshot's views there
            if len(items) < RENDER_OFF_LOOP_SESSIONS:
                raw = exposition.render(items, with_ids=True)
            else:
                raw = await asyncio.to_thread(exposition.render, items, with_ids=True)
            snap.cache["metrics"] = raw
        return web.Response(body=raw, headers={"Content-Type": exposition.CONTENT_TYPE})

    async def session_list(self, request: web.Request) -> web.Response:
        snap = await self._snapshot()
        return _json(self._cached(snap, "list", lambda: views.session_list(snap)))

    # --- one session -------------------------------------------------------

    async def _view(self, request: web.Request) -> SessionView | web.Response:
        sid = request.match_info["id"]
        try:
            view = await self.rollup.session(sid)
        except (StoreError, OSError) as exc:
            log.warning("session-health API: store unavailable: %s", exc)
            return _json({"error": STORE_UNAVAILABLE}, status=503)
        return _json({"error": UNKNOWN_SESSION, "sessionId": sid}, status=404) if view is None else view

    async def session_health(self, request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        view = await self._view(request)
        if isinstance(view, web.Response):
            return view
        body = views.session_health(view, self.rollup.config)
        body["_responseTime"] = views.response_time(t0)
        return _json(body, status=_health_status(view.level))

    async def session_observe(self, request: web.Request) -> web.Response:
        view = await self._view(request)
        return view if isinstance(view, web.Response) else _json(views.session_observe(view, self.rollup.config))

    async def session_alerts(self, request: web.Request) -> web.Response:
        view = await self._view(request)
        return view if isinstance(view, web.Response) else _json(views.session_alerts(view))

    async def session_metrics(self, request: web.Request) -> web.Response:
        view = await self._view(request)
        if isinstance(view, web.Response):
            return view
        raw = exposition.render([(view.state.session_id, view)], with_ids=False)
        return web.Response(body=raw, headers={"Content-Type": exposition.CONTENT_TYPE})
