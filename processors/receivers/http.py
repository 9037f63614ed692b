"""OTLP/HTTP (protobuf and JSON, optionally gzip) on aiohttp, for gateway mode.

Statuses follow the OTLP/HTTP spec: 200 on success, 400 for a malformed body,
413 over the size limit, 415 for an unknown content type, 503 with
Retry-After when the next hop is down (the client retries).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping

from aiohttp import web
from google.rpc import status_pb2

from processors.api import ExportError, MalformedPayload, Signal
from processors.server import Admission

PATHS: Mapping[Signal, str] = {Signal.TRACES: "/v1/traces", Signal.METRICS: "/v1/metrics", Signal.LOGS: "/v1/logs"}
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


def build_http_app(admissions: Mapping[Signal, Admission], *, max_body_bytes: int) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes)
    for signal, admission in admissions.items():
        app.router.add_post(PATHS[signal], _handler(admission, max_body_bytes))
    return app


def _handler(admission: Admission, max_body_bytes: int):
    signal = admission.signal

    async def handle(request: web.Request) -> web.Response:
        ctype = request.content_type
        if ctype not in (PROTOBUF, JSON):
            return _error(415, f"unsupported content type {ctype!r}; use {PROTOBUF} or {JSON}", JSON)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            admission.telemetry.refused(signal.value, "too_large")
            return _error(413, f"request body over {max_body_bytes} bytes", ctype)
        try:
            body = _decompress(body, request.headers.get("Content-Encoding", ""), max_body_bytes)
        except _TooLarge:
            admission.telemetry.refused(signal.value, "too_large")
            return _error(413, f"decompressed body over {max_body_bytes} bytes", ctype)
        except (OSError, zlib.error, EOFError) as exc:
            admission.telemetry.refused(signal.value, "malformed")
            return _error(400, f"bad Content-Encoding: {exc}", ctype)
        try:
            if ctype == JSON:
                from processors import otlp_json  # JSON only: keep the protobuf path import-light

                raw = otlp_json.decode(signal, body).SerializeToString()
            else:
                raw = body
            await admission.admit(admission.payload_of(raw))
        except MalformedPayload as exc:
            return _error(400, str(exc), ctype)
        except ExportError as exc:
            if exc.retryable:
                return _error(503, f"next hop unavailable: {exc}", ctype, headers={"Retry-After": "1"})
            return _error(400, f"next hop rejected the data: {exc}", ctype)
        if ctype == JSON:
            return web.Response(body=b"{}", content_type=JSON)
        return web.Response(body=signal.response_type().SerializeToString(), content_type=PROTOBUF)

    return handle


class _TooLarge(Exception):
    pass


# zlib window bits per Content-Encoding: gzip framing, or a zlib (deflate) stream.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    """Inflate ``body``, bounded: a small bomb must not expand past the body limit."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in _WBITS:
        raise OSError(f"unsupported encoding {encoding!r}")
    d = zlib.decompressobj(_WBITS[encoding])
    out = d.decompress(body, limit + 1)
    if len(out) > limit:
        raise _TooLarge
    if not d.eof:
        raise EOFError(f"truncated {encoding} stream")
    return out


def _error(status: int, message: str, ctype: str, headers: dict[str, str] | None = None) -> web.Response:
    # A google.rpc.Status body, as the OTLP/HTTP spec asks; the HTTP status carries the meaning.
    st = status_pb2.Status(message=message)
    if ctype == JSON:
        return web.Response(status=status, text=json.dumps({"message": message}), content_type=JSON, headers=headers)
    return web.Response(status=status, body=st.SerializeToString(), content_type=PROTOBUF, headers=headers)

