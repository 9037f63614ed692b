"""OTLP/HTTP under bad or hostile clients: gzip members and trailing bytes,
slow headers and bodies, too many connections, and every refusal counted."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
import zlib

import aiohttp
import pytest

from bench.common import span_request
from processors.api import Exporter, Payload
from processors.config import ComponentConfig, ConfigError, parse_config
from processors.receivers.otlp import parse_duration
from processors.registry import Factory, Registry
from processors.standalone.otlp_http import _decompress, _TooLarge
from tests.processors.conftest import serving

PB = "application/x-protobuf"


class _RecordConfig(ComponentConfig):
    pass


class _Recording(Exporter):
    """A next hop that keeps what it was given."""

    def __init__(self, _config, _settings) -> None:
        self.delivered: list[Payload] = []

    async def export(self, payload: Payload) -> None:
        self.delivered.append(payload)


RECORDING = Registry(extra={"exporters": {"record": Factory(type="record", config_model=_RecordConfig,
                                                           create=_Recording)}})


def http_yaml(http_extra: str = "", max_mib: float = 1) -> str:
    return f"""
receivers:
  otlp:
    grpc: null
    http: {{endpoint: "127.0.0.1:0", max_request_body_size_mib: {max_mib}{http_extra}}}
exporters:
  record: {{}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [record]}}
"""


def _port(rt) -> int:
    return rt.service.receivers["otlp"].http_port


def _spans_delivered(rt) -> int:
    return sum(p.item_count() for p in rt.service.exporters["record"].delivered)


async def post(rt, path: str, body: bytes, ctype: str = PB, headers: dict | None = None) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{_port(rt)}{path}"
    async with aiohttp.ClientSession() as s, s.post(url, data=body,
                                                    headers={"Content-Type": ctype, **(headers or {})}) as r:
        return r.status, await r.read()


def _refused(rt, reason: str, signal: str = "traces") -> float:
    return rt.service.telemetry.value("otelproc_refused_requests_total", signal=signal, reason=reason)


# --- compressed bodies ------------------------------------------------------------


async def test_every_gzip_member_reaches_the_next_hop():
    a, b = span_request(3).SerializeToString(), span_request(4, seed=2).SerializeToString()
    async with serving(http_yaml(), RECORDING) as rt:
        status, _ = await post(rt, "/v1/traces", gzip.compress(a) + gzip.compress(b),
                               headers={"Content-Encoding": "gzip"})
        assert status == 200
        assert _spans_delivered(rt) == 7


@pytest.mark.parametrize(("encoding", "packed"), [
    ("gzip", gzip.compress(span_request(2).SerializeToString()) + b"garbage"),
    ("gzip", gzip.compress(span_request(2).SerializeToString()) + b"\x00" * 8),
    ("deflate", zlib.compress(span_request(2).SerializeToString()) + b"garbage"),
    ("deflate", zlib.compress(span_request(2).SerializeToString()) + zlib.compress(b"x")),
], ids=["gzip-garbage", "gzip-zero-padding", "deflate-garbage", "deflate-second-stream"])
async def test_bytes_after_the_compressed_stream_are_400(encoding, packed):
    async with serving(http_yaml(), RECORDING) as rt:
        status, _ = await post(rt, "/v1/traces", packed, headers={"Content-Encoding": encoding})
        assert status == 400
        assert _spans_delivered(rt) == 0
        assert _refused(rt, "malformed") == 1


def test_decompress_bounds_the_members_together():
    member = gzip.compress(b"\x00" * 1000)
    assert _decompress(member * 3, "gzip", 3000) == b"\x00" * 3000
    with pytest.raises(_TooLarge):
        _decompress(member * 3, "gzip", 2999)


def test_decompress_refuses_a_cut_second_member():
    second = gzip.compress(b"b" * 100)
    with pytest.raises(EOFError):
        _decompress(gzip.compress(b"a") + second[:-3], "gzip", 1000)


def test_many_empty_members_decompress_in_linear_time():
    body = gzip.compress(b"") * 50_000  # 1 MiB of 20-byte members
    t0 = time.perf_counter()
    assert _decompress(body, "gzip", 1 << 20) == b""
    assert time.perf_counter() - t0 < 5


async def test_gzip_bomb_of_many_members_is_413_fast():
    bomb = gzip.compress(b"\x00" * (1 << 20)) * 40  # 40 MiB inflated, ~40 KiB sent
    async with serving(http_yaml(), RECORDING) as rt:
        t0 = time.perf_counter()
        status, _ = await post(rt, "/v1/traces", bomb, headers={"Content-Encoding": "gzip"})
        assert status == 413 and time.perf_counter() - t0 < 2
        assert _refused(rt, "too_large") == 1


# --- refusals are counted -----------------------------------------------------------


async def test_every_refusal_is_counted():
    async with serving(http_yaml(), RECORDING) as rt:
        assert (await post(rt, "/v1/traces", b"x", "text/plain"))[0] == 415
        assert (await post(rt, "/v1/traces", b"{not json", "application/json"))[0] == 400
        assert (await post(rt, "/v1/logs", b""))[0] == 404
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{_port(rt)}/v1/traces") as r:
            assert r.status == 405
        assert _refused(rt, "unsupported_media_type") == 1
        assert _refused(rt, "malformed") == 1
        assert _refused(rt, "not_found", signal="logs") == 1
        assert _refused(rt, "method_not_allowed") == 1


async def test_a_bug_is_a_counted_500_without_a_traceback():
    class BrokenProcessorConfig(ComponentConfig):
        pass

    from processors.api import Processor

    class BrokenProcessor(Processor):
        def __init__(self, *_):
            pass

        def process(self, payload):
            raise KeyError("a bug")

    reg = Registry(extra={"processors": {"broken": Factory(type="broken", config_model=BrokenProcessorConfig,
                                                           create=BrokenProcessor)},
                          "exporters": {"record": Factory(type="record", config_model=_RecordConfig,
                                                          create=_Recording)}})
    cfg = http_yaml().replace("traces: {receivers: [otlp], exporters: [record]}",
                              "traces: {receivers: [otlp], processors: [broken], exporters: [record]}")
    cfg = cfg.replace("exporters:\n  record: {}", "processors:\n  broken: {}\nexporters:\n  record: {}")
    async with serving(cfg, reg) as rt:
        status, body = await post(rt, "/v1/traces", span_request(1).SerializeToString())
        assert status == 500
        assert b"Traceback" not in body and b"KeyError" not in body
        assert _refused(rt, "internal") == 1


# --- timeouts and the connection cap --------------------------------------------------


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed ``sock`` within ``seconds``, and what it sent before."""
    sock.settimeout(seconds)
    got = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True, got
            got += chunk
    except TimeoutError:
        return False, got
    except ConnectionResetError:
        return True, got


async def test_slow_headers_are_disconnected_and_others_are_served():
    async with serving(http_yaml(', read_header_timeout: "1s", read_timeout: "5s"'), RECORDING) as rt:
        port = _port(rt)

        def slowloris() -> tuple[bool, float]:
            sock = _connect(port)
            t0 = time.monotonic()
            try:
                sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
                for _ in range(30):  # a header line every 0.2 s, never finished
                    time.sleep(0.2)
                    try:
                        sock.sendall(b"X-Slow: 1\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        return True, time.monotonic() - t0
                closed, _ = _closed_within(sock, 0.1)
                return closed, time.monotonic() - t0
            finally:
                sock.close()

        task = asyncio.create_task(asyncio.to_thread(slowloris))
        await asyncio.sleep(0.3)
        status, _ = await post(rt, "/v1/traces", span_request(2).SerializeToString())  # others are served meanwhile
        assert status == 200
        closed, after = await task
        assert closed and after < 3
        assert _refused(rt, "read_header_timeout", signal="") == 1


async def test_a_connection_that_sends_nothing_is_closed_after_read_header_timeout():
    async with serving(http_yaml(', read_header_timeout: "500ms"'), RECORDING) as rt:
        sock = _connect(_port(rt))
        try:
            closed, _ = await asyncio.to_thread(_closed_within, sock, 3)
        finally:
            sock.close()
        assert closed


async def test_a_body_shorter_than_its_content_length_gets_408_within_read_timeout():
    async with serving(http_yaml(', read_timeout: "1s"'), RECORDING) as rt:
        sock = _connect(_port(rt))
        try:
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                         b"Content-Length: 1000\r\n\r\n" + b"\x0a" * 10)
            t0 = time.monotonic()
            closed, got = await asyncio.to_thread(_closed_within, sock, 4)
            elapsed = time.monotonic() - t0
        finally:
            sock.close()
        assert closed and elapsed < 3
        assert got.startswith(b"HTTP/1.1 408 ")
        assert _refused(rt, "read_timeout") == 1
        assert (await post(rt, "/v1/traces", span_request(1).SerializeToString()))[0] == 200


async def test_over_max_connections_is_503_at_once_and_closed():
    async with serving(http_yaml(", max_connections: 2"), RECORDING) as rt:
        port = _port(rt)
        held = [_connect(port), _connect(port)]
        try:
            await asyncio.sleep(0.2)
            extra = _connect(port)
            try:
                t0 = time.monotonic()
                closed, got = await asyncio.to_thread(_closed_within, extra, 3)
                assert closed and time.monotonic() - t0 < 1
                assert got.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1" in got
            finally:
                extra.close()
            assert _refused(rt, "too_many_connections", signal="") == 1
        finally:
            for sock in held:
                sock.close()
        await asyncio.sleep(0.2)  # the held connections are gone: a new one is served
        assert (await post(rt, "/v1/traces", span_request(1).SerializeToString()))[0] == 200


async def test_a_kept_alive_connection_idle_past_idle_timeout_is_closed():
    async with serving(http_yaml(', idle_timeout: "500ms"'), RECORDING) as rt:
        body = span_request(1).SerializeToString()
        sock = _connect(_port(rt))
        try:
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            closed, got = await asyncio.to_thread(_closed_within, sock, 4)
        finally:
            sock.close()
        assert got.startswith(b"HTTP/1.1 200 ") and closed


# --- config ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("1m30s", 90), ("250ms", 0.25), ("1.5h", 5400),
                                               ("100us", 1e-4), ("2µs", 2e-6)])
def test_durations_are_go_duration_strings(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("value", "problem"), [
    ("10", "not a duration"), ("10 s", "not a duration"), ("s", "not a duration"), (10, "duration string"),
    ('"0s"', "greater than 0"),
])
def test_bad_durations_name_the_key(value, problem):
    from processors.pipeline import build_service

    shown = value if not isinstance(value, str) or value.startswith(chr(34)) else repr(value)
    cfg = http_yaml(f", read_header_timeout: {shown}")
    with pytest.raises(ConfigError) as err:
        build_service(parse_config(cfg), registry=RECORDING)
    assert err.value.path == "receivers.otlp.http.read_header_timeout"
    assert problem in err.value.problem


@pytest.mark.parametrize("body", [
    '{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano": %s}]}]}]}' % ("1" * 5000),
    '{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind": NaN}]}]}]}',
    '{"resourceSpans":[{"scopeSpans":[{"spans":[{"name": "a", "name": "b"}]}]}]}',
], ids=["long-int", "nan-enum", "duplicate-key"])
async def test_ambiguous_json_bodies_are_counted_400s(body):
    async with serving(http_yaml(), RECORDING) as rt:
        status, answer = await post(rt, "/v1/traces", body.encode(), "application/json")
        assert status == 400 and b"malformed OTLP/JSON" in answer
        assert _refused(rt, "malformed") == 1 and _refused(rt, "internal") == 0
        assert _spans_delivered(rt) == 0
