"""The ``otlp`` receiver's gRPC transport: the OTLP services (TraceService,
MetricsService, LogsService), health and reflection on one grpc.aio server.

Handlers take the raw request bytes (no deserializer) so that a request no
processor needs to change is forwarded as the very bytes it arrived as.
The answer is sent only after every exporter of the pipeline acknowledged.
Each refusal gets its status from ``processors.status`` and is counted in
``otelproc_refused_requests_total{signal,reason}``:

| outcome                              | status              | reason               |
|--------------------------------------|---------------------|----------------------|
| forwarded                            | OK                  |                      |
| value nested too deeply, truncated   | OK + partial_success.error_message |  |
| malformed protobuf                   | INVALID_ARGUMENT    | malformed            |
| over max_recv_msg_size               | RESOURCE_EXHAUSTED (grpc core) | too_large |
| next hop down / timed out            | UNAVAILABLE         | next_hop_unavailable |
| next hop rejected the data for good  | INVALID_ARGUMENT    | next_hop_rejected    |
| no pipeline for the signal, unknown method | UNIMPLEMENTED | unimplemented        |
| a bug                                | INTERNAL            | internal             |
| over max_concurrent_streams          | RESOURCE_EXHAUSTED (grpc core; not counted) |  |

Export is served as a client-streaming method (a unary call is one message on
the wire either way): grpc core refuses a message over max_recv_msg_size
before any handler sees it, but a streaming handler still runs and reads no
message, so that refusal is counted too. A call that ends without a message
(the only other way to read none) is counted and answered the same way.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from processors.api import SERVICE_NAMES, Signal
from processors.receivers.admission import Admission, partial_success
from processors.status import Refusal, describe, refusal_of
from processors.telemetry import SelfTelemetry

log = logging.getLogger("otelproc.server")

_EMPTY_RESPONSE = b""  # an Export*ServiceResponse with no partial_success serialises to nothing


def _grpc_handler(admission: Admission, max_recv_bytes: int) -> grpc.RpcMethodHandler:
    signal = admission.signal

    async def export(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
        messages = []
        async for message in requests:
            messages.append(message)
            if len(messages) > 1:
                break  # a unary method: do not buffer a stream
        if len(messages) != 1:
            # grpc core refused the message as too large (its status is already sent: count it now,
            # before any await, as the call's task is cancelled at the next one), or none/several came.
            refusal = Refusal.TOO_LARGE if not messages else Refusal.MALFORMED
            admission.telemetry.refused(signal.value, refusal.reason)
            if not messages:
                await context.abort(refusal.grpc_code,
                                    f"no request message, or one over max_recv_msg_size ({max_recv_bytes} bytes)")
            await context.abort(refusal.grpc_code, f"{len(messages)} request messages on a unary method")
        raw = messages[0]
        payload = None
        try:
            payload = await admission.accept(raw)
            await admission.admit(payload)
        except Exception as exc:  # a bug must not look like success
            refusal = refusal_of(exc)
            if refusal is Refusal.INTERNAL:
                log.exception("unexpected failure in %s export", admission.signal.value)
                admission.telemetry.refused(admission.signal.value, refusal.reason)
            await context.abort(refusal.grpc_code, describe(exc))
        if payload.truncated_values:
            return partial_success(signal, payload).SerializeToString()
        return _EMPTY_RESPONSE

    return grpc.stream_unary_rpc_method_handler(export, request_deserializer=None, response_serializer=None)


class _Unimplemented(grpc.GenericRpcHandler):
    """Last in line: a method no other handler serves gets UNIMPLEMENTED, counted
    (grpc core would answer the same, uncounted)."""

    def __init__(self, telemetry: SelfTelemetry) -> None:
        self.telemetry = telemetry

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = handler_call_details.method or ""
        label = next((s.value for s, name in SERVICE_NAMES.items() if method.startswith(f"/{name}/")), "")

        async def unimplemented(_requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> bytes:
            self.telemetry.refused(label, Refusal.UNIMPLEMENTED.reason)
            await context.abort(Refusal.UNIMPLEMENTED.grpc_code, f"method {method} not served here")
            return b""

        return grpc.stream_unary_rpc_method_handler(unimplemented, request_deserializer=None, response_serializer=None)


def build_grpc_server(endpoint: str, admissions: Mapping[Signal, Admission], *, max_recv_bytes: int,
                      max_concurrent_rpcs: int | None = None, credentials: grpc.ServerCredentials | None = None,
                      options: Sequence[tuple[str, int]] = (),
                      ) -> tuple[grpc.aio.Server, health.aio.HealthServicer, int]:
    """A grpc.aio server with the OTLP services we have pipelines for, health and reflection;
    TLS when ``credentials`` are given (``processors.tls.grpc_server_credentials``), else cleartext.

    ``options`` are more grpc core channel arguments. Returns the server (not started), its health
    servicer and the bound port.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_recv_bytes),
            ("grpc.max_send_message_length", max_recv_bytes),
            ("grpc.so_reuseport", 1),  # several processes on one host share the port
            *options,  # keepalive and connection age (``KeepaliveServerParameters``)
        ],
        maximum_concurrent_rpcs=max_concurrent_rpcs,
    )
    for signal, admission in admissions.items():
        handlers = {"Export": _grpc_handler(admission, max_recv_bytes)}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAMES[signal], handlers),))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [SERVICE_NAMES[s] for s in admissions] + [health.SERVICE_NAME, reflection.SERVICE_NAME]
    # The *_pb2 modules imported by processors.api register the descriptors reflection serves.
    reflection.enable_server_reflection(names, server)
    if admissions:
        server.add_generic_rpc_handlers((_Unimplemented(next(iter(admissions.values())).telemetry),))
    try:
        port = server.add_secure_port(endpoint, credentials) if credentials else server.add_insecure_port(endpoint)
    except RuntimeError:  # grpc's "Failed to bind": the address is taken, or not ours
        port = 0
    if port == 0:
        raise OSError(f"cannot listen on {endpoint}")
    return server, health_servicer, port


async def set_serving(health_servicer: health.aio.HealthServicer, names: list[str], serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *names]:
        await health_servicer.set(name, status)
