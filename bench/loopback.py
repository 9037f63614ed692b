"""Drive OTLP gRPC servers on loopback for benchmarks: a bounded load of
pre-serialised requests from a few concurrent callers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from bench.common import Rate

REPO = Path(__file__).resolve().parents[1]
OTELCOL = REPO / "bin" / "otelcol"
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing on :{port}")


@contextlib.contextmanager
def process(argv: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})}, cwd=REPO)
    try:
        _wait(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _otelcol_config(receive_port: int, exporter: str) -> str:
    return f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{receive_port}", max_recv_msg_size_mib: 64}}}}}}
exporters:
{exporter}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [out]}}
    logs: {{receivers: [otlp], exporters: [out]}}
  telemetry: {{metrics: {{level: none}}, logs: {{level: warn}}}}
"""


@contextlib.contextmanager
def otelcol_sink() -> Iterator[int]:
    """A Collector that acknowledges and discards (debug exporter, basic): the cheapest real next hop."""
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        config = _otelcol_config(port, "  debug/out: {verbosity: basic}")
        f.write(config.replace("exporters: [out]", "exporters: [debug/out]"))
    with process([str(OTELCOL), f"--config={f.name}"], port):
        yield port


def _otlp_out(next_hop: int) -> str:
    """The Collector's exporter to ``next_hop``, acknowledging a request only once the next hop has:
    otelproc's ``otlp`` exporter does, and the exporter's default in-memory queue would let the Collector
    answer first and forward afterwards, measuring how fast it queues rather than how fast it forwards
    (and leaving a backlog that the next measurement, on the same sink, pays for)."""
    return (f'  otlp/out: {{endpoint: "127.0.0.1:{next_hop}", tls: {{insecure: true}}, compression: none, '
            'sending_queue: {enabled: false}}')


@contextlib.contextmanager
def otelcol_passthrough(next_hop: int) -> Iterator[int]:
    """A Collector forwarding OTLP straight to ``next_hop`` (no processors): the Go baseline."""
    port = free_port()
    exporter = _otlp_out(next_hop)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(_otelcol_config(port, exporter).replace("exporters: [out]", "exporters: [otlp/out]"))
    with process([str(OTELCOL), f"--config={f.name}"], port):
        yield port


@contextlib.contextmanager
def otelcol_processing(binary: Path, next_hop: int, processors: str, names: list[str]) -> Iterator[int]:
    """A Collector (``binary``) running the ``processors`` block (YAML, two-space indented, under
    ``processors:``), ``names`` in order, between its OTLP receiver and an OTLP exporter to ``next_hop``."""
    port = free_port()
    exporter = _otlp_out(next_hop)
    config = _otelcol_config(port, exporter).replace("exporters: [out]", f"processors: [{', '.join(names)}], "
                                                                        "exporters: [otlp/out]")
    config += "processors:\n" + processors
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(config)
    with process([str(binary), f"--config={f.name}"], port):
        yield port


@contextlib.contextmanager
def otelproc(config_yaml: str, next_hop: int, env: dict[str, str] | None = None) -> Iterator[int]:
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(config_yaml)
    env = {"OTELPROC_RECEIVER_ENDPOINT": f"127.0.0.1:{port}", "OTELPROC_NEXT_HOP": f"127.0.0.1:{next_hop}",
           "OTELPROC_METRICS_ADDRESS": f"127.0.0.1:{free_port()}", **(env or {})}
    with process([sys.executable, "-m", "processors.cli", "--log-level", "WARNING", "serve", "--config", f.name],
                 port, env):
        yield port


def drive(port: int, body: bytes | list[bytes], items: int, *, seconds: float = 3.0, concurrency: int = 4,
          name: str = "", method: str = TRACE_EXPORT, rate: float | None = None, connections: int = 1) -> Rate:
    """Send ``body`` (``items`` items each; a list is sent in turn) from ``concurrency`` callers for
    ``seconds``: as fast as they are answered, or ``rate`` requests per second in all (each caller
    keeps its own schedule, so a slow answer does not lower the offered rate). The callers share
    ``connections`` TCP connections: a server with several processes on one SO_REUSEPORT port
    gets each connection in one of them, as it would from several senders."""
    bodies = body if isinstance(body, list) else [body]

    async def run() -> Rate:
        latencies: list[float] = []
        errors = 0
        # A subchannel pool per channel: otherwise channels with the same target share one connection.
        options = [("grpc.max_send_message_length", 64 << 20), ("grpc.use_local_subchannel_pool", 1)]
        async with contextlib.AsyncExitStack() as stack:
            calls = []
            for _ in range(max(1, connections)):
                ch = await stack.enter_async_context(grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options))
                calls.append(ch.unary_unary(method, request_serializer=None, response_deserializer=None))
            for call in calls:
                for b in bodies[:3]:  # warm up
                    await call(b, timeout=30)
            stop_at = time.perf_counter() + seconds

            async def worker(w: int) -> None:
                nonlocal errors
                call = calls[w % len(calls)]
                i = w
                interval = concurrency / rate if rate else 0.0
                next_at = time.perf_counter() + interval * w / concurrency
                while time.perf_counter() < stop_at:
                    if interval:
                        delay = next_at - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        next_at += interval
                    t0 = time.perf_counter()
                    try:
                        await call(bodies[i % len(bodies)], timeout=30)
                    except grpc.aio.AioRpcError:
                        errors += 1
                        continue
                    finally:
                        i += concurrency
                    latencies.append(time.perf_counter() - t0)

            start = time.perf_counter()
            await asyncio.gather(*(worker(w) for w in range(concurrency)))
            elapsed = time.perf_counter() - start
        if errors:
            raise RuntimeError(f"{name}: {errors} requests failed")
        return Rate(name, items, len(latencies), elapsed, latencies)

    return asyncio.run(run())
