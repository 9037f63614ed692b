"""The ``otlp`` receiver: OTLP over gRPC (from the Collector, or from services
in gateway mode) and, optionally, OTLP/HTTP."""

from __future__ import annotations


from aiohttp import web
from pydantic import Field

from processors.api import Consumer, CreateSettings, Receiver, Signal
from processors.config import ComponentConfig
from processors.receivers.http import build_http_app
from processors.registry import Factory
from processors.server import SERVICE_NAMES, Admission, build_grpc_server, set_serving
from processors.telemetry import SelfTelemetry

_MIB = 1024 * 1024


class GrpcConfig(ComponentConfig):
    endpoint: str = Field(default="0.0.0.0:24317", description="host:port to listen on (default 0.0.0.0:24317)")
    max_recv_msg_size_mib: float = Field(
        default=16, gt=0, le=1024,
        description="Requests above this get RESOURCE_EXHAUSTED (default 16; the Collector's own default is 4)",
    )
    max_concurrent_streams: int | None = Field(
        default=None, gt=0, description="Concurrent requests before RESOURCE_EXHAUSTED (default: unbounded)"
    )


class HttpConfig(ComponentConfig):
    endpoint: str = Field(default="0.0.0.0:4318", description="host:port to listen on (default 0.0.0.0:4318)")
    max_request_body_size_mib: float = Field(default=20, gt=0, le=1024, description="Bodies above this get 413 (default 20)")


class OtlpReceiverConfig(ComponentConfig):
    grpc: GrpcConfig | None = Field(default_factory=GrpcConfig, description="gRPC server; null disables it")
    http: HttpConfig | None = Field(default=None, description="OTLP/HTTP server; off unless set (gateway mode)")
    validate_requests: bool = Field(
        default=True,
        description="Parse every request on arrival: malformed ones get INVALID_ARGUMENT here, not at the next hop "
                    "(default true; fails closed)",
    )


class OtlpReceiver(Receiver):
    def __init__(self, config: OtlpReceiverConfig, settings: CreateSettings) -> None:
        if config.grpc is None and config.http is None:
            raise ValueError("enable at least one of grpc and http")
        self.config = config
        self.id = settings.component_id
        self.telemetry: SelfTelemetry = settings.telemetry
        self.log = settings.logger
        self._consumers: dict[Signal, Consumer] = {}
        self._grpc = None
        self._health = None
        self._http_runner: web.AppRunner | None = None
        self.grpc_port: int | None = None
        self.http_port: int | None = None

    def attach(self, signal: Signal, consumer: Consumer) -> None:
        self._consumers[signal] = consumer

    def _admissions(self) -> dict[Signal, Admission]:
        return {
            s: Admission(s, c, receiver_id=self.id, telemetry=self.telemetry, validate=self.config.validate_requests)
            for s, c in self._consumers.items()
        }

    async def start(self) -> None:
        admissions = self._admissions()
        if self.config.grpc is not None:
            g = self.config.grpc
            self._grpc, self._health, self.grpc_port = build_grpc_server(
                g.endpoint, admissions, max_recv_bytes=int(g.max_recv_msg_size_mib * _MIB),
                max_concurrent_rpcs=g.max_concurrent_streams,
            )
            await self._grpc.start()
            await set_serving(self._health, [SERVICE_NAMES[s] for s in admissions], True)
            self.log.info("%s: OTLP gRPC on %s (port %s)", self.id, g.endpoint, self.grpc_port)
        if self.config.http is not None:
            h = self.config.http
            app = build_http_app(admissions, max_body_bytes=int(h.max_request_body_size_mib * _MIB))
            # auto_decompress off: the receiver inflates gzip itself, bounded by the body limit.
            self._http_runner = web.AppRunner(app, access_log=None, auto_decompress=False)
            await self._http_runner.setup()
            host, port = h.endpoint.rsplit(":", 1)
            site = web.TCPSite(self._http_runner, host.strip("[]"), int(port), reuse_port=True)
            await site.start()
            self.http_port = self._http_runner.addresses[0][1] if self._http_runner.addresses else int(port)
            self.log.info("%s: OTLP/HTTP on %s (port %s)", self.id, h.endpoint, self.http_port)

    async def drain(self, grace_s: float) -> None:
        """Stop taking requests and wait up to ``grace_s`` for in-flight ones to be acknowledged."""
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._grpc is not None:
            await self._grpc.stop(grace_s)
            self._grpc = None
        if self._http_runner is not None:
            await self._http_runner.shutdown()
            await self._http_runner.cleanup()
            self._http_runner = None

    async def shutdown(self) -> None:
        await self.drain(grace_s=0)


FACTORY = Factory(
    type="otlp",
    config_model=OtlpReceiverConfig,
    create=OtlpReceiver,
    stability="beta",
)
