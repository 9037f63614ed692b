"""`make run`: the whole pipeline on this machine, with a live summary.

With bin/otelcol: otelcol (collector/gateway.yaml) → processors → otelcol →
sinks. Without it (no Go toolchain): gateway mode, where the processors take
OTLP on :4317/:4318 themselves and write the sinks. A sample emitter (the real
OTel Python SDK) sends traces, logs and metrics throughout. Ctrl-C stops
everything this command started, by PID.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
VAR = REPO / "var"
SINKS = VAR / "sinks"
OTELCOL = REPO / "bin" / "otelcol"
CONFIGS = Path(__file__).resolve().parent / "configs"

COLLECTOR_PORTS = {4317: "OTLP gRPC", 4318: "OTLP/HTTP", 14317: "otlp/processed", 8889: "prometheus exporter",
                   13133: "health_check", 8888: "otelcol self-metrics"}
PROCESSOR_PORTS = {24317: "processors OTLP gRPC", 8898: "processors self-metrics", 8890: "session-health API"}
GATEWAY_PORTS = {4317: "OTLP gRPC", 4318: "OTLP/HTTP", 8889: "prometheus exposition", 8898: "processors self-metrics"}


def _busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {VAR / 'logs'}")
        if _busy(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} is not listening on :{port} after {timeout}s; see {VAR / 'logs'}")


def _start(argv: list[str], name: str, env: dict[str, str]) -> subprocess.Popen:
    (VAR / "logs").mkdir(parents=True, exist_ok=True)
    log = open(VAR / "logs" / f"{name}.log", "ab")
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=REPO,
                            start_new_session=True)


def _self_metrics() -> dict[tuple[str, str], float]:
    """(signal, in|out|dropped) → items, from the processors' self-metrics; out = delivered by the pipeline's exporters."""
    out: dict[tuple[str, str], float] = {}
    try:
        with urllib.request.urlopen("http://127.0.0.1:8898/metrics", timeout=1) as r:
            text = r.read().decode()
    except OSError:
        return out
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "otelproc_received_items_total":
                out[(s.labels["signal"], "in")] = out.get((s.labels["signal"], "in"), 0) + s.value
            elif s.name == "otelproc_exported_items_total":
                # Each exporter of a pipeline gets every item: the busiest one is the pipeline's output.
                out[(s.labels["signal"], "out")] = max(out.get((s.labels["signal"], "out"), 0), s.value)
            elif s.name == "otelproc_dropped_items_total":
                out[(s.labels["signal"], "dropped")] = out.get((s.labels["signal"], "dropped"), 0) + s.value
    return out


def _summary(started: float) -> str:
    m = _self_metrics()
    parts = []
    for sig in ("traces", "metrics", "logs"):
        parts.append(f"{sig} in {int(m.get((sig, 'in'), 0))} out {int(m.get((sig, 'out'), 0))}"
                     + (f" dropped {int(m[(sig, 'dropped')])}" if m.get((sig, "dropped")) else ""))
    sinks = ", ".join(f"{p.relative_to(REPO)} ({p.stat().st_size // 1024} KiB)"
                      for p in sorted(SINKS.glob("*.jsonl")) if p.stat().st_size)
    return f"[{time.monotonic() - started:5.0f}s] " + " | ".join(parts) + f"\n        sinks: {sinks or '(none yet)'}"


def _local_secret(env_name: str, filename: str) -> str:
    """A secret from the environment, else a random one kept in var/ (0600) across runs."""
    if os.environ.get(env_name):
        return os.environ[env_name]
    path = VAR / filename
    if not path.exists():
        VAR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24))
    return path.read_text().strip()


def run_demo(*, duration: float | None = None, force_gateway: bool = False) -> int:
    gateway = force_gateway or not OTELCOL.exists()
    ports = GATEWAY_PORTS if gateway else {**COLLECTOR_PORTS, **PROCESSOR_PORTS}
    busy = [f":{p} ({what})" for p, what in ports.items() if _busy(p)]
    if busy:
        print(f"make run: ports already in use: {', '.join(busy)}. Stop what holds them and retry.", file=sys.stderr)
        return 1
    SINKS.mkdir(parents=True, exist_ok=True)
    for old in SINKS.glob("*.jsonl"):
        old.unlink()
    procs: list[tuple[str, subprocess.Popen]] = []
    emitter = None
    env = {"OTELCOL_SINK_DIR": str(SINKS), "OTELCOL_QUEUE_DIR": str(VAR / "otelcol" / "queue"),
           "OTELPROC_SINK_DIR": str(SINKS), "OTELPROC_RECEIVER_ENDPOINT": "127.0.0.1:24317",
           "OTELPROC_NEXT_HOP": "127.0.0.1:14317", "OTELPROC_METRICS_ADDRESS": "127.0.0.1:8898",
           "OTELPROC_ENDPOINT": "127.0.0.1:24317",
           "SESSION_HEALTH_ADMIN_TOKEN": _local_secret("SESSION_HEALTH_ADMIN_TOKEN", "session-health.token"),
           "REDACTION_HMAC_KEY": _local_secret("REDACTION_HMAC_KEY", "redaction-hmac.key")}
    try:
        if gateway:
            why = "--gateway" if force_gateway else "bin/otelcol is missing (no Go toolchain?)"
            print(f"==> gateway mode ({why}): the processors take OTLP on :4317/:4318 themselves")
            procs.append(("processors", _start([sys.executable, "-m", "processors.cli", "serve", "--config",
                                                str(CONFIGS / "gateway.yaml")], "processors", env)))
            _wait_port(4317, procs[-1][1], "processors")
        else:
            print("==> starting the processors (processors/configs/pipeline.yaml) on :24317")
            procs.append(("processors", _start([sys.executable, "-m", "processors.cli", "serve", "--config",
                                                str(CONFIGS / "pipeline.yaml")], "processors", env)))
            _wait_port(24317, procs[-1][1], "processors")
            print("==> starting otelcol (collector/gateway.yaml) on :4317/:4318")
            procs.append(("otelcol", _start([str(OTELCOL), f"--config={REPO / 'collector' / 'gateway.yaml'}"],
                                            "otelcol", env)))
            _wait_port(4317, procs[-1][1], "otelcol")
        print("==> sample emitter: the OTel Python SDK → 127.0.0.1:4317 (Ctrl-C to stop)")
        from services.sample_emitter import SampleEmitter

        emitter = SampleEmitter("127.0.0.1:4317")
        emitter.start()
        print(f"    logs: {VAR / 'logs'}   sinks: {SINKS}   processors metrics: http://127.0.0.1:8898/metrics"
              + ("" if gateway else "   Prometheus exposition: http://127.0.0.1:8889/metrics"))
        print(f"    session-health API: http://127.0.0.1:8890/session/health "
              f"(other routes need the bearer token in {VAR / 'session-health.token'})")
        started = time.monotonic()
        while duration is None or time.monotonic() - started < duration:
            time.sleep(2)
            for name, p in procs:
                if p.poll() is not None:
                    print(f"{name} exited with {p.returncode}; see {VAR / 'logs' / (name + '.log')}", file=sys.stderr)
                    return 1
            print(_summary(started), flush=True)
    except KeyboardInterrupt:
        print("\n==> stopping")
    except RuntimeError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    finally:
        if emitter is not None:
            emitter.stop()
            time.sleep(1.0)  # let the last batches through before the pipeline stops
        for name, p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
        if procs:
            print(_final_note())
    return 0


def _final_note() -> str:
    files = [f"  {p.relative_to(REPO)}: {sum(1 for _ in p.open())} requests" for p in sorted(SINKS.glob("*.jsonl"))]
    return "==> sinks written:\n" + ("\n".join(files) if files else "  (none)")
