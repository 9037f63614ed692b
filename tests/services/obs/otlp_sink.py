"""A real OTLP gRPC endpoint on loopback that keeps every request it receives, parsed.

For tests of the SDK's own exporting path (encoders, readers) without a
Collector: the exporters under test speak real gRPC to it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

_SERVICES = {
    "trace.v1.TraceService": ("traces", ExportTraceServiceRequest),
    "metrics.v1.MetricsService": ("metrics", ExportMetricsServiceRequest),
    "logs.v1.LogsService": ("logs", ExportLogsServiceRequest),
}


@dataclass
class OtlpSink:
    endpoint: str
    received: dict[str, list[Any]] = field(default_factory=lambda: {"traces": [], "metrics": [], "logs": []})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests(self, signal: str) -> list[Any]:
        with self.lock:
            return list(self.received[signal])

    def spans(self) -> list[Any]:
        return [s for req in self.requests("traces") for rs in req.resource_spans for ss in rs.scope_spans
                for s in ss.spans]

    def metric_points(self, name: str) -> list[Any]:
        """Data points of metric ``name``, in the order they were received."""
        out = []
        for req in self.requests("metrics"):
            for rm in req.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        if m.name == name:
                            data = getattr(m, m.WhichOneof("data"))
                            out.extend(data.data_points)
        return out


@contextlib.contextmanager
def otlp_sink() -> Iterator[OtlpSink]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    sink = OtlpSink(endpoint="")

    def handler_for(signal: str, message: Any) -> grpc.RpcMethodHandler:
        def export(request: Any, _context: grpc.ServicerContext) -> bytes:
            with sink.lock:
                sink.received[signal].append(request)
            return b""  # an empty Export*ServiceResponse

        return grpc.unary_unary_rpc_method_handler(export, request_deserializer=message.FromString,
                                                   response_serializer=lambda b: b)

    for service, (signal, message) in _SERVICES.items():
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            f"opentelemetry.proto.collector.{service}", {"Export": handler_for(signal, message)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    sink.endpoint = f"http://127.0.0.1:{port}"
    try:
        yield sink
    finally:
        server.stop(grace=1)
