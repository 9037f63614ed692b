"""What both OTLP transports of the ``otlp`` receiver (gRPC here, HTTP in
``processors.standalone.otlp_http``) do with a request: parse and count it,
truncate values nested too deeply for the protobuf runtime, push it into the
pipeline, count a refusal under its ``processors.status`` reason, and build the
partial-success answer."""

from __future__ import annotations

from google.protobuf.message import Message

from processors.api import (
    MAX_VALUE_DEPTH,
    TRUNCATED_MARKER,
    Consumer,
    ExportError,
    MalformedPayload,
    Payload,
    Signal,
)
from processors.offload import Offload
from processors.status import Refusal, refusal_of
from processors.telemetry import SelfTelemetry


class Admission:
    """What every receiver does with a request: validate, count, consume, map errors."""

    def __init__(self, signal: Signal, consumer: Consumer, *, receiver_id: str, telemetry: SelfTelemetry,
                 validate: bool = True, offload: Offload | None = None) -> None:
        self.signal = signal
        self.consumer = consumer
        self.receiver_id = receiver_id
        self.telemetry = telemetry
        self.validate = validate
        self.offload = offload

    async def accept(self, raw: bytes) -> Payload:
        """``payload_of``, on a worker thread for a large request: its parse alone would hold the event loop."""
        if self.validate and self.offload is not None:
            return await self.offload.by_size(len(raw), self.payload_of, raw)
        return self.payload_of(raw)

    def payload_of(self, raw: bytes) -> Payload:
        payload = Payload(self.signal, raw=raw)
        if self.validate:
            try:
                items = payload.item_count()  # parses; raises MalformedPayload
            except MalformedPayload as exc:
                payload = self._truncated(raw, exc)
                items = payload.item_count()
            self.telemetry.received(self.signal.value, self.receiver_id, items)
        return payload

    def _truncated(self, raw: bytes, exc: MalformedPayload) -> Payload:
        """The request with its too-deep values truncated (``truncate_deep_values``), or ``exc``
        when depth was not what failed or truncating did not help."""
        payload = Payload.truncating(self.signal, raw, exc)
        if payload is None:
            self.telemetry.refused(self.signal.value, Refusal.MALFORMED.reason)
            raise exc
        self.telemetry.truncated(self.signal.value, self.receiver_id, payload.truncated_values)
        return payload

    async def admit(self, payload: Payload) -> None:
        try:
            await self.consumer(payload)
        except (ExportError, MalformedPayload) as exc:
            self.telemetry.refused(self.signal.value, refusal_of(exc).reason)
            raise


def partial_success(signal: Signal, payload: Payload | None) -> Message:
    """The Export*ServiceResponse for an accepted request: empty, or a partial-success
    warning (nothing rejected) when values were truncated."""
    response = signal.response_type()
    if payload is not None and payload.truncated_values:
        response.partial_success.error_message = (
            f"{payload.truncated_values} attribute or body value(s) nested deeper than {MAX_VALUE_DEPTH} levels "
            f"were replaced by {TRUNCATED_MARKER!r}; every item was accepted"
        )
    return response
