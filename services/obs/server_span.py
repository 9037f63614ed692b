"""The lean mode's server span, as opentelemetry-instrumentation-fastapi makes it.

The request attributes come from the ASGI instrumentation's own
``collect_request_attributes`` under the HTTP conventions that
``OTEL_SEMCONV_STABILITY_OPT_IN`` selects, so the two modes cannot drift
apart; what the lean mode saves is everything around it (a second route
match, per-message spans, the SDK's span object). The name and ``http.route``
follow the FastAPI instrumentation: ``{method} {route}``, ``HTTP {route}`` for
a method outside the known set (``http.request.method`` ``_OTHER``), and the
method alone when no route matched; the route of a mounted app carries the
mount's prefix. The status code, ERROR at 5xx and ``error.type`` follow the
ASGI instrumentation's ``_set_status``.

``RequestAttributes`` gives what ``collect_request_attributes`` gives without
doing all of its work per request: the part that depends on the server, the
scheme, the protocol version and the ``Host`` and ``User-Agent`` headers (the
same from one request to the next on a connection) is made by the upstream
function once per distinct combination and cached; the path, query, full URL,
method and client parts are added per request as upstream adds them.
tests/services/obs/test_request_attributes.py holds it to the upstream
function on generated scopes under every convention choice.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any
from urllib.parse import unquote

from opentelemetry.instrumentation.asgi import (
    collect_request_attributes,
    get_host_port_url_tuple,
)
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.http import redact_url, sanitize_method

from services.obs.upstream_internals import (
    StabilityMode,
    semconv_modes,
    semconv_schema_url,
    set_http_method,
)

_ABSENT = object()
# The connection-level combinations kept (server, scheme, version, Host, User-Agent); past it, cleared.
_ORIGINS = 256
_CAPTURE_ALL_METHODS = "OTEL_PYTHON_INSTRUMENTATION_HTTP_CAPTURE_ALL_METHODS"


def _int_attribute(result: dict[str, Any], key: str, value: Any) -> None:
    # As the upstream helper: set when truthy and int() takes it.
    if value:
        with contextlib.suppress(ValueError, TypeError):
            result[key] = int(value)


def _reports_old(mode: Any) -> bool:
    return mode in (StabilityMode.DEFAULT, StabilityMode.HTTP_DUP)


def _reports_new(mode: Any) -> bool:
    return mode in (StabilityMode.HTTP, StabilityMode.HTTP_DUP)


class ServerSpanRules:
    """Attributes, name and status of a server span under one HTTP convention choice."""

    def __init__(self, http_mode: Any = None) -> None:
        self.mode = http_mode if http_mode is not None else semconv_modes()[0]
        self.old, self.new = _reports_old(self.mode), _reports_new(self.mode)
        self.schema_url = semconv_schema_url(self.mode)
        self.request_attributes = RequestAttributes(self.mode)

    @staticmethod
    def route(scope: dict[str, Any], root_path: str) -> str | None:
        """The matched route's template, with the prefix of any app it is mounted in; None when none matched."""
        matched = scope.get("route")
        path = getattr(matched, "path", None)
        if path is None:
            return None
        prefix = scope.get("root_path", "")
        if root_path and prefix.startswith(root_path):
            prefix = prefix[len(root_path):]
        return prefix + path

    @staticmethod
    def name(method: str, route: str | None) -> str:
        shown = sanitize_method(method.strip())
        if shown == "_OTHER":
            shown = "HTTP"
        if route:
            return f"{shown} {route}"
        return shown

    def end(self, span: Any, status: int | None, route: str | None, method: str) -> None:
        span.update_name(self.name(method, route))
        if route:
            span.set_attribute("http.route", route)
        if status is None:
            return
        if self.old:
            span.set_attribute("http.status_code", status)
        if self.new:
            span.set_attribute("http.response.status_code", status)
        if status >= 500 or status < 100:
            if self.new:
                span.set_attribute("error.type", str(status))
            span.set_status(Status(StatusCode.ERROR))


class RequestAttributes:
    """``collect_request_attributes(scope, mode)`` as a new dict, its connection-level part cached."""

    def __init__(self, mode: Any) -> None:
        self.mode = mode
        self.old, self.new = _reports_old(mode), _reports_new(mode)
        self._origins: dict[tuple[Any, ...], tuple[dict[str, Any], str]] = {}
        self._methods: dict[tuple[Any, Any], dict[str, Any]] = {}

    def __call__(self, scope: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._collect(scope)
        except (TypeError, AttributeError, ValueError):
            # A scope outside what the fast path expects (str headers, a list-less server...): upstream
            # decides, including what it raises.
            return collect_request_attributes(scope, self.mode)

    def _collect(self, scope: dict[str, Any]) -> dict[str, Any]:
        hosts: list[bytes] = []
        agent: bytes | None = None
        for name, value in scope.get("headers") or ():
            if name.__class__ is not bytes or value.__class__ is not bytes:
                raise TypeError("not ASGI bytes headers")
            size = len(name)
            # Upstream compares lowercased names; "host" and "user-agent" only meet ASCII letters.
            if size == 4 and name.lower() == b"host":
                hosts.append(value)
            elif size == 10 and agent is None and name.lower() == b"user-agent":
                agent = value
        server = scope.get("server", _ABSENT)
        key = (scope.get("scheme", _ABSENT), tuple(server) if isinstance(server, list) else server,
               scope.get("http_version", _ABSENT), tuple(hosts), agent)
        found = self._origins.get(key)
        if found is None:
            found = self._origin(scope, hosts, agent)
            if len(self._origins) >= _ORIGINS:
                self._origins.clear()
            self._origins[key] = found
        origin, prefix = found
        result = dict(origin)
        path = scope.get("path")
        query = scope.get("query_string")
        url = prefix + scope.get("path", "")
        if query:
            if isinstance(query, bytes):
                query = query.decode("utf8")
            url += "?" + unquote(query)
        if path:
            if self.old:
                result["http.target"] = path
            if self.new:
                result["url.path"] = path
                if query:
                    result["url.query"] = query
        if self.old:
            # redact_url changes only a URL with userinfo ("@") or a query ("?").
            result["http.url"] = redact_url(url) if "@" in url or "?" in url else url
        method = scope.get("method", "")
        if method:
            result.update(self._method(method))
        client = scope.get("client")
        if client is not None:
            ip, port = client[0], client[1]
            if self.old:
                if ip:
                    result["net.peer.ip"] = ip
                _int_attribute(result, "net.peer.port", port)
            if self.new:
                if ip and not result.get("client.address"):
                    result["client.address"] = ip
                _int_attribute(result, "client.port", port)
        return result

    def _origin(self, scope: dict[str, Any], hosts: list[bytes], agent: bytes | None) -> tuple[dict[str, Any], str]:
        """The upstream function on this request's connection-level fields alone, and its URL up to the path."""
        alone: dict[str, Any] = {k: scope[k] for k in ("scheme", "server", "http_version") if k in scope}
        alone["headers"] = [(b"host", h) for h in hosts] + ([(b"user-agent", agent)] if agent is not None else [])
        attributes = collect_request_attributes(alone, self.mode)
        attributes.pop("http.url", None)  # made per request, with the path
        return attributes, get_host_port_url_tuple(alone)[2]

    def _method(self, method: str) -> dict[str, Any]:
        # Read per request, as sanitize_method reads it.
        key = (method, os.environ.get(_CAPTURE_ALL_METHODS))
        found = self._methods.get(key)
        if found is None:
            found = {}
            set_http_method(found, method, sanitize_method(method), self.mode)
            if len(self._methods) < _ORIGINS:
                self._methods[key] = found
        return found
