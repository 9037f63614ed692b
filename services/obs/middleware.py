"""Request middleware: server span (lean mode), request id, correlation headers, request metrics, access log.

One plain ASGI layer does all of it: it wraps ``send`` instead of buffering
the response (streaming stays intact). With ``OBS_INSTRUMENTATION=lean`` it
opens the request's server span itself (``server_span``: the attributes, name,
route and status the upstream FastAPI instrumentation gives, under the
conventions ``OTEL_SEMCONV_STABILITY_OPT_IN`` selects), and a WebSocket
connection's span, without the upstream middleware's second route match and
per-message spans. With the upstream instrumentation (the default) that
middleware makes the span; this layer then only adds ids, headers, metrics and
logs.

Metrics, the access log, the end of the span and the hand-over of the
request's child spans to the span processors (``lean_spans.SpanHandover``)
run after the response's last byte was handed to the server: with a core to
spare they cost CPU more than the caller's latency.
"""

from __future__ import annotations

import functools
import logging
import random
import re
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asgi import get_host_port_url_tuple
from opentelemetry.instrumentation.utils import is_http_instrumentation_enabled
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.util.http import parse_excluded_urls
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.obs import context
from services.obs.instrument import excluded_urls_from_env
from services.obs.lean_spans import SpanHandover
from services.obs.logging import InfoSampler
from services.obs.metrics import RequestMetrics
from services.obs.server_span import ServerSpanRules

# An incoming id is echoed only if it is short and plain; anything else is replaced, never logged.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
UNMATCHED_ROUTE = "unmatched"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            rid = value.decode("latin-1")
            return rid if _SAFE_REQUEST_ID.match(rid) else None
    return None


def traceparent(span: Any = None) -> str | None:
    """The W3C traceparent of ``span`` (default: the current span), or None outside a valid trace."""
    ctx = (span if span is not None else trace.get_current_span()).get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


class _AsgiHeaders(Getter[list]):
    """Reads the ASGI header list in place: a propagator asks for two or three names, so no dict is built."""

    def get(self, carrier: list, key: str) -> list[str] | None:
        name = key.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier if k == name]
        return values or None

    def keys(self, carrier: list) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier]


_ASGI_HEADERS = _AsgiHeaders()


_NO_PARENT = otel_context.Context()


def _parent_context(scope: Scope) -> otel_context.Context:
    """The caller's context from the request headers, through the configured propagators.

    Most requests carry none of the headers the propagators read (``traceparent``, ``baggage``...):
    those get an empty context without the propagators' walk through the headers.
    """
    headers = scope.get("headers") or []
    fields = _propagation_fields(propagate.get_global_textmap())
    for name, _ in headers:
        if name in fields:
            return propagate.extract(headers, getter=_ASGI_HEADERS)
    return _NO_PARENT


@functools.lru_cache(maxsize=8)
def _propagation_fields(propagator: Any) -> frozenset[bytes]:
    # Per propagator object: set_global_textmap after start-up is still honoured.
    return frozenset(f.lower().encode("latin-1") for f in propagator.fields)


def _route_path(scope: Scope) -> str:
    """The path the app routes on: ``path`` less the ``root_path`` it is mounted under."""
    path, root = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


class ObsMiddleware:
    """``endpoints``: an ASGI app with the obs endpoints, called instead of ``app`` when a request's path
    is one of its routes' (an exact match, so the app's own requests never meet those routes)."""

    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics, logger: logging.Logger,
                 tracer: Tracer | None = None, untraced_paths: frozenset[str] = frozenset(),
                 log_sampler: InfoSampler | None = None, endpoints: ASGIApp | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.logger = logger
        self.tracer = tracer
        self.untraced_paths = untraced_paths
        self.log_sampler = log_sampler
        self.endpoints = endpoints
        self.endpoint_paths = frozenset(
            getattr(route, "path", None) for route in getattr(endpoints, "routes", ())) - {None}
        self.rules = ServerSpanRules()
        self.excluded = parse_excluded_urls(excluded) if (excluded := excluded_urls_from_env()) else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket" and self.tracer is not None:
                await self._websocket(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        # 128 random bits, as uuid4 has. Not os.urandom: its syscall releases the GIL, and the export
        # threads then hold it for up to a switch interval (5 ms) before the request may go on.
        # An id is not a secret; trace ids come from the same generator.
        request_id = _incoming_request_id(scope) or f"{random.getrandbits(128):032x}"
        req = context.RequestContext(request_id, scope)
        token = context.CURRENT.set(req)
        span, span_token, upstream = None, None, None
        path = _route_path(scope)
        root_path = scope.get("root_path", "")
        if self.tracer is not None and self._traced(scope, path):
            req.spans = SpanHandover()
            attributes = self.rules.request_attributes(scope)
            attributes["http.request_id"] = request_id
            parent = _parent_context(scope)
            span = self.tracer.start_span(self.rules.name(method, None), context=parent, kind=SpanKind.SERVER,
                                          attributes=attributes)
            # On the caller's context, so that what else it propagated (baggage) reaches the handler too.
            span_token = otel_context.attach(trace.set_span_in_context(span, parent))
        else:
            current = trace.get_current_span()  # the upstream instrumentation's span, if it runs
            if current.is_recording():
                current.set_attribute("http.request_id", request_id)
                upstream = current
        start = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                req.status = message["status"]
                if upstream is not None and target is self.endpoints and req.route:
                    # The upstream instrumentation looks the template up among the app's routes, where
                    # the obs endpoints are not, and named the span after the method alone.
                    upstream.update_name(f"{method} {req.route}")
                    upstream.set_attribute("http.route", req.route)
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                tp = traceparent(span)
                if tp:
                    headers.append((b"traceparent", tp.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        target = self.endpoints if path in self.endpoint_paths else self.app
        try:
            await target(scope, receive, send_with_headers)
        except Exception as exc:
            req.status = 500
            if span is not None:
                span.record_exception(exc)
            raise
        finally:
            elapsed = time.perf_counter() - start
            status = req.status or 500
            route = req.route or UNMATCHED_ROUTE
            self.metrics.record(route, method, status, elapsed)
            self._access_log(route, method, status, elapsed)
            if span is not None:
                self.rules.end(span, status, ServerSpanRules.route(scope, root_path), method)
                span.end()
                otel_context.detach(span_token)
            if req.spans is not None:
                req.spans.hand_over()
            context.CURRENT.reset(token)

    def _traced(self, scope: Scope, path: str) -> bool:
        """Not a probe path, not excluded by the excluded-URLs variable, and instrumentation not suppressed."""
        if path in self.untraced_paths or not is_http_instrumentation_enabled():
            return False
        return self.excluded is None or not self.excluded.url_disabled(get_host_port_url_tuple(scope)[2])

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket connection's server span, as the upstream instrumentation makes it."""
        if not self._traced(scope, _route_path(scope)):
            await self.app(scope, receive, send)
            return
        root_path = scope.get("root_path", "")
        span = self.tracer.start_span(self.rules.name("", None), context=_parent_context(scope),
                                      kind=SpanKind.SERVER, attributes=self.rules.request_attributes(scope))
        span_token = otel_context.attach(trace.set_span_in_context(span))
        status: list[int] = []

        async def traced_send(message: Message) -> None:
            if message["type"] == "websocket.send" and not status:
                status.append(200)
                self.rules.end(span, 200, None, "")
            await send(message)

        try:
            await self.app(scope, receive, traced_send)
        except Exception as exc:
            span.record_exception(exc)
            raise
        finally:
            span.update_name(self.rules.name("", ServerSpanRules.route(scope, root_path)))
            route = ServerSpanRules.route(scope, root_path)
            if route:
                span.set_attribute("http.route", route)
            span.end()
            otel_context.detach(span_token)

    def _access_log(self, route: str, method: str, status: int, elapsed: float) -> None:
        level = logging.ERROR if status >= 500 else logging.INFO
        if not self.logger.isEnabledFor(level):
            return
        # Decide the sampling before building a LogRecord: most INFO access lines are dropped.
        if level < logging.WARNING and self.log_sampler is not None and not self.log_sampler.keep_current():
            return
        extra: dict[str, Any] = {"route": route, "method": method, "status": status,
                                 "latency_ms": round(elapsed * 1000, 3)}
        # The record is made here rather than by logger.log, which walks the stack to find its caller
        # on every line: the caller is known, this method.
        code = ObsMiddleware._access_log.__code__
        record = self.logger.makeRecord(self.logger.name, level, code.co_filename, code.co_firstlineno,
                                        "%s %s %d", (method, route, status), None, code.co_name, extra)
        self.logger.handle(record)
