"""The contracts every component implements: signals, payloads, processors,
exporters, connectors and the errors that map onto gRPC status codes.

Processors are synchronous (CPU-bound: small requests run on the event loop,
large ones on worker threads, see ``offload``); exporters and connectors are
asynchronous (they do I/O) and always run on the event loop. The receivers turn the errors below
into gRPC/HTTP statuses (``processors.status``); components never touch grpc themselves.
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
    from google.protobuf.descriptor import Descriptor

    from processors.offload import Offload
    from processors.telemetry import SelfTelemetry


class Signal(str, enum.Enum):  # noqa: UP042 - StrEnum would change str(member), which messages use
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


SERVICE_NAMES: dict[Signal, str] = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
}
"""The OTLP gRPC service of each signal (its one method is ``Export``)."""


class PipelineError(Exception):
    """Base of the errors the receivers answer with a status (``processors.status``)."""


class MalformedPayload(PipelineError):
    """The request is not a valid OTLP protobuf (answered as ``processors.status.Refusal.MALFORMED``)."""


class ExportError(PipelineError):
    """The next hop did not accept the data.

    ``retryable`` errors tell the sender to keep the data and retry; permanent
    ones make it drop the batch (``processors.status``: NEXT_HOP_UNAVAILABLE,
    NEXT_HOP_REJECTED).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Payload:
    """One OTLP export request, parsed only when somebody needs the message.

    A payload nobody edited is forwarded as the bytes it arrived as; ``edit()``
    marks it modified so that ``raw`` re-serialises it.
    """

    __slots__ = ("signal", "_raw", "_message", "_modified", "truncated_values")

    def __init__(self, signal: Signal, *, raw: bytes | None = None, message: Message | None = None) -> None:
        if raw is None and message is None:
            raise ValueError("Payload needs raw bytes or a message")
        self.signal = signal
        self._raw = raw
        self._message = message
        self._modified = raw is None
        self.truncated_values = 0  # AnyValues replaced by TRUNCATED_MARKER (see ``truncating``)

    @classmethod
    def truncating(cls, signal: Signal, raw: bytes, error: MalformedPayload) -> Payload | None:
        """The payload of ``raw`` with its too-deep values truncated, when ``error`` (from parsing
        ``raw``) was the protobuf runtime's depth limit and truncating makes it parse; else None.

        Its ``raw`` is the truncated request, so nothing deeper than what parses is forwarded.
        """
        if "depth" not in str(error).lower():
            return None
        try:
            truncated, count = truncate_deep_values(signal, raw)
        except _WireError:
            return None
        if not count:
            return None
        payload = cls(signal, raw=truncated)
        try:
            payload.message  # noqa: B018 - parses
        except MalformedPayload:
            return None
        payload.truncated_values = count
        return payload

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


# --- values nested too deeply ---------------------------------------------------

MAX_VALUE_DEPTH = 30
"""AnyValue nesting kept when a request is too deep to parse (an attribute's value is level 1)."""
TRUNCATED_MARKER = f"[truncated: nested deeper than {MAX_VALUE_DEPTH} levels]"

_ANY_VALUE = "opentelemetry.proto.common.v1.AnyValue"


class _WireError(ValueError):
    pass


def truncate_deep_values(signal: Signal, raw: bytes, max_depth: int = MAX_VALUE_DEPTH) -> tuple[bytes, int]:
    """``raw`` with every AnyValue nested deeper than ``max_depth`` replaced by the string
    ``TRUNCATED_MARKER``, and how many were replaced.

    Why: upb (the protobuf runtime) refuses a message nested more than 100
    levels deep, not configurably from Python, and a kvlist value costs three
    levels, so about 31 nested kvlists fail the whole request. OTLP makes that
    refusal permanent and the sender drops every other item of the batch. The
    receiver instead truncates the one value and keeps the rest (counted in
    ``otelproc_truncated_values_total``). With ``max_depth`` 30 the deepest
    kept value ends at level 99 even under an exemplar's filtered attributes
    (the deepest place a value starts, level 9), so the result always parses.

    Walks the protobuf wire format along the OTLP schema, descending only into
    messages that can hold an AnyValue and never below ``max_depth`` values,
    so its recursion is bounded whatever the input. Raises ``_WireError`` on
    bytes that are not well-formed protobuf.
    """
    count = [0]
    out = _walk(signal.request_type.DESCRIPTOR, memoryview(raw), 0, max_depth, count)
    return (raw if out is None else out), count[0]


def _value_holders() -> frozenset[str]:
    """Full names of the request message types that can contain an AnyValue."""
    edges: dict[str, set[str]] = {}
    todo = [s.request_type.DESCRIPTOR for s in _REQUEST_TYPES]
    while todo:
        desc = todo.pop()
        if desc.full_name in edges:
            continue
        edges[desc.full_name] = {f.message_type.full_name for f in desc.fields if f.message_type is not None}
        todo += [f.message_type for f in desc.fields if f.message_type is not None]
    holders = {_ANY_VALUE}
    changed = True
    while changed:
        changed = False
        for name, children in edges.items():
            if name not in holders and children & holders:
                holders.add(name)
                changed = True
    return frozenset(holders)


_HOLDERS = _value_holders()


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _WireError("bad varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _skip_group(buf: memoryview, pos: int) -> int:
    depth = 1  # iterative: unknown groups may nest arbitrarily
    while depth:
        key, pos = _varint(buf, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            pos += length
        elif wire == 3:
            depth += 1
        elif wire == 4:
            depth -= 1
        elif wire == 5:
            pos += 4
        else:
            raise _WireError("bad wire type")
        if pos > len(buf):
            raise _WireError("truncated")
    return pos


def _walk(desc: Descriptor, buf: memoryview, depth: int, max_depth: int, count: list[int]) -> bytes | None:
    """``buf`` (a message of type ``desc``, ``depth`` values deep) rewritten, or None if unchanged."""
    pieces: list[bytes | memoryview] = []
    last = pos = 0
    end = len(buf)
    fields = desc.fields_by_number
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 3:
            pos = _skip_group(buf, pos)
        elif wire == 2:
            head = pos
            length, pos = _varint(buf, pos)
            start, pos = pos, pos + length
            if pos > end:
                raise _WireError("truncated")
            field = fields.get(number)
            child = field.message_type if field is not None else None
            if child is None or child.full_name not in _HOLDERS:
                continue
            child_depth = depth + (child.full_name == _ANY_VALUE)
            if child_depth > max_depth:
                count[0] += 1
                new: bytes | None = _MARKER_VALUE
            else:
                new = _walk(child, buf[start:pos], child_depth, max_depth, count)
            if new is not None:
                pieces += [buf[last:head], _encode_varint(len(new)), new]
                last = pos
        else:
            raise _WireError("bad wire type")
        if pos > end:
            raise _WireError("truncated")
    if not pieces:
        return None
    pieces.append(buf[last:])
    return b"".join(pieces)


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


# AnyValue{string_value: TRUNCATED_MARKER}
_MARKER_VALUE = b"\x0a" + _encode_varint(len(TRUNCATED_MARKER.encode())) + TRUNCATED_MARKER.encode()

Consumer = Callable[[Payload], Awaitable[None]]
"""What receivers and connectors push payloads into: a pipeline's entry."""


@dataclass
class CreateSettings:
    """What a factory gets besides its config: identity and shared services."""

    component_id: str
    telemetry: SelfTelemetry
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("otelproc"))
    #: Worker threads for large requests (``processors.offload``); receivers parse those there.
    offload: Offload | None = None


class Component(abc.ABC):  # noqa: B024 - lifecycle hooks are optional
    """Lifecycle shared by every component."""

    async def start(self) -> None:  # noqa: B027 - optional hook, a no-op for stateless components
        """Acquire resources (sockets, clients). Called before data flows."""

    async def shutdown(self) -> None:  # noqa: B027 - optional hook, a no-op for stateless components
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

    async def drain(self, grace_s: float) -> None:
        """Stop taking requests and wait up to ``grace_s`` for in-flight ones to be acknowledged.

        Called on every receiver when the process is asked to stop, before ``shutdown``; a
        receiver with nothing in flight keeps this default, which does nothing.
        """
