"""OTLP/HTTP (protobuf and JSON, optionally gzip or deflate) on aiohttp, for standalone mode.

Statuses follow the OTLP/HTTP spec and the one table of ``processors.status``
(what the gRPC transport answers for the same refusal); every refusal is counted in
``otelproc_refused_requests_total{signal,reason}`` (``signal`` is empty when
the request named no signal's path, or had not been read yet):

| outcome                                         | status                 | reason                  |
|-------------------------------------------------|------------------------|-------------------------|
| forwarded                                       | 200                    |                         |
| malformed protobuf or OTLP/JSON                 | 400                    | malformed               |
| bad Content-Encoding, truncated or trailing data| 400                    | malformed               |
| body over max_request_body_size_mib (also after inflating) | 413         | too_large               |
| unknown Content-Type                            | 415                    | unsupported_media_type  |
| no pipeline for the path / not POST             | 404 / 405              | not_found / method_not_allowed |
| body not complete within read_timeout           | 408, connection closed | read_timeout            |
| headers not complete within read_header_timeout | connection closed      | read_header_timeout     |
| over max_connections open connections           | 503 + Retry-After, closed | too_many_connections |
| next hop down or timed out                      | 503 + Retry-After      | next_hop_unavailable    |
| next hop rejected the data for good             | 400                    | next_hop_rejected       |
| a bug                                           | 500                    | internal                |

A request with an AnyValue nested too deeply for the protobuf runtime is
accepted with that value truncated (``processors.receivers.admission``), and the
200 answer carries a partial-success ``error_message`` saying so.

Timeouts follow the Collector's confighttp (and Go's net/http): the headers of
a request must arrive within ``read_header_timeout`` of its first byte (of the
connection's opening, for the first request), the whole request within
``read_timeout`` of the same moment, and a keep-alive connection may wait
``idle_timeout`` for its next request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from google.rpc import status_pb2

from processors.api import ExportError, MalformedPayload, Signal
from processors.receivers.admission import Admission, partial_success
from processors.status import describe, refusal_of
from processors.telemetry import SelfTelemetry
from processors.tls import TlsAcceptor

log = logging.getLogger("otelproc.http")

PATHS: Mapping[Signal, str] = {Signal.TRACES: "/v1/traces", Signal.METRICS: "/v1/metrics", Signal.LOGS: "/v1/logs"}
_SIGNAL_OF_PATH = {path: signal for signal, path in PATHS.items()}
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_OVERLOADED = (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n"
               b"Content-Length: 0\r\n\r\n")


@dataclass(frozen=True)
class HttpLimits:
    """Bounds on what one client can hold (seconds; counts)."""

    max_body_bytes: int
    read_header_timeout: float = 10.0
    read_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_connections: int = 512


def build_http_app(admissions: Mapping[Signal, Admission], *, max_body_bytes: int,
                   telemetry: SelfTelemetry | None = None, limits: HttpLimits | None = None) -> web.Application:
    limits = limits or HttpLimits(max_body_bytes)
    if telemetry is None:
        telemetry = next(iter(admissions.values())).telemetry if admissions else SelfTelemetry()
    app = web.Application(client_max_size=max_body_bytes, middlewares=[_refusals(telemetry)])
    for signal, admission in admissions.items():
        app.router.add_post(PATHS[signal], _handler(admission, max_body_bytes, limits.read_timeout))
    return app


class HttpServer:
    """The OTLP/HTTP listener: an aiohttp app behind a guard on every connection
    (connection cap, header deadline); aiohttp's keep-alive timer is the idle timeout."""

    def __init__(self, admissions: Mapping[Signal, Admission], telemetry: SelfTelemetry, limits: HttpLimits) -> None:
        self.telemetry = telemetry
        self.limits = limits
        self.app = build_http_app(admissions, max_body_bytes=limits.max_body_bytes, telemetry=telemetry, limits=limits)
        # auto_decompress off: the receiver inflates bodies itself, bounded by the body limit.
        self._runner = web.AppRunner(self.app, access_log=None, auto_decompress=False,
                                     keepalive_timeout=limits.idle_timeout)
        self._listener: asyncio.base_events.Server | None = None
        self.connections: dict[object, _Guard] = {}  # aiohttp's protocol -> its guard
        self.port: int | None = None

    async def start(self, host: str, port: int, *, tls: ssl.SSLContext | None = None) -> None:
        """Listen on ``host:port``; TLS with ``tls`` (``processors.tls.server_ssl_context``), whose
        handshake comes before the guard sees the connection, and whose refusals are logged."""
        self.app[_SERVER_KEY] = self  # before setup: a started app is frozen
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()

        def connection() -> asyncio.Protocol:
            guard = _Guard(self, server())
            return guard if tls is None else TlsAcceptor(guard, tls, name="http")

        self._listener = await loop.create_server(connection, host, port, reuse_port=True)
        self.port = self._listener.sockets[0].getsockname()[1]

    async def shutdown(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        await self._runner.shutdown()
        await self._runner.cleanup()


_SERVER_KEY = web.AppKey("otelproc_http_server", HttpServer)
_STARTED = web.RequestKey("otelproc_request_started", float)  # loop time of the request's first byte


class _Guard(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection: refuses it over the connection
    cap, and closes it when a request's headers take longer than read_header_timeout.

    Composition rather than a subclass: only the asyncio Protocol API is relied on."""

    def __init__(self, server: HttpServer, inner: asyncio.Protocol) -> None:
        self.server = server
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.refused = False
        self.in_request = False
        self.request_started: float | None = None  # first byte of the current request
        self._header_timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if len(self.server.connections) >= self.server.limits.max_connections:
            self.refused = True
            self.server.telemetry.refused("", "too_many_connections")
            transport.write(_OVERLOADED)  # type: ignore[attr-defined]
            transport.close()
            return
        self.server.connections[self.inner] = self
        self.inner.connection_made(transport)
        self._begin_request()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        if not self.in_request and self._header_timer is None:
            self._begin_request()  # the first byte of the next request on a kept-alive connection
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self.refused else self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        if self.refused:
            return
        self.server.connections.pop(self.inner, None)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if not self.refused:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if not self.refused:
            self.inner.resume_writing()

    # --- request lifecycle, told by the middleware
    def _begin_request(self) -> None:
        loop = asyncio.get_running_loop()
        self.request_started = loop.time()
        self._cancel_header_timer()
        self._header_timer = loop.call_later(self.server.limits.read_header_timeout, self._header_timeout)

    def headers_done(self) -> None:
        self.in_request = True
        self._cancel_header_timer()

    def request_done(self) -> None:
        self.in_request = False
        self.request_started = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.in_request or self.transport is None or self.transport.is_closing():
            return
        self.server.telemetry.refused("", "read_header_timeout")
        self.transport.close()

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None


def _guard_of(request: web.Request) -> _Guard | None:
    server = request.app.get(_SERVER_KEY)
    return server.connections.get(request.protocol) if server is not None else None


def _refusals(telemetry: SelfTelemetry) -> Middleware:
    """Counts what aiohttp answers before a handler (404, 405) and turns a bug into a counted 500."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        guard = _guard_of(request)
        if guard is not None:
            guard.headers_done()
            request[_STARTED] = guard.request_started
        signal = _SIGNAL_OF_PATH.get(request.path)
        label = signal.value if signal is not None else ""
        try:
            return await handler(request)
        except web.HTTPNotFound:
            telemetry.refused(label, "not_found")
            raise
        except web.HTTPMethodNotAllowed:
            telemetry.refused(label, "method_not_allowed")
            raise
        except web.HTTPException:
            raise
        except Exception:  # a bug must not look like success, nor go uncounted
            log.exception("unexpected failure in OTLP/HTTP %s", request.path)
            telemetry.refused(label, "internal")
            ctype = JSON if request.content_type == JSON else PROTOBUF
            return _error(500, "internal error; see the processor log", ctype)
        finally:
            if guard is not None:
                guard.request_done()

    return middleware


def _handler(admission: Admission, max_body_bytes: int, read_timeout: float) -> Handler:
    signal = admission.signal
    refused = admission.telemetry.refused

    async def handle(request: web.Request) -> web.Response:
        ctype = request.content_type
        if ctype not in (PROTOBUF, JSON):
            refused(signal.value, "unsupported_media_type")
            return _error(415, f"unsupported content type {ctype!r}; use {PROTOBUF} or {JSON}", JSON)
        loop = asyncio.get_running_loop()
        started = request.get(_STARTED) or loop.time()
        try:
            async with asyncio.timeout_at(started + read_timeout):
                body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            refused(signal.value, "too_large")
            return _error(413, f"request body over {max_body_bytes} bytes", ctype)
        except TimeoutError:
            refused(signal.value, "read_timeout")
            resp = _error(408, f"request not received within read_timeout ({read_timeout:g}s)", ctype)
            resp.force_close()
            # Close now rather than linger reading the rest of a body that is not coming.
            await resp.prepare(request)
            await resp.write_eof()
            if request.transport is not None:
                request.transport.close()
            return resp
        try:
            body = _decompress(body, request.headers.get("Content-Encoding", ""), max_body_bytes)
        except _TooLarge:
            refused(signal.value, "too_large")
            return _error(413, f"decompressed body over {max_body_bytes} bytes", ctype)
        except (OSError, zlib.error, EOFError) as exc:
            refused(signal.value, "malformed")
            return _error(400, f"bad Content-Encoding: {exc}", ctype)
        try:
            if ctype == JSON:
                try:
                    if admission.offload is not None:
                        raw = await admission.offload.by_size(len(body), _json_to_protobuf, signal, body)
                    else:
                        raw = _json_to_protobuf(signal, body)
                except MalformedPayload:
                    refused(signal.value, "malformed")
                    raise
            else:
                raw = body
            payload = await admission.accept(raw)
            await admission.admit(payload)
        except (MalformedPayload, ExportError) as exc:
            refusal = refusal_of(exc)
            return _error(refusal.http_status, describe(exc), ctype, headers=refusal.http_headers)
        response = partial_success(signal, payload)
        if ctype == JSON:
            from google.protobuf import json_format

            return web.Response(text=json.dumps(json_format.MessageToDict(response)), content_type=JSON)
        return web.Response(body=response.SerializeToString(), content_type=PROTOBUF)

    return handle


def _json_to_protobuf(signal: Signal, body: bytes) -> bytes:
    from processors.standalone import otlp_json  # JSON only: keep the protobuf path import-light

    return otlp_json.decode(signal, body).SerializeToString()


class _TooLarge(Exception):
    pass


# zlib window bits per Content-Encoding: gzip framing, or a zlib (deflate) stream.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
# Input fed to zlib per call: a new member starts small (unused_data copies what is left of the
# chunk, once per member), then grows so that one large member costs few calls.
_FIRST_CHUNK = 1 << 10
_MAX_CHUNK = 1 << 18
_GZIP_MAGIC = b"\x1f\x8b"


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Inflate ``body``, bounded: a small bomb must not expand past the body limit.

    gzip reads every member (``cat a.gz b.gz`` is one valid gzip stream, RFC 1952
    section 2.2) and the limit bounds their total. Bytes after the last member
    that are not another member, or after a deflate (zlib) stream, are refused:
    the request would otherwise be acknowledged with part of it unread.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in _WBITS:
        raise OSError(f"unsupported encoding {encoding!r}")
    wbits = _WBITS[encoding]
    data = memoryview(body)
    out = bytearray()
    pos = 0
    while True:  # one iteration per gzip member
        d = zlib.decompressobj(wbits)
        chunk = _FIRST_CHUNK
        while not d.eof:
            if pos >= len(data):
                raise EOFError(f"truncated {encoding} stream")
            piece = data[pos:pos + chunk]
            # max_length is never 0 (0 would mean unbounded): len(out) <= limit here.
            out += d.decompress(piece, limit + 1 - len(out))
            if len(out) > limit:
                raise _TooLarge
            # Under the output bound all of ``piece`` was consumed; what follows the stream's end is unused_data.
            pos += len(piece) - len(d.unused_data) - len(d.unconsumed_tail)
            chunk = min(chunk * 2, _MAX_CHUNK)
        if pos == len(data):
            return bytes(out)
        if encoding != "gzip":
            raise OSError(f"{len(data) - pos} bytes after the end of the {encoding} stream")
        if data[pos:pos + 2] != _GZIP_MAGIC:
            raise OSError(f"{len(data) - pos} bytes after the last gzip member that are not a gzip member")


def _error(status: int, message: str, ctype: str, headers: dict[str, str] | None = None) -> web.Response:
    # A google.rpc.Status body, as the OTLP/HTTP spec asks; the HTTP status carries the meaning.
    st = status_pb2.Status(message=message)
    if ctype == JSON:
        return web.Response(status=status, text=json.dumps({"message": message}), content_type=JSON, headers=headers)
    return web.Response(status=status, body=st.SerializeToString(), content_type=PROTOBUF, headers=headers)

