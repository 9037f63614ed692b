"""The contracts every component implements: signals, payloads, processors,
exporters, connectors and the errors that map onto gRPC status codes.

Processors are synchronous (CPU-bound: small requests run on the event loop,
large ones on worker threads, see ``offload``); exporters and connectors are
asynchronous (they do I/O) and always run on the event loop. The server turns the errors below
into gRPC/HTTP statuses; components never touch grpc themselves.
"""

from __future__ import annotations

import abc
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

if TYPE_CHECKING:
    from processors.telemetry import SelfTelemetry


class Signal(str, enum.Enum):
    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"

    @property
    def request_type(self) -> type[Message]:
        return _REQUEST_TYPES[self]

    @property
    def response_type(self) -> type[Message]:
        return _RESPONSE_TYPES[self]


_REQUEST_TYPES: dict[Signal, type[Message]] = {
    Signal.TRACES: trace_service_pb2.ExportTraceServiceRequest,
    Signal.METRICS: metrics_service_pb2.ExportMetricsServiceRequest,
    Signal.LOGS: logs_service_pb2.ExportLogsServiceRequest,
}
_RESPONSE_TYPES: dict[Signal, type[Message]] = {
    Signal.TRACES: trace_service_pb2.ExportTraceServiceResponse,
    Signal.METRICS: metrics_service_pb2.ExportMetricsServiceResponse,
    Signal.LOGS: logs_service_pb2.ExportLogsServiceResponse,
}


class PipelineError(Exception):
    """Base of the errors the server maps onto a status."""


class MalformedPayload(PipelineError):
    """The request is not a valid OTLP protobuf (gRPC INVALID_ARGUMENT, HTTP 400)."""


class ExportError(PipelineError):
    """The next hop did not accept the data.

    ``retryable`` errors become UNAVAILABLE (HTTP 503) so that the sender keeps
    the data and retries; permanent ones become INVALID_ARGUMENT (HTTP 400).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Payload:
    """One OTLP export request, parsed only when somebody needs the message.

    A payload nobody edited is forwarded as the bytes it arrived as; ``edit()``
    marks it modified so that ``raw`` re-serialises it.
    """

    __slots__ = ("signal", "_raw", "_message", "_modified")

    def __init__(self, signal: Signal, *, raw: bytes | None = None, message: Message | None = None) -> None:
        if raw is None and message is None:
            raise ValueError("Payload needs raw bytes or a message")
        self.signal = signal
        self._raw = raw
        self._message = message
        self._modified = raw is None

    @property
    def parsed(self) -> bool:
        return self._message is not None

    @property
    def modified(self) -> bool:
        return self._modified

    @property
    def message(self) -> Any:
        """The parsed request. Treat it as read-only; call ``edit()`` to change it."""
        if self._message is None:
            msg = self.signal.request_type()
            try:
                msg.ParseFromString(self._raw)
            except DecodeError as exc:
                raise MalformedPayload(f"malformed {self.signal.value} request: {exc}") from exc
            self._message = msg
        return self._message

    def edit(self) -> Any:
        """The parsed request, for in-place changes."""
        msg = self.message
        self._modified = True
        return msg

    @property
    def raw(self) -> bytes:
        if self._modified or self._raw is None:
            self._raw = self.message.SerializeToString()
            self._modified = False
        return self._raw

    def item_count(self) -> int:
        return count_items(self.signal, self.message)


def count_items(signal: Signal, request: Any) -> int:
    """Spans, log records or metric data points in a request."""
    if signal is Signal.TRACES:
        return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if signal is Signal.LOGS:
        return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    total = 0
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(m, kind).data_points)
    return total


Consumer = Callable[[Payload], Awaitable[None]]
"""What receivers and connectors push payloads into: a pipeline's entry."""


@dataclass
class CreateSettings:
    """What a factory gets besides its config: identity and shared services."""

    component_id: str
    telemetry: SelfTelemetry
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("otelproc"))


class Component(abc.ABC):  # noqa: B024 - lifecycle hooks are optional
    """Lifecycle shared by every component."""

    async def start(self) -> None:
        """Acquire resources (sockets, clients). Called before data flows."""

    async def shutdown(self) -> None:
        """Release resources. Called after in-flight requests have drained."""


class Processor(Component):
    """Transforms payloads of one or more signals.

    Override only the signals you handle; the rest pass through untouched.
    ``process`` may run on several threads at once (large requests are
    processed off the event loop), so state shared across requests is kept
    safe for that: a lock around compound updates, or caches that are.
    Return the payload (edited in place or replaced), or ``None`` when every
    item was dropped. Count your own drops on ``settings.telemetry``.
    """

    def process_traces(self, payload: Payload) -> Payload | None:
        return payload

    def process_metrics(self, payload: Payload) -> Payload | None:
        return payload

    def process_logs(self, payload: Payload) -> Payload | None:
        return payload

    def process(self, payload: Payload) -> Payload | None:
        if payload.signal is Signal.TRACES:
            return self.process_traces(payload)
        if payload.signal is Signal.METRICS:
            return self.process_metrics(payload)
        return self.process_logs(payload)


class Exporter(Component):
    """Sends payloads to the next hop; returns only once it has acknowledged.

    Raise ``ExportError`` when it did not; never swallow a failure.
    """

    @abc.abstractmethod
    async def export(self, payload: Payload) -> None:
        """Deliver the payload or raise ExportError."""


class Connector(Exporter):
    """The exporter of one pipeline and the receiver of another.

    The pipeline builder calls ``attach`` once per signal the connector feeds,
    before ``start``; the connector pushes what it emits into that consumer.
    """

    @abc.abstractmethod
    def attach(self, signal: Signal, consumer: Consumer) -> None:
        """Route emitted payloads of ``signal`` into ``consumer``."""


class Receiver(Component):
    """Accepts data from outside and pushes it into per-signal consumers."""

    @abc.abstractmethod
    def attach(self, signal: Signal, consumer: Consumer) -> None:
        """Route received payloads of ``signal`` into ``consumer``."""
