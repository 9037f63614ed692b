"""The whole pipeline on free loopback ports: the real bin/otelcol running
collector/gateway.yaml, and the Python processors running a given config.

    with collector_pipeline(tmp_path, PASSTHROUGH) as p:
        send SDK telemetry to p.otlp_grpc_endpoint
        p.wait_for(Signal.TRACES, lambda reqs: count_spans(reqs) >= 10)

With ``split_egress=True`` a second otelcol instance (the same gateway.yaml)
is the processors' next hop and owns the sinks, so a test can stop and
restart the next hop while the ingress Collector keeps queueing.

``overlays`` are Collector configs merged after gateway.yaml on the Collector
that owns the sinks (e.g. ``BACKENDS``, the fan-out to the trace and log
stores), and ``collector_env`` is its extra environment (the stores' endpoints).
"""

from __future__ import annotations

import contextlib
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from processors.api import Signal
from tests.support.procs import REPO, Proc, free_port, wait_for_port
from tests.support.servers import otelcol_path

GATEWAY = REPO / "collector" / "gateway.yaml"
BACKENDS = REPO / "collector" / "overlays" / "backends.yaml"
PASSTHROUGH = (REPO / "processors" / "configs" / "passthrough.yaml").read_text()


@dataclass
class Collector:
    """One otelcol process running gateway.yaml."""

    workdir: Path
    otlp_grpc_port: int = field(default_factory=free_port)
    otlp_http_port: int = field(default_factory=free_port)
    processed_port: int = field(default_factory=free_port)
    prometheus_port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=free_port)
    self_metrics_port: int = field(default_factory=free_port)
    zpages_port: int = field(default_factory=free_port)
    # The processor replicas this Collector load-balances to (a closed port when only its egress is used).
    processors_endpoints: list[str] = field(default_factory=lambda: ["127.0.0.1:1"])
    proc: Proc | None = None
    generation: int = 0
    # Configs merged after gateway.yaml, and extra environment for them.
    overlays: list[Path] = field(default_factory=list)
    env_extra: dict[str, str] = field(default_factory=dict)

    @property
    def sink_dir(self) -> Path:
        return self.workdir / f"sinks-{self.generation}"

    def env(self) -> dict[str, str]:
        return {
            "OTELCOL_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{self.otlp_grpc_port}",
            "OTELCOL_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{self.otlp_http_port}",
            "OTELCOL_PROCESSED_ENDPOINT": f"127.0.0.1:{self.processed_port}",
            "OTELCOL_PROMETHEUS_ENDPOINT": f"127.0.0.1:{self.prometheus_port}",
            "OTELCOL_HEALTH_ENDPOINT": f"127.0.0.1:{self.health_port}",
            "OTELCOL_ZPAGES_ENDPOINT": f"127.0.0.1:{self.zpages_port}",
            "OTELCOL_SELF_METRICS_PORT": str(self.self_metrics_port),
            "OTELCOL_QUEUE_DIR": str(self.workdir / "queue"),
            "OTELCOL_SINK_DIR": str(self.sink_dir),
            "OTELPROC_HOSTNAMES": "[" + ", ".join(self.processors_endpoints) + "]",
            **self.env_extra,
        }

    def start(self) -> None:
        """Start (or restart: sinks of each run go to a new directory, the queue stays)."""
        self.generation += 1
        self.sink_dir.mkdir(parents=True, exist_ok=True)
        configs = [f"--config={c}" for c in (GATEWAY, *self.overlays)]
        self.proc = Proc([otelcol_path(), *configs], log=self.workdir / "otelcol.log", env=self.env())
        try:
            for port in (self.health_port, self.otlp_grpc_port, self.processed_port):
                wait_for_port(port, timeout=30, proc=self.proc.popen)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"otelcol did not start: {exc}\n{self.proc.output()[-4000:]}") from None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=20)
            self.proc = None

    def sink_paths(self, signal: Signal) -> list[Path]:
        return [self.workdir / f"sinks-{g}" / f"{signal.value}.jsonl" for g in range(1, self.generation + 1)]


@dataclass
class Processors:
    """The otelproc server running one config."""

    workdir: Path
    config_yaml: str
    next_hop: str
    env_extra: dict[str, str]
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    proc: Proc | None = None

    def start(self) -> None:
        cfg = self.workdir / "processors.yaml"
        cfg.write_text(self.config_yaml)
        env = {
            "OTELPROC_RECEIVER_ENDPOINT": f"127.0.0.1:{self.port}",
            "OTELPROC_NEXT_HOP": self.next_hop,
            "OTELPROC_METRICS_ADDRESS": f"127.0.0.1:{self.metrics_port}",
            **self.env_extra,
        }
        self.proc = Proc([sys.executable, "-m", "processors.cli", "serve", "--config", str(cfg)],
                         log=self.workdir / "processors.log", env=env, cwd=REPO)
        try:
            wait_for_port(self.port, timeout=30, proc=self.proc.popen)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"otelproc did not start: {exc}\n{self.proc.output()[-4000:]}") from None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=20)
            self.proc = None

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            return r.read().decode()


@dataclass
class PipelineHandle:
    ingress: Collector
    egress: Collector
    processors: Processors

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.ingress.otlp_grpc_port}"

    @property
    def otlp_http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ingress.otlp_http_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.egress.prometheus_port}/metrics"

    @property
    def processors_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.processors.metrics_port}/metrics"

    def sink_path(self, signal: Signal) -> Path:
        return self.egress.sink_paths(signal)[-1]

    def read(self, signal: Signal) -> list[Any]:
        """Every request the egress Collector's file exporter wrote, parsed, across restarts."""
        return [req for path in self.egress.sink_paths(signal) for req in read_sink(path, signal)]

    def wait_for(self, signal: Signal, predicate: Callable[[list[Any]], bool], timeout: float = 30.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            reqs = self.read(signal)
            if predicate(reqs):
                return reqs
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{signal.value}: condition not met after {timeout}s ({len(reqs)} requests in the sink)\n"
                    f"--- processors log ---\n{self.processors.proc.output()[-3000:] if self.processors.proc else ''}"
                )
            time.sleep(0.2)

    def scrape(self) -> str:
        with urllib.request.urlopen(self.prometheus_url, timeout=5) as r:
            return r.read().decode()


@contextlib.contextmanager
def collector_pipeline(tmp: Path, processors_yaml: str = PASSTHROUGH, *, env: dict[str, str] | None = None,
                       split_egress: bool = False, overlays: list[Path] | None = None,
                       collector_env: dict[str, str] | None = None) -> Iterator[PipelineHandle]:
    """otelcol → processors → otelcol, every process ours and stopped afterwards."""
    ingress = Collector(tmp / "otelcol")
    egress = Collector(tmp / "otelcol-egress") if split_egress else ingress
    egress.overlays = list(overlays or [])
    egress.env_extra = dict(collector_env or {})
    processors = Processors(tmp / "processors", processors_yaml, f"127.0.0.1:{egress.processed_port}", env or {})
    ingress.processors_endpoints = [f"127.0.0.1:{processors.port}"]
    for d in {ingress.workdir, egress.workdir, processors.workdir}:
        d.mkdir(parents=True, exist_ok=True)
    started: list[Any] = []
    try:
        for part in ([egress] if split_egress else []) + [processors, ingress]:
            part.start()
            started.append(part)
        yield PipelineHandle(ingress, egress, processors)
    finally:
        for part in reversed(started):
            part.stop()


def read_sink(path: Path, signal: Signal) -> list[Any]:
    """The requests in a Collector file-exporter sink; a line still being written is left for later."""
    from processors.standalone import otlp_json

    if not path.exists():
        return []
    text = path.read_text()
    complete = text[: text.rfind("\n") + 1]
    # "\n" only: the Collector writes U+2028 and NEL raw inside strings, which splitlines() would split on.
    return [otlp_json.decode(signal, line) for line in complete.split("\n") if line.strip()]


def count_items(signal: Signal, requests: list[Any]) -> int:
    from processors.api import count_items as _count

    return sum(_count(signal, r) for r in requests)


