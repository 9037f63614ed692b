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
  telemetry: {{metrics: {{level: none}}, logs: {{level: warn}}}}
"""


@contextlib.contextmanager
def otelcol_sink() -> Iterator[int]:
    """A Collector that acknowledges and discards (debug exporter, basic): the cheapest real next hop."""
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(_otelcol_config(port, "  debug/out: {verbosity: basic}").replace("exporters: [out]", "exporters: [debug/out]"))
    with process([str(OTELCOL), f"--config={f.name}"], port):
        yield port


@contextlib.contextmanager
def otelcol_passthrough(next_hop: int) -> Iterator[int]:
    """A Collector forwarding OTLP straight to ``next_hop`` (no processors): the Go baseline."""
    port = free_port()
    exporter = f'  otlp/out: {{endpoint: "127.0.0.1:{next_hop}", tls: {{insecure: true}}, compression: none}}'
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(_otelcol_config(port, exporter).replace("exporters: [out]", "exporters: [otlp/out]"))
    with process([str(OTELCOL), f"--config={f.name}"], port):
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


def drive(port: int, body: bytes, items: int, *, seconds: float = 3.0, concurrency: int = 4,
          name: str = "") -> Rate:
    """Send ``body`` (``items`` spans) over and over from ``concurrency`` callers for ``seconds``."""

    async def run() -> Rate:
        latencies: list[float] = []
        errors = 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}",
                                             options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
            call = ch.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
            for _ in range(3):  # warm up
                await call(body, timeout=30)
            stop_at = time.perf_counter() + seconds

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < stop_at:
                    t0 = time.perf_counter()
                    try:
                        await call(body, timeout=30)
                    except grpc.aio.AioRpcError:
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - t0)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - start
        if errors:
            raise RuntimeError(f"{name}: {errors} requests failed")
        return Rate(name, items, len(latencies), elapsed, latencies)

    return asyncio.run(run())
