"""`otelproc` as an operator runs it: validate, components, serve and SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import grpc
import pytest

from bench.common import span_request
from processors.api import Signal
from tests.support.pipeline import Collector, count_items, read_sink
from tests.support.procs import REPO, Proc, free_port, wait_for_port

OTELPROC = [sys.executable, "-m", "processors.cli"]
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*OTELPROC, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=60)


def test_validate_accepts_the_shipped_configs():
    env = {**os.environ, "SESSION_HEALTH_ADMIN_TOKEN": "t0ken", "REDACTION_HMAC_KEY": "k" * 32}
    for name in ("passthrough.yaml", "pipeline.yaml", "standalone.yaml"):
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


# --- config errors never print a secret ------------------------------------------

SECRET = "S3cr3t-hunter2"
CONFIG = """\
receivers:
  otlp: {grpc: {endpoint: 127.0.0.1:0, max_recv_msg_size_mib: %(size)s}}
processors:
  redaction: {blocked_values: [%(pattern)s]}
connectors:
  session_health: {store: %(store)s, api: {endpoint: %(api)s}}
exporters:
  otlp: {endpoint: 127.0.0.1:1, compression: %(compression)s, timeout_s: %(timeout)s}
service:
  pipelines:
    traces: {receivers: [otlp], processors: [%(processor)s], exporters: [otlp]}
    logs: {receivers: [otlp], exporters: [session_health]}
    metrics: {receivers: [session_health], exporters: [otlp]}
"""
VALID = {"size": "4", "pattern": "'cust-[0-9]{8}'", "store": "memory", "api": "'127.0.0.1:0'",
         "compression": "gzip", "timeout": "5", "processor": "redaction"}
ENV_REF = "'${env:SECRET}'"


def validate_secretly(tmp_path, *, secret_env: str | None = None, text: str | None = None, **values: str):
    """``otelproc validate`` of CONFIG with ``values`` replaced; asserts it refuses without printing SECRET."""
    path = tmp_path / "config.yaml"
    path.write_text(text if text is not None else CONFIG % {**VALID, **values})
    env = {**os.environ, "SESSION_HEALTH_ADMIN_TOKEN": "t0ken-for-the-api"}
    if secret_env is not None:
        env["SECRET"] = secret_env
    res = run("validate", "--config", str(path), env=env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "config error: " in res.stderr, res.stderr
    assert "Traceback" not in res.stderr, res.stderr
    assert SECRET not in res.stderr, res.stderr
    return res.stderr


def test_the_shared_config_is_valid(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG % VALID)
    res = run("validate", "--config", str(path), env={**os.environ, "SESSION_HEALTH_ADMIN_TOKEN": "t"})
    assert res.returncode == 0, res.stderr


def test_validate_masks_the_password_of_a_url(tmp_path):
    err = validate_secretly(tmp_path, store=f"'http://u:{SECRET}@redis/0'")
    assert "connectors.session_health.store: " in err
    assert "http://u:****@redis/0" in err


@pytest.mark.parametrize("key", ["size", "compression", "timeout", "api"])
def test_validate_names_the_variable_of_a_value_from_the_environment(tmp_path, key):
    err = validate_secretly(tmp_path, secret_env=SECRET, **{key: ENV_REF})
    assert "(got the value of ${env:SECRET})" in err


def test_validate_hides_a_url_from_the_environment_whole(tmp_path):
    err = validate_secretly(tmp_path, secret_env=f"http://u:{SECRET}@redis/0", store=ENV_REF)
    assert "redis/0" not in err
    assert "connectors.session_health.store: " in err and "${env:SECRET}" in err


def test_validate_names_the_variable_of_a_value_partly_from_the_environment(tmp_path):
    err = validate_secretly(tmp_path, secret_env=SECRET, compression="'gz${env:SECRET}'")
    assert "(got a value made from ${env:SECRET})" in err


def test_validate_hides_an_undeclared_pipeline_entry_from_the_environment(tmp_path):
    err = validate_secretly(tmp_path, secret_env=SECRET, processor=ENV_REF)
    assert "service.pipelines.traces.processors[0]: processor '${env:SECRET}' is not declared" in err


def test_validate_hides_a_pattern_from_the_environment_that_the_factory_refuses(tmp_path):
    err = validate_secretly(tmp_path, secret_env=f"(?P<n>{SECRET})(?P<n>b)", pattern=ENV_REF)
    assert "processors.redaction: creating redaction processor: blocked_values[0]: " in err


def test_validate_quotes_no_rewritten_pattern_the_factory_refuses(tmp_path):
    # The scan's byte pattern widens "." and so differs from the value that came from the environment.
    err = validate_secretly(tmp_path, secret_env="(?P<n>S3cr3t.hunter2)(?P<n>b)", pattern=ENV_REF)
    assert "hunter2" not in err
    assert "blocked_values[0]: the fast-path scan cannot use the pattern: " in err


def test_validate_quotes_no_line_of_a_yaml_error(tmp_path):
    err = validate_secretly(tmp_path, compression=f"{SECRET}: x")
    assert "not valid YAML: while parsing a flow mapping (line 8, column 9): expected ',' or '}', but got ':'" in err


def test_validate_quotes_no_alias_of_a_yaml_error(tmp_path):
    err = validate_secretly(tmp_path, compression=f"*{SECRET}")
    assert "not valid YAML: found undefined alias" in err


def test_validate_refuses_a_tagged_value_that_does_not_convert(tmp_path):
    err = validate_secretly(tmp_path, size=f"!!int {SECRET}")
    assert "not valid YAML: a value does not convert" in err


def test_validate_takes_an_environment_value_that_does_not_convert_as_text(tmp_path):
    err = validate_secretly(tmp_path, secret_env=f"!!int {SECRET}", compression=ENV_REF)
    assert "exporters.otlp.compression: " in err and "(got the value of ${env:SECRET})" in err


def test_validate_names_an_unset_variable_not_a_value(tmp_path):
    err = validate_secretly(tmp_path, compression="'${env:SECRET_UNSET_HERE}'")
    assert "exporters.otlp.compression: environment variable SECRET_UNSET_HERE is not set" in err


def test_validate_quotes_no_body_of_an_unknown_component_type(tmp_path):
    text = (CONFIG % VALID).replace("  otlp: {endpoint: 127.0.0.1:1,",
                                    f"  otlphttp: {{headers: {{x-api: {SECRET}}}}}\n  otlp: {{endpoint: 127.0.0.1:1,")
    text = text.replace("exporters: [otlp]}\n    logs", "exporters: [otlp, otlphttp]}\n    logs")
    err = validate_secretly(tmp_path, text=text)
    assert "exporters.otlphttp: unknown exporter type 'otlphttp'" in err


# --- worker processes --------------------------------------------------------------

def _live_pids() -> dict[int, int]:
    """pid -> parent pid of every process that is not a zombie."""
    from pathlib import Path

    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                out[int(entry.name)] = int(fields[1])
    return out


def _children(pid: int) -> list[int]:
    return [child for child, parent in _live_pids().items() if parent == pid]


def _serve_passthrough(tmp_path, workers: int, port: int, **env: str) -> Proc:
    cfg = tmp_path / "passthrough.yaml"
    cfg.write_text((REPO / "processors" / "configs" / "passthrough.yaml").read_text())
    env = {"OTELPROC_WORKERS": str(workers), "OTELPROC_RECEIVER_ENDPOINT": f"127.0.0.1:{port}",
           "OTELPROC_NEXT_HOP": "127.0.0.1:1", "OTELPROC_METRICS_ADDRESS": f"127.0.0.1:{free_port()}", **env}
    return Proc([*OTELPROC, "serve", "--config", str(cfg)], log=tmp_path / "otelproc.log", env=env, cwd=REPO)


def test_one_worker_is_a_single_process_without_a_supervisor(tmp_path):
    port = free_port()
    proc = _serve_passthrough(tmp_path, 1, port)
    try:
        wait_for_port(port, proc=proc.popen)
        assert _children(proc.pid) == []
        assert "supervisor" not in proc.output()
    finally:
        assert proc.stop() == 0


def test_a_worker_that_cannot_listen_stops_the_supervisor_with_its_error(tmp_path):
    import socket

    port = free_port()
    with socket.socket() as taken:  # a listener without SO_REUSEPORT: nobody else may bind the port
        taken.bind(("127.0.0.1", port))
        taken.listen()
        proc = _serve_passthrough(tmp_path, 2, port)
        try:
            code = proc.popen.wait(30)
            out = proc.output()
        finally:
            proc.stop()
    assert code == 1, out[-2000:]
    assert f"cannot listen on 127.0.0.1:{port}" in out
    assert "worker 0 exited with 1 on start" in out


def test_workers_stop_when_their_supervisor_is_killed(tmp_path):
    port = free_port()
    proc = _serve_passthrough(tmp_path, 2, port)
    try:
        wait_for_port(port, proc=proc.popen)
        deadline = time.monotonic() + 30
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert len(workers) == 2
        proc.send(signal.SIGKILL)
        proc.popen.wait(10)
        deadline = time.monotonic() + 20
        while any(w in _live_pids() for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = [w for w in workers if w in _live_pids()]
        assert alive == [], "workers outlived their supervisor"
    finally:
        proc.stop()


def test_port_0_with_several_workers_set_is_a_config_error_naming_the_key(tmp_path):
    cfg = tmp_path / "port0.yaml"
    cfg.write_text((REPO / "processors" / "configs" / "passthrough.yaml").read_text())
    env = {**os.environ, "OTELPROC_RECEIVER_ENDPOINT": "127.0.0.1:0", "OTELPROC_WORKERS": "2",
           "OTELPROC_METRICS_ADDRESS": ""}
    for command in ("validate", "serve"):
        res = run(command, "--config", str(cfg), env=env)
        assert res.returncode == 2, res.stderr
        assert "config error: receivers.otlp.grpc.endpoint: port 0 would give each of the 2 workers" in res.stderr
    assert run("validate", "--config", str(cfg), env={**env, "OTELPROC_WORKERS": "1"}).returncode == 0
    # Unset, the count falls back to one process there (tests and tools listen on port 0).
    unset = {k: v for k, v in env.items() if k != "OTELPROC_WORKERS"}
    assert run("validate", "--config", str(cfg), env=unset).returncode == 0
