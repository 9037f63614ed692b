"""The OTLP gRPC services (TraceService, MetricsService, LogsService) and the
mapping from pipeline outcomes to gRPC status codes.

Handlers take the raw request bytes (no deserializer) so that a request no
processor needs to change is forwarded as the very bytes it arrived as.
The answer is sent only after every exporter of the pipeline acknowledged:

| outcome                              | status              |
|--------------------------------------|---------------------|
| forwarded                            | OK                  |
| malformed protobuf                   | INVALID_ARGUMENT    |
| over max_recv_msg_size               | RESOURCE_EXHAUSTED (grpc core) |
| next hop down / timed out            | UNAVAILABLE         |
| next hop rejected the data for good  | INVALID_ARGUMENT    |
| no pipeline for the signal           | UNIMPLEMENTED       |
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from processors.api import Consumer, ExportError, MalformedPayload, Payload, Signal
from processors.telemetry import SelfTelemetry

log = logging.getLogger("otelproc.server")

SERVICE_NAMES: Mapping[Signal, str] = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
}
_EMPTY_RESPONSE = b""  # an Export*ServiceResponse with no partial_success serialises to nothing


class Admission:
    """What every receiver does with a request: validate, count, consume, map errors."""

    def __init__(self, signal: Signal, consumer: Consumer, *, receiver_id: str, telemetry: SelfTelemetry,
                 validate: bool = True) -> None:
        self.signal = signal
        self.consumer = consumer
        self.receiver_id = receiver_id
        self.telemetry = telemetry
        self.validate = validate

    def payload_of(self, raw: bytes) -> Payload:
        payload = Payload(self.signal, raw=raw)
        if self.validate:
            try:
                items = payload.item_count()  # parses; raises MalformedPayload
            except MalformedPayload:
                self.telemetry.refused(self.signal.value, "malformed")
                raise
            self.telemetry.received(self.signal.value, self.receiver_id, items)
        return payload

    async def admit(self, payload: Payload) -> None:
        try:
            await self.consumer(payload)
        except ExportError as exc:
            self.telemetry.refused(self.signal.value, "next_hop_unavailable" if exc.retryable else "next_hop_rejected")
            raise
        except MalformedPayload:
            self.telemetry.refused(self.signal.value, "malformed")
            raise


def _grpc_handler(admission: Admission):
    async def export(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            await admission.admit(admission.payload_of(raw))
        except MalformedPayload as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except ExportError as exc:
            code = grpc.StatusCode.UNAVAILABLE if exc.retryable else grpc.StatusCode.INVALID_ARGUMENT
            await context.abort(code, f"next hop: {exc}")
        except Exception:  # noqa: BLE001 - a bug must not look like success
            log.exception("unexpected failure in %s export", admission.signal.value)
            admission.telemetry.refused(admission.signal.value, "internal")
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the processor log")
        return _EMPTY_RESPONSE

    return grpc.unary_unary_rpc_method_handler(export, request_deserializer=None, response_serializer=None)


def build_grpc_server(endpoint: str, admissions: Mapping[Signal, Admission], *, max_recv_bytes: int,
                      max_concurrent_rpcs: int | None = None) -> tuple[grpc.aio.Server, health.aio.HealthServicer, int]:
    """A grpc.aio server with the OTLP services we have pipelines for, health and reflection.

    Returns the server (not started), its health servicer and the bound port.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_recv_bytes),
            ("grpc.max_send_message_length", max_recv_bytes),
            ("grpc.so_reuseport", 1),  # several processes on one host share the port
        ],
        maximum_concurrent_rpcs=max_concurrent_rpcs,
    )
    for signal, admission in admissions.items():
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE_NAMES[signal], {"Export": _grpc_handler(admission)}),)
        )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [SERVICE_NAMES[s] for s in admissions] + [health.SERVICE_NAME, reflection.SERVICE_NAME]
    # The *_pb2 modules imported by processors.api register the descriptors reflection serves.
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(endpoint)
    if port == 0:
        raise OSError(f"cannot listen on {endpoint}")
    return server, health_servicer, port


async def set_serving(health_servicer: health.aio.HealthServicer, names: list[str], serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *names]:
        await health_servicer.set(name, status)
