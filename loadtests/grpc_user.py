"""An abstract gRPC ``User`` for Locust, in the style of Locust's gRPC example.

A client interceptor fires ``events.request`` for every unary call, so gRPC
calls show in Locust's stats, CSV and HTML reports as HTTP requests do (type
``grpc``, name = the full method, e.g. ``/opentelemetry.proto.collector.trace.v1.TraceService/Export``).
Subclasses set ``stub_classes`` and get ``self.stubs[name]`` on one channel
to ``host`` (``host:port``, no scheme; ``http://`` is tolerated and dropped).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import grpc
import grpc.experimental.gevent as grpc_gevent
from locust import User
from locust.exception import LocustError

# grpc's own threads would not yield to gevent's loop, which Locust runs on.
grpc_gevent.init_gevent()


class LocustInterceptor(grpc.UnaryUnaryClientInterceptor):
    def __init__(self, environment: Any) -> None:
        self.env = environment

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        start = time.perf_counter()
        exception = None
        response = None
        response_length = 0
        try:
            response = continuation(client_call_details, request)
            response_length = response.result().ByteSize()
        except grpc.RpcError as exc:
            exception = exc
        self.env.events.request.fire(
            request_type="grpc", name=client_call_details.method, response_time=(time.perf_counter() - start) * 1000,
            response_length=response_length, response=response, context=None, exception=exception,
        )
        return response


class GrpcUser(User):
    abstract = True
    stub_classes: ClassVar[dict[str, Any]] = {}
    # Large enough for a batch of real-shaped telemetry.
    max_send_message_length = 16 << 20

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        if not self.host:
            raise LocustError("give the gRPC endpoint as --host host:port")
        if not self.stub_classes:
            raise LocustError(f"{type(self).__name__} must set stub_classes")
        target = self.host.split("://", 1)[-1]
        channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length",
                                                          self.max_send_message_length)])
        self._channel = channel
        intercepted = grpc.intercept_channel(channel, LocustInterceptor(environment))
        self.stubs = {name: cls(intercepted) for name, cls in self.stub_classes.items()}

    def on_stop(self) -> None:
        self._channel.close()
