"""The ``otlp`` receiver: OTLP over gRPC (from the Collector, or from services
in standalone mode) and, optionally, OTLP/HTTP."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, Field

from processors.api import SERVICE_NAMES, Consumer, CreateSettings, Receiver, Signal
from processors.config import ComponentConfig
from processors.receivers.admission import Admission
from processors.receivers.otlp_grpc import build_grpc_server, set_serving
from processors.registry import Factory
from processors.standalone.otlp_http import HttpLimits, HttpServer
from processors.telemetry import SelfTelemetry
from processors.tls import GrpcServerTLSConfig, TLSServerConfig, grpc_server_credentials, server_ssl_context

_MIB = 1024 * 1024


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object) -> float:
    """A Go duration string ("10s", "1m30s", "250ms"), as the Collector's config spells them, in seconds."""
    if not isinstance(value, str):
        # A bare number would be nanoseconds to the Collector and seconds to a reader: refuse the guess.
        raise ValueError('expected a duration string with a unit, such as "10s" or "500ms"')
    text = value.strip()
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError('not a duration: use a number and a unit (ns, us, ms, s, m, h), such as "10s" or "1m30s"')
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]


class KeepaliveServerParameters(ComponentConfig):
    """The Collector's ``keepalive.server_parameters`` (configgrpc), each a Go duration; unset keeps grpc's default.

    ``max_connection_age`` is what spreads one Collector's load over several
    worker processes: the kernel hands each *connection* to a worker, so a
    client that keeps one connection keeps one worker busy until the server
    closes it and the client dials again.
    """

    max_connection_age: Duration | None = Field(
        default=None, gt=0,
        description='A connection older than this is sent GOAWAY and the client dials a new one, which may land '
                    'on another worker (default: unset, no limit)',
    )
    max_connection_age_grace: Duration | None = Field(
        default=None, gt=0,
        description="After max_connection_age, how long requests in flight may finish before the connection is "
                    "closed (default: unset, no limit)",
    )
    max_connection_idle: Duration | None = Field(
        default=None, gt=0,
        description="A connection with no request for this long is closed (default: unset, no limit)",
    )
    time: Duration | None = Field(
        default=None, gt=0,
        description="An idle connection is pinged after this long (default: unset, grpc's 2h)",
    )
    timeout: Duration | None = Field(
        default=None, gt=0,
        description="A ping not answered within this closes the connection (default: unset, grpc's 20s)",
    )

    def grpc_options(self) -> list[tuple[str, int]]:
        """The grpc core channel arguments for the keys that are set, in milliseconds."""
        names = {
            "max_connection_age": "grpc.max_connection_age_ms",
            "max_connection_age_grace": "grpc.max_connection_age_grace_ms",
            "max_connection_idle": "grpc.max_connection_idle_ms",
            "time": "grpc.keepalive_time_ms",
            "timeout": "grpc.keepalive_timeout_ms",
        }
        return [(arg, max(1, round(getattr(self, key) * 1000))) for key, arg in names.items()
                if getattr(self, key) is not None]


class GrpcKeepaliveConfig(ComponentConfig):
    server_parameters: KeepaliveServerParameters = Field(
        default_factory=KeepaliveServerParameters,
        description="Connection age, idleness and pings (default: every key unset)",
    )


class GrpcConfig(ComponentConfig):
    endpoint: str = Field(default="0.0.0.0:24317", description="host:port to listen on (default 0.0.0.0:24317)")
    max_recv_msg_size_mib: float = Field(
        default=16, gt=0, le=1024,
        description="Requests above this get RESOURCE_EXHAUSTED (default 16; the Collector's own default is 4)",
    )
    max_concurrent_streams: int | None = Field(
        default=None, gt=0, description="Concurrent requests before RESOURCE_EXHAUSTED (default: unbounded)"
    )
    keepalive: GrpcKeepaliveConfig | None = Field(
        default=None, description="Connection lifetime and keepalive pings, the Collector's own keys "
                                  "(default: unset, grpc's defaults: connections live forever)",
    )
    tls: GrpcServerTLSConfig | None = Field(
        default=None, description="TLS, the Collector's server keys; client_ca_file makes it mTLS (default: unset, "
                                  "cleartext)",
    )


class HttpConfig(ComponentConfig):
    endpoint: str = Field(default="0.0.0.0:4318", description="host:port to listen on (default 0.0.0.0:4318)")
    max_request_body_size_mib: float = Field(default=20, gt=0, le=1024,
                                             description="Bodies above this get 413 (default 20)")
    read_header_timeout: Duration = Field(
        default=10.0, gt=0,
        description='A request\'s headers must arrive within this of its first byte, or the connection is closed '
                    '(default "10s"; the Collector\'s is 1m)',
    )
    read_timeout: Duration = Field(
        default=30.0, gt=0,
        description='The whole request, body included, must arrive within this of its first byte, or it gets 408 '
                    'and the connection is closed (default "30s"; the Collector has none)',
    )
    idle_timeout: Duration = Field(
        default=60.0, gt=0,
        description='A kept-alive connection waiting longer than this for its next request is closed '
                    '(default "60s", as the Collector)',
    )
    max_connections: int = Field(
        default=512, gt=0,
        description="Open connections at most; one more gets 503 with Retry-After and is closed at once (default 512; "
                    "not a Collector key)",
    )
    tls: TLSServerConfig | None = Field(
        default=None, description="TLS, the Collector's server keys; client_ca_file makes it mTLS (default: unset, "
                                  "cleartext)",
    )


class OtlpReceiverConfig(ComponentConfig):
    grpc: GrpcConfig | None = Field(default_factory=GrpcConfig, description="gRPC server; null disables it")
    http: HttpConfig | None = Field(default=None, description="OTLP/HTTP server; off unless set (standalone mode)")
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
        self._offload = settings.offload
        self._consumers: dict[Signal, Consumer] = {}
        self._grpc = None
        self._health = None
        self._http: HttpServer | None = None
        self.grpc_port: int | None = None
        self.http_port: int | None = None

    def attach(self, signal: Signal, consumer: Consumer) -> None:
        self._consumers[signal] = consumer

    def _admissions(self) -> dict[Signal, Admission]:
        return {
            s: Admission(s, c, receiver_id=self.id, telemetry=self.telemetry, validate=self.config.validate_requests,
                         offload=self._offload)
            for s, c in self._consumers.items()
        }

    async def start(self) -> None:
        admissions = self._admissions()
        if self.config.grpc is not None:
            g = self.config.grpc
            self._grpc, self._health, self.grpc_port = build_grpc_server(
                g.endpoint, admissions, max_recv_bytes=int(g.max_recv_msg_size_mib * _MIB),
                max_concurrent_rpcs=g.max_concurrent_streams,
                options=g.keepalive.server_parameters.grpc_options() if g.keepalive else (),
                credentials=grpc_server_credentials(g.tls, name=f"{self.id} grpc") if g.tls else None,
            )
            await self._grpc.start()
            await set_serving(self._health, [SERVICE_NAMES[s] for s in admissions], True)
            self.log.info("%s: OTLP gRPC on %s (port %s%s)", self.id, g.endpoint, self.grpc_port, _tls_words(g.tls))
        if self.config.http is not None:
            h = self.config.http
            limits = HttpLimits(
                max_body_bytes=int(h.max_request_body_size_mib * _MIB), read_header_timeout=h.read_header_timeout,
                read_timeout=h.read_timeout, idle_timeout=h.idle_timeout, max_connections=h.max_connections,
            )
            self._http = HttpServer(admissions, self.telemetry, limits)
            host, port = h.endpoint.rsplit(":", 1)
            await self._http.start(host.strip("[]"), int(port),
                                   tls=server_ssl_context(h.tls, name=f"{self.id} http") if h.tls else None)
            self.http_port = self._http.port
            self.log.info("%s: OTLP/HTTP on %s (port %s%s)", self.id, h.endpoint, self.http_port, _tls_words(h.tls))

    async def drain(self, grace_s: float) -> None:
        """Stop taking requests and wait up to ``grace_s`` for in-flight ones to be acknowledged."""
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self._grpc is not None:
            await self._grpc.stop(grace_s)
            self._grpc = None
        if self._http is not None:
            await self._http.shutdown()
            self._http = None

    async def shutdown(self) -> None:
        await self.drain(grace_s=0)


def _tls_words(tls: TLSServerConfig | None) -> str:
    if tls is None:
        return ", cleartext"
    return ", mTLS" if tls.client_ca_file else ", TLS"


FACTORY = Factory(
    type="otlp",
    config_model=OtlpReceiverConfig,
    create=OtlpReceiver,
    stability="beta",
)
