"""The ``otlp`` exporter: OTLP/gRPC to the next hop (the Collector's
``otlp/processed`` receiver, or any OTLP endpoint).

It forwards ``payload.raw`` as is (no re-serialisation for untouched
payloads) and returns only once the next hop has answered. It does not retry:
a retryable failure goes back to our sender as UNAVAILABLE, so the Collector's
retry and persistent queue keep the data (ack after forward).
"""

from __future__ import annotations

import grpc
from pydantic import Field

from processors.api import CreateSettings, ExportError, Exporter, Payload, Signal
from processors.config import ComponentConfig
from processors.registry import Factory
from processors.server import SERVICE_NAMES

# Codes after which the same request may succeed later (OTLP spec, "Failures").
RETRYABLE = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.DATA_LOSS,
})
_MIB = 1024 * 1024


class OtlpExporterConfig(ComponentConfig):
    endpoint: str = Field(description="host:port of the next hop (required)")
    compression: str = Field(default="gzip", pattern="^(gzip|none)$", description="gzip or none (default gzip)")
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request deadline in seconds (default 10)")
    headers: dict[str, str] = Field(default_factory=dict, description="gRPC metadata sent with each request")
    max_send_msg_size_mib: float = Field(default=64, gt=0, description="Largest request we send (default 64)")


class OtlpExporter(Exporter):
    def __init__(self, config: OtlpExporterConfig, settings: CreateSettings) -> None:
        self.config = config
        self.id = settings.component_id
        self.telemetry = settings.telemetry
        self._channel: grpc.aio.Channel | None = None
        self._calls: dict[Signal, grpc.aio.UnaryUnaryMultiCallable] = {}
        self._metadata = tuple((k.lower(), v) for k, v in config.headers.items())
        self._compression = grpc.Compression.Gzip if config.compression == "gzip" else grpc.Compression.NoCompression

    async def start(self) -> None:
        self._channel = grpc.aio.insecure_channel(
            self.config.endpoint,
            options=[
                ("grpc.max_send_message_length", int(self.config.max_send_msg_size_mib * _MIB)),
                ("grpc.max_receive_message_length", 4 * _MIB),
                # Reconnect quickly once the next hop is back, rather than after grpc's 2-minute backoff cap.
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
            ],
        )
        for signal, service in SERVICE_NAMES.items():
            self._calls[signal] = self._channel.unary_unary(
                f"/{service}/Export", request_serializer=None, response_deserializer=signal.response_type.FromString
            )

    async def export(self, payload: Payload) -> None:
        call = self._calls.get(payload.signal)
        if call is None:
            raise ExportError(f"{self.id} is not started", retryable=True)
        try:
            response = await call(payload.raw, timeout=self.config.timeout_s, metadata=self._metadata or None,
                                  compression=self._compression)
        except grpc.aio.AioRpcError as exc:
            raise ExportError(
                f"{self.config.endpoint}: {exc.code().name}: {exc.details()}", retryable=exc.code() in RETRYABLE
            ) from None
        rejected = _rejected(payload.signal, response)
        if rejected:
            self.telemetry.dropped(payload.signal.value, self.id, "rejected_by_next_hop", rejected)

    async def shutdown(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


def _rejected(signal: Signal, response) -> int:
    if not response.HasField("partial_success"):
        return 0
    ps = response.partial_success
    field = {Signal.TRACES: "rejected_spans", Signal.METRICS: "rejected_data_points", Signal.LOGS: "rejected_log_records"}
    return int(getattr(ps, field[signal]))


FACTORY = Factory(type="otlp", config_model=OtlpExporterConfig, create=OtlpExporter, stability="beta")
