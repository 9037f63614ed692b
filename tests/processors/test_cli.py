"""`otelproc` as an operator runs it: validate, components, serve and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import grpc

from bench.common import span_request
from tests.support.pipeline import Collector, count_items, read_sink
from processors.api import Signal
from tests.support.procs import REPO, Proc, free_port, wait_for_port

OTELPROC = [sys.executable, "-m", "processors.cli"]
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*OTELPROC, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=60)


def test_validate_accepts_the_shipped_configs():
    env = {**os.environ, "SESSION_HEALTH_ADMIN_TOKEN": "t0ken", "REDACTION_HMAC_KEY": "k" * 32}
    for name in ("passthrough.yaml", "pipeline.yaml", "gateway.yaml"):
        res = run("validate", "--config", str(REPO / "processors" / "configs" / name), env=env)
        assert res.returncode == 0, res.stderr
        assert "valid" in res.stdout


def test_validate_names_the_key_path_and_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "processors" / "configs" / "passthrough.yaml").read_text()
                   .replace("traces: {receivers: [otlp], exporters: [otlp]}",
                            "traces: {receivers: [otlp], processors: [nope], exporters: [otlp]}"))
    res = run("validate", "--config", str(bad))
    assert res.returncode == 2
    assert "config error: service.pipelines.traces.processors[0]: processor 'nope' is not declared" in res.stderr


def test_a_missing_config_file_is_a_clear_error(tmp_path):
    res = run("validate", "--config", str(tmp_path / "absent.yaml"))
    assert res.returncode == 2
    assert "cannot read config" in res.stderr


def test_components_lists_the_installed_types():
    res = run("components")
    assert res.returncode == 0
    lines = dict(line.split(": ", 1) for line in res.stdout.strip().splitlines())
    assert "otlp" in lines["receivers"].split(", ")
    assert {"otlp", "file", "prometheus"} <= set(lines["exporters"].split(", "))


def test_sigterm_drains_in_flight_requests_then_exits_0(otelcol, tmp_path):
    """Requests keep flowing while SIGTERM arrives: every one that got OK is at the next hop."""
    col = Collector(tmp_path / "otelcol")
    col.workdir.mkdir()
    col.start()
    port = free_port()
    env = {"OTELPROC_RECEIVER_ENDPOINT": f"127.0.0.1:{port}", "OTELPROC_NEXT_HOP": f"127.0.0.1:{col.processed_port}",
           "OTELPROC_METRICS_ADDRESS": f"127.0.0.1:{free_port()}"}
    proc = Proc([*OTELPROC, "serve", "--config", str(REPO / "processors" / "configs" / "passthrough.yaml")],
                log=tmp_path / "otelproc.log", env=env, cwd=REPO)
    try:
        wait_for_port(port, proc=proc.popen)
        acked, refused = [], []

        def send() -> None:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                call = ch.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
                for i in range(400):
                    try:
                        call(span_request(10, seed=i).SerializeToString(), timeout=5)
                        acked.append(i)
                    except grpc.RpcError:
                        refused.append(i)
                        if len(refused) > 3:
                            return

        sender = threading.Thread(target=send)
        sender.start()
        while len(acked) < 20:
            time.sleep(0.01)
        proc.send(signal.SIGTERM)
        sender.join(30)
        assert proc.popen.wait(20) == 0
        assert "draining" in proc.output() and "stopped" in proc.output()
        assert refused, "the server kept accepting after SIGTERM"
        expected = len(acked) * 10
        deadline = time.monotonic() + 15
        got = 0
        while time.monotonic() < deadline and got < expected:
            got = sum(count_items(Signal.TRACES, read_sink(p, Signal.TRACES)) for p in col.sink_paths(Signal.TRACES))
            time.sleep(0.2)
        assert got == expected, f"{len(acked)} requests acknowledged, {got // 10} delivered"
    finally:
        proc.stop()
        col.stop()
