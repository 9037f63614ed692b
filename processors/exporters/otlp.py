"""The ``otlp`` exporter: OTLP/gRPC to the next hop (the Collector's
``otlp/processed`` receiver, or any OTLP endpoint).

``tls:`` takes the Collector's client keys (``processors.tls``): without it
the channel is cleartext, as before; with it (``tls: {}`` is TLS verified
against the system's CAs) the next hop's certificate is verified against
``ca_file``, ``cert_file``/``key_file`` are our client certificate for mTLS,
and ``insecure: true`` dials cleartext. grpcio cannot skip verifying the
server, so ``insecure_skip_verify: true`` is refused at load. When the files
change (looked at most every ``reload_interval``, on export) a new channel is
dialled with them and the old one closed.

``timeout`` is a duration as the Collector writes it (``10s``); the older
``timeout_s`` (a number of seconds) is still read, and logged as deprecated.

It forwards ``payload.raw`` as is (no re-serialisation for untouched
payloads) and returns only once the next hop has answered. It does not retry:
a retryable failure goes back to our sender as UNAVAILABLE, so the Collector's
retry and persistent queue keep the data (ack after forward).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import grpc
from pydantic import Field, model_validator

from processors.api import SERVICE_NAMES, CreateSettings, Exporter, ExportError, Payload, Signal
from processors.config import ComponentConfig
from processors.registry import Factory
from processors.tls import Duration, GrpcClientTLSConfig, WatchedFiles, grpc_channel_credentials

log = logging.getLogger("otelproc.exporter.otlp")

# Codes after which the same request may succeed later (OTLP spec, "Failures").
RETRYABLE = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED, grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.DATA_LOSS,
})
_MIB = 1024 * 1024


class OtlpExporterConfig(ComponentConfig):
    endpoint: str = Field(description="host:port of the next hop (required)")
    compression: str = Field(default="gzip", pattern="^(gzip|none)$", description="gzip or none (default gzip)")
    timeout: Duration = Field(default=10.0, gt=0, description='Per-request deadline (default "10s")')
    timeout_s: float | None = Field(
        default=None, gt=0, description="Deprecated: the deadline in seconds; use timeout (default: unset)"
    )
    tls: GrpcClientTLSConfig | None = Field(
        default=None, description="TLS to the next hop, the Collector's client keys (default: unset, cleartext)"
    )
    headers: dict[str, str] = Field(default_factory=dict, description="gRPC metadata sent with each request")
    max_send_msg_size_mib: float = Field(default=64, gt=0, description="Largest request we send (default 64)")

    @model_validator(mode="after")
    def _one_timeout(self) -> OtlpExporterConfig:
        if self.timeout_s is not None and "timeout" in self.model_fields_set:
            raise ValueError("set timeout or the deprecated timeout_s, not both")
        return self

    @property
    def deadline(self) -> float:
        return self.timeout_s if self.timeout_s is not None else self.timeout


class OtlpExporter(Exporter):
    def __init__(self, config: OtlpExporterConfig, settings: CreateSettings) -> None:
        self.config = config
        self.id = settings.component_id
        self.telemetry = settings.telemetry
        self._channel: grpc.aio.Channel | None = None
        self._calls: dict[Signal, grpc.aio.UnaryUnaryMultiCallable] = {}
        self._metadata = tuple((k.lower(), v) for k, v in config.headers.items())
        self._compression = grpc.Compression.Gzip if config.compression == "gzip" else grpc.Compression.NoCompression
        tls = config.tls
        self._tls = tls if tls is not None and not tls.insecure else None
        self._watched = WatchedFiles(self._tls.files(), self._tls.reload_interval) if self._tls is not None else None
        self._closing: set[asyncio.Task] = set()
        if config.timeout_s is not None:
            log.warning("%s: timeout_s is deprecated; write timeout: %gs", self.id, config.timeout_s)

    def _dial(self) -> grpc.aio.Channel:
        options = [
            ("grpc.max_send_message_length", int(self.config.max_send_msg_size_mib * _MIB)),
            ("grpc.max_receive_message_length", 4 * _MIB),
            # Reconnect quickly once the next hop is back, rather than after grpc's 2-minute backoff cap.
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        ]
        if self._tls is None:
            return grpc.aio.insecure_channel(self.config.endpoint, options=options)
        creds, tls_options = grpc_channel_credentials(self._tls)
        return grpc.aio.secure_channel(self.config.endpoint, creds, options=options + tls_options)

    async def start(self) -> None:
        self._channel = self._dial()
        self._bind()

    def _bind(self) -> None:
        assert self._channel is not None
        for signal, service in SERVICE_NAMES.items():
            self._calls[signal] = self._channel.unary_unary(
                f"/{service}/Export", request_serializer=None, response_deserializer=signal.response_type.FromString
            )

    async def _redial_if_changed(self) -> None:
        """A channel dialled with the files again once they changed; calls in flight finish on the old one."""
        if self._watched is None or self._channel is None or not self._watched.changed():
            return
        try:
            channel = self._dial()
        except (OSError, ValueError) as exc:  # a rotation half-written
            log.warning("tls: %s: the changed files cannot be used yet (%s); keeping the previous ones", self.id, exc)
            return
        old, self._channel = self._channel, channel
        self._bind()
        log.info("tls: %s: reloaded %s", self.id, ", ".join(self._tls.files()))
        closing = asyncio.get_running_loop().create_task(old.close(grace=self.config.deadline))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def export(self, payload: Payload) -> None:
        await self._redial_if_changed()
        call = self._calls.get(payload.signal)
        if call is None:
            raise ExportError(f"{self.id} is not started", retryable=True)
        try:
            response = await call(payload.raw, timeout=self.config.deadline, metadata=self._metadata or None,
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
        for task in list(self._closing):
            await task


def _rejected(signal: Signal, response: Any) -> int:  # an Export*ServiceResponse
    if not response.HasField("partial_success"):
        return 0
    ps = response.partial_success
    field = {
        Signal.TRACES: "rejected_spans",
        Signal.METRICS: "rejected_data_points",
        Signal.LOGS: "rejected_log_records",
    }
    return int(getattr(ps, field[signal]))


FACTORY = Factory(type="otlp", config_model=OtlpExporterConfig, create=OtlpExporter, stability="beta")
