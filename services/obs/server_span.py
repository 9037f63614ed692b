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
"""

from __future__ import annotations

from typing import Any

from opentelemetry.instrumentation.asgi import collect_request_attributes
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.http import sanitize_method

from services.obs.upstream_internals import (
    StabilityMode,
    semconv_modes,
    semconv_schema_url,
)


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

    def request_attributes(self, scope: dict[str, Any]) -> dict[str, Any]:
        return collect_request_attributes(scope, self.mode)

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
