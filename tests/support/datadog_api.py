"""A local stand-in for Datadog's v1 monitor API: a stand-in because the SaaS
is out of reach from the tests.

It follows the recorded contract of the calls ``backends.datadog.monitors``
makes: ``GET /api/v1/monitor`` (with ``monitor_tags``), ``POST
/api/v1/monitor`` and ``PUT /api/v1/monitor/{id}``, with the
``DD-API-KEY``/``DD-APPLICATION-KEY`` headers (403 ``{"errors": ["Forbidden"]}``
otherwise), 400 ``{"errors": [...]}`` for a body without name, type or query,
and monitors answered as the API does, with ``id``, ``created``, ``modified``,
``overall_state`` and the options Datadog fills in. Tags are lowercased, as
Datadog stores them. It serves on a free loopback port in a thread.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Options the real API adds to every monitor it stores.
FILLED_IN_OPTIONS = {"notify_audit": False, "silenced": {}, "new_host_delay": 300, "locked": False}


class MonitorApi:
    def __init__(self, api_key: str, app_key: str) -> None:
        self.api_key, self.app_key = api_key, app_key
        self.monitors: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.seen_headers: list[dict[str, str]] = []
        self._next_id = 1000
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        with self._lock:
            self.calls.append((method, path))
            self.seen_headers.append(headers)
            if headers.get("dd-api-key") != self.api_key or headers.get("dd-application-key") != self.app_key:
                return 403, {"errors": ["Forbidden"]}
            url = urllib.parse.urlsplit(path)
            parts = url.path.rstrip("/").split("/")
            if parts[:4] != ["", "api", "v1", "monitor"]:
                return 404, {"errors": ["Not Found"]}
            if method == "GET" and len(parts) == 4:
                wanted = urllib.parse.parse_qs(url.query).get("monitor_tags", [""])[0]
                tags = {t.lower() for t in wanted.split(",") if t}
                return 200, [copy.deepcopy(m) for m in self.monitors.values() if tags <= set(m["tags"])]
            if method in ("POST", "PUT"):
                try:
                    payload = json.loads(body)
                except json.JSONDecodeError:
                    return 400, {"errors": ["Invalid JSON"]}
                missing = [k for k in ("type", "query") if k not in payload]
                if missing or (method == "POST" and "name" not in payload):
                    return 400, {"errors": [f"Missing required field(s): {', '.join(missing or ['name'])}"]}
                now = datetime.now(UTC).isoformat()
                if method == "POST" and len(parts) == 4:
                    self._next_id += 1
                    stored = self._store(payload, {"id": self._next_id, "created": now, "overall_state": "No Data"})
                    return 200, stored
                if method == "PUT" and len(parts) == 5 and parts[4].isdigit() and int(parts[4]) in self.monitors:
                    old = self.monitors[int(parts[4])]
                    stored = self._store(payload, {k: old[k] for k in ("id", "created", "overall_state")})
                    return 200, stored
                return 404, {"errors": ["Monitor not found"]}
            return 405, {"errors": ["Method Not Allowed"]}

    def _store(self, payload: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
        monitor = copy.deepcopy(payload)
        monitor["tags"] = [t.lower() for t in monitor.get("tags", [])]
        monitor["options"] = {**FILLED_IN_OPTIONS, **monitor.get("options", {})}
        monitor.update(meta, modified=datetime.now(UTC).isoformat())
        self.monitors[monitor["id"]] = monitor
        return copy.deepcopy(monitor)


@contextlib.contextmanager
def monitor_api(api_key: str, app_key: str) -> Iterator[tuple[MonitorApi, str]]:
    """The stand-in serving on 127.0.0.1; yields it and its base URL."""
    api = MonitorApi(api_key, app_key)

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, answer = api.handle(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                        self.rfile.read(length))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - the names http.server dispatches to

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
