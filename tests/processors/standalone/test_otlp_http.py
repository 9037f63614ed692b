"""OTLP/HTTP (standalone mode): protobuf and JSON bodies, gzip, and the OTLP/HTTP
status codes for every failure."""

from __future__ import annotations

import gzip
import json

import aiohttp

from bench.common import span_request
from processors.api import Signal
from tests.processors.conftest import serving
from tests.support.pipeline import Collector, count_items, read_sink

PB = "application/x-protobuf"


def http_yaml(next_hop: str, max_mib: float = 1) -> str:
    return f"""
receivers:
  otlp:
    grpc: null
    http: {{endpoint: "127.0.0.1:0", max_request_body_size_mib: {max_mib}}}
exporters:
  otlp: {{endpoint: "{next_hop}", timeout_s: 5}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
    logs: {{receivers: [otlp], exporters: [otlp]}}
"""


async def post(rt, path: str, body: bytes, ctype: str = PB, headers: dict | None = None) -> tuple[int, bytes, dict]:
    port = rt.service.receivers["otlp"].http_port
    url = f"http://127.0.0.1:{port}{path}"
    async with aiohttp.ClientSession() as s, s.post(url, data=body,
                                                    headers={"Content-Type": ctype, **(headers or {})}) as r:
        return r.status, await r.read(), dict(r.headers)


def _spans_in(col: Collector) -> int:
    return sum(count_items(Signal.TRACES, read_sink(path, Signal.TRACES)) for path in col.sink_paths(Signal.TRACES))


async def _until(predicate, timeout=10.0):
    import asyncio

    for _ in range(int(timeout / 0.1)):
        if predicate():
            return True
        await asyncio.sleep(0.1)
    return predicate()


async def test_protobuf_json_and_gzip_bodies_reach_the_next_hop(next_hop):
    async with serving(http_yaml(f"127.0.0.1:{next_hop.processed_port}")) as rt:
        from processors.standalone import otlp_json

        req = span_request(3)
        status, body, headers = await post(rt, "/v1/traces", req.SerializeToString())
        assert status == 200 and headers["Content-Type"] == PB
        json_body = otlp_json.encode(Signal.TRACES, span_request(4, seed=2)).encode()
        status, body, _ = await post(rt, "/v1/traces", json_body, "application/json")
        assert status == 200 and json.loads(body) == {}
        status, _, _ = await post(rt, "/v1/traces", gzip.compress(span_request(5, seed=3).SerializeToString()),
                                  headers={"Content-Encoding": "gzip"})
        assert status == 200
        assert await _until(lambda: _spans_in(next_hop) == 12)


async def test_next_hop_down_is_503_with_retry_after(closed_port):
    async with serving(http_yaml(closed_port)) as rt:
        status, _, headers = await post(rt, "/v1/logs", b"")  # an empty request is valid
        assert status == 503
        assert headers["Retry-After"] == "1"


async def test_malformed_bodies_are_400(closed_port):
    async with serving(http_yaml(closed_port)) as rt:
        assert (await post(rt, "/v1/traces", b"\x0a\xff\xff\xff\xff\x0f"))[0] == 400
        assert (await post(rt, "/v1/traces", b"{not json", "application/json"))[0] == 400
        assert (await post(rt, "/v1/traces", b"\x1f\x8b garbage", headers={"Content-Encoding": "gzip"}))[0] == 400


async def test_unknown_content_type_is_415(closed_port):
    async with serving(http_yaml(closed_port)) as rt:
        assert (await post(rt, "/v1/traces", b"x", "text/plain"))[0] == 415


async def test_oversized_body_and_gzip_bomb_are_413(closed_port):
    async with serving(http_yaml(closed_port, max_mib=0.05)) as rt:
        big = span_request(512).SerializeToString()
        assert (await post(rt, "/v1/traces", big))[0] == 413
        bomb = gzip.compress(b"\x00" * (4 << 20))  # 4 MiB of zeros in ~4 KiB
        assert len(bomb) < 0.05 * 1024 * 1024
        assert (await post(rt, "/v1/traces", bomb, headers={"Content-Encoding": "gzip"}))[0] == 413
        tel = rt.service.telemetry
        assert tel.value("otelproc_refused_requests_total", signal="traces", reason="too_large") == 2


async def test_no_pipeline_for_a_signal_is_404(closed_port):
    async with serving(http_yaml(closed_port)) as rt:
        assert (await post(rt, "/v1/metrics", b""))[0] == 404
