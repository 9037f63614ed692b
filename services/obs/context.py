"""Per-request values the logs and spans share, held in a context variable.

The middleware opens one ``RequestContext`` per HTTP request; log records
read it (``request_id``, ``route``, ``user_id``, ``ip``) without the handler
code passing anything along.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from services.obs.pii import anonymise_ip

if TYPE_CHECKING:
    from services.obs.lean_spans import SpanHandover


@dataclass
class RequestContext:
    request_id: str
    scope: dict[str, Any] = field(repr=False)
    user_id: str | None = None
    status: int | None = None
    # Child spans that reach the span processors after the response (lean mode, lean_spans.py).
    spans: SpanHandover | None = field(default=None, repr=False)

    @property
    def ip(self) -> str | None:
        """The client's network (/24 or /48), worked out only when a log line asks for it."""
        client = self.scope.get("client")
        return anonymise_ip(client[0]) if client else None

    @property
    def route(self) -> str | None:
        """The route template once routing has happened (never the raw path: it can hold ids)."""
        route = self.scope.get("route")
        return getattr(route, "path", None)


CURRENT: ContextVar[RequestContext | None] = ContextVar("obs_request", default=None)


def current() -> RequestContext | None:
    return CURRENT.get()


def set_user(user_id: str | int | None) -> None:
    """Tag the current request's logs (``user_id``) and server span (``user.id``)."""
    ctx = CURRENT.get()
    if ctx is not None:
        ctx.user_id = None if user_id is None else str(user_id)
    span = trace.get_current_span()
    if user_id is not None and span.is_recording():
        span.set_attribute("user.id", str(user_id))
