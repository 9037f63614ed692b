"""The end of a client span: how a failed call is recorded, and a context manager that ends the span."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.trace import Status, StatusCode


def mark_failed(span: Any, exc: BaseException) -> None:
    """ERROR status and ``error.type``; not the message: a driver's message can quote the values sent."""
    kind = type(exc).__qualname__
    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, kind))


class Ending:
    """``with Ending(span):`` ends ``span`` on the way out, marking it failed (``on_error``) on an exception.

    A class rather than ``contextlib.contextmanager``: it runs once per traced call, and a generator-based
    context manager costs about twice as much.
    """

    __slots__ = ("span", "on_error")

    def __init__(self, span: Any, on_error: Callable[[Any, BaseException], None] = mark_failed) -> None:
        self.span = span
        self.on_error = on_error

    def __enter__(self) -> Any:
        return self.span

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None:
            self.on_error(self.span, exc)
        self.span.end()
        return False
