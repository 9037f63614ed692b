"""A huge dirty request is redacted off the event loop: meanwhile the health
check and small exports still answer at once (processors/offload.py)."""

from __future__ import annotations

import asyncio
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.common import span_request
from processors.api import Payload, Signal
from processors.offload import Offload
from tests.processors.session_health.helpers import logs_request, record
from tests.support.otlp import kv
from tests.support.procs import free_port, running

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

CONFIG = """
receivers:
  otlp:
    grpc: {{endpoint: "127.0.0.1:{port}", max_recv_msg_size_mib: 64}}
processors:
  redaction:
    detectors: [email]
exporters:
  debug: {{verbosity: basic}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [redaction], exporters: [debug]}}
  server: {{{server}}}
"""


LOGS_CONFIG = """
receivers:
  otlp:
    grpc: {{endpoint: "127.0.0.1:{port}", max_recv_msg_size_mib: 64}}
processors:
  redaction:
    detectors: [email]
connectors:
  session_health:
    api: {{endpoint: "127.0.0.1:{api_port}"}}
exporters:
  debug: {{verbosity: basic}}
service:
  pipelines:
    logs: {{receivers: [otlp], processors: [redaction], exporters: [debug, session_health]}}
    metrics: {{receivers: [session_health], exporters: [debug]}}
"""
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def dirty_logs(records: int) -> bytes:
    """Session heartbeats of 5,000 sessions, each body naming a distinct email, at the current time."""
    now = time.time()
    recs = [record("heartbeat", ts=now - 1 + i / records, session=f"s-{i % 5000}",
                   attrs={"note": f"sent the invoice {i} to person{i}.x{i * 7919}@example.org"})
            for i in range(records)]
    return logs_request(*recs).SerializeToString()


def dirty_request(attributes: int) -> bytes:
    """One span whose every attribute holds a distinct email (no verdict repeats)."""
    req = span_request(1)
    span = req.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.extend(kv(f"app.contact_{i}", f"person{i}.x{i * 7919}@example.org") for i in range(attributes))
    return req.SerializeToString()


async def _timed(coro) -> float:
    t0 = time.perf_counter()
    await coro
    return time.perf_counter() - t0


async def _while_big_request_in_flight(port: int, big: bytes) -> tuple[list[float], list[float], float, bool]:
    target = f"127.0.0.1:{port}"
    opts = [("grpc.max_send_message_length", 64 << 20)]
    async with grpc.aio.insecure_channel(target, options=opts) as ch:
        export = ch.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
        health = health_pb2_grpc.HealthStub(ch)
        small = span_request(4).SerializeToString()
        await export(small, timeout=10)  # the channel is connected and warm
        t0 = time.perf_counter()
        big_call = asyncio.ensure_future(export(big, timeout=120))
        await asyncio.sleep(0.5)  # well into its redaction
        assert not big_call.done(), "the dirty request was too quick to show anything"
        health_s, export_s = [], []
        for _ in range(5):
            health_s.append(await _timed(health.Check(health_pb2.HealthCheckRequest(), timeout=10)))
            export_s.append(await _timed(export(small, timeout=10)))
            await asyncio.sleep(0.05)
        overlapped = not big_call.done()
        await big_call
        return health_s, export_s, time.perf_counter() - t0, overlapped


@pytest.mark.slow
async def test_health_and_small_exports_answer_while_a_huge_dirty_request_is_redacted(tmp_path):
    port = free_port()
    config = tmp_path / "offload.yaml"
    config.write_text(CONFIG.format(port=port, server=""))
    big = dirty_request(100_000)
    assert len(big) > 4 << 20
    argv = [sys.executable, "-m", "processors.cli", "serve", "--config", str(config)]
    with running(argv, port=port, log=tmp_path / "serve.log"):
        health_s, export_s, big_s, overlapped = await _while_big_request_in_flight(port, big)
    assert max(health_s) < 0.1, f"health check took {max(health_s):.3f}s while the big request ran {big_s:.1f}s"
    assert max(export_s) < 0.1, f"small export took {max(export_s):.3f}s while the big request ran {big_s:.1f}s"
    assert overlapped, f"the checks must overlap the dirty request ({big_s:.1f}s)"


@pytest.mark.slow
async def test_session_health_answers_while_huge_dirty_logs_pass_through_its_connector(tmp_path):
    import urllib.request

    port, api_port = free_port(), free_port()
    config = tmp_path / "offload-logs.yaml"
    config.write_text(LOGS_CONFIG.format(port=port, api_port=api_port))
    big = dirty_logs(30_000)
    health_url = f"http://127.0.0.1:{api_port}/session/health"

    def fleet_health() -> float:
        t0 = time.perf_counter()
        with urllib.request.urlopen(health_url, timeout=10) as r:
            assert r.status == 200
        return time.perf_counter() - t0

    argv = [sys.executable, "-m", "processors.cli", "serve", "--config", str(config)]
    env = {"SESSION_HEALTH_ADMIN_TOKEN": "offload-test-token"}
    with running(argv, port=port, log=tmp_path / "serve.log", env=env):
        opts = [("grpc.max_send_message_length", 64 << 20)]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=opts) as ch:
            export = ch.unary_unary(LOGS_EXPORT, request_serializer=None, response_deserializer=None)
            await asyncio.to_thread(fleet_health)
            big_call = asyncio.ensure_future(export(big, timeout=120))
            timings = []
            for _ in range(30):
                await asyncio.sleep(0.1)
                timings.append(await asyncio.to_thread(fleet_health))
                if big_call.done():
                    break
            await big_call
    assert len(timings) > 3, "the dirty logs were too quick to show anything"
    assert max(timings) < 0.1, f"/session/health took {max(timings):.3f}s while the dirty logs were processed"


def test_only_payloads_of_min_bytes_are_offloaded():
    offload = Offload(min_bytes=1000, workers=1)
    small = Payload(Signal.TRACES, raw=span_request(1).SerializeToString())
    big = Payload(Signal.TRACES, raw=dirty_request(50))
    edited = Payload(Signal.TRACES, message=ExportTraceServiceRequest.FromString(big.raw))
    assert len(small.raw) < 1000 <= len(big.raw)
    assert (offload.wants(small), offload.wants(big), offload.wants(edited)) == (False, True, False)
    assert Offload(min_bytes=0, workers=1).wants(small)


async def test_offloaded_work_runs_on_a_worker_thread_and_returns_its_result():
    import threading

    offload = Offload(min_bytes=0, workers=2)
    payload = Payload(Signal.TRACES, raw=span_request(2).SerializeToString())
    try:
        name, count = await offload.run(lambda p: (threading.current_thread().name, p.item_count()), payload)
    finally:
        offload.shutdown()
    assert name.startswith("otelproc-process") and count == 2


async def test_by_size_runs_small_work_here_and_large_work_on_a_worker_thread():
    import threading

    offload = Offload(min_bytes=100, workers=1)
    try:
        here = await offload.by_size(99, lambda: threading.current_thread().name)
        there = await offload.by_size(100, lambda: threading.current_thread().name)
    finally:
        offload.shutdown()
    assert here == threading.current_thread().name and there.startswith("otelproc-process")
