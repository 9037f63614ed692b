"""How a client span records a failed call."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Status, StatusCode


def mark_failed(span: Any, exc: BaseException) -> None:
    """ERROR status and ``error.type``; not the message: a driver's message can quote the values sent."""
    kind = type(exc).__qualname__
    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, kind))
