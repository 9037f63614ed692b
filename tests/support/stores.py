"""The trace and log stores on free loopback ports, each a real server we start
and stop by PID: Jaeger v2 (the trace store behind the Collector's
``otlp/tempo`` exporter) and VictoriaLogs (the log store behind
``otlphttp/loki``). Grafana Tempo and Loki themselves cannot be built or
installed here; these two take the same OTLP from the same exporters.

    with jaeger_store(tmp_path / "jaeger") as traces, victorialogs_store(tmp_path / "vl") as logs:
        env = {**traces.collector_env(), **logs.collector_env()}
        ...
        traces.trace(trace_id)          # the trace's spans, from the query API
        logs.logs_of_trace(trace_id)    # its log records, by LogsQL

``bin/jaeger`` and ``bin/victoria-logs`` are built (and cached) by
``make stores`` (scripts/build-store.sh).
"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.support.procs import REPO, Proc, free_port, require_tool, wait_for_port

T = TypeVar("T")

JAEGER_CONFIG = REPO / "backends" / "tempo" / "jaeger.yaml"


def jaeger_path() -> str:
    return require_tool("jaeger", str(REPO / "bin" / "jaeger"))


def victorialogs_path() -> str:
    return require_tool("victoria-logs", str(REPO / "bin" / "victoria-logs"))


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30.0, interval: float = 0.25) -> T:
    """The first truthy result of ``probe`` within ``timeout`` seconds, else AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)


@dataclass
class JaegerStore:
    """Jaeger v2 running backends/tempo/jaeger.yaml: an OTLP gRPC receiver, spans on disk (badger) in
    ``workdir``, kept across ``stop``/``start`` on the same ports."""

    workdir: Path
    otlp_port: int = field(default_factory=free_port)
    query_port: int = field(default_factory=free_port)
    query_grpc_port: int = field(default_factory=free_port)
    proc: Proc | None = None

    @property
    def otlp_endpoint(self) -> str:
        return f"127.0.0.1:{self.otlp_port}"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    def collector_env(self) -> dict[str, str]:
        """What points the Collector's backends overlay at this store."""
        return {"OTELCOL_TEMPO_ENDPOINT": self.otlp_endpoint, "OTELCOL_TEMPO_INSECURE": "true"}

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {"JAEGER_OTLP_GRPC_ENDPOINT": self.otlp_endpoint,
               "JAEGER_QUERY_HTTP_ENDPOINT": f"127.0.0.1:{self.query_port}",
               "JAEGER_QUERY_GRPC_ENDPOINT": f"127.0.0.1:{self.query_grpc_port}",
               "JAEGER_DATA_DIR": str(self.workdir / "badger"), "JAEGER_SPAN_TTL": "1h",
               # Jaeger's own tracer stays off whatever its config says (it would export to :4317).
               "OTEL_TRACES_SAMPLER": "always_off", "OTEL_SDK_DISABLED": "true"}
        self.proc = Proc([jaeger_path(), f"--config={JAEGER_CONFIG}"], log=self.workdir / "jaeger.log", env=env)
        try:
            for port in (self.otlp_port, self.query_port):
                wait_for_port(port, timeout=30, proc=self.proc.popen)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"jaeger did not start: {exc}\n{self.proc.output()[-4000:]}") from None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=15)
            self.proc = None

    def trace(self, trace_id: bytes | str) -> list[dict[str, Any]]:
        """Every span the store holds for the trace (Jaeger's query API), [] when it has none."""
        tid = trace_id.hex() if isinstance(trace_id, bytes) else trace_id
        try:
            body = get_json(f"{self.query_url}/api/traces/{tid}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise
        return [span for t in body.get("data") or [] for span in t.get("spans", [])]

    def span_ids(self, trace_id: bytes | str) -> list[str]:
        """The span ids (hex) of the trace, one per span stored: a span stored twice is listed twice."""
        return [s["spanID"] for s in self.trace(trace_id)]

    def services(self) -> list[str]:
        return get_json(f"{self.query_url}/api/services").get("data") or []


@dataclass
class VictoriaLogsStore:
    """VictoriaLogs: OTLP/HTTP logs in at /insert/opentelemetry/v1/logs, LogsQL out."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def otlp_logs_url(self) -> str:
        return f"{self.url}/insert/opentelemetry/v1/logs"

    def collector_env(self) -> dict[str, str]:
        """What points the Collector's backends overlay at this store."""
        return {"OTELCOL_LOKI_LOGS_ENDPOINT": self.otlp_logs_url}

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = Proc([victorialogs_path(), f"-httpListenAddr=127.0.0.1:{self.port}",
                          f"-storageDataPath={self.workdir / 'data'}", "-retentionPeriod=1d",
                          "-loggerLevel=WARN"], log=self.workdir / "victoria-logs.log")
        try:
            wait_for_port(self.port, timeout=30, proc=self.proc.popen)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"victoria-logs did not start: {exc}\n{self.proc.output()[-4000:]}") from None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(timeout=15)
            self.proc = None

    def query(self, logsql: str, limit: int = 10000) -> list[dict[str, Any]]:
        """The entries a LogsQL query returns (one JSON object per line)."""
        q = urllib.parse.urlencode({"query": logsql, "limit": str(limit)})
        with urllib.request.urlopen(f"{self.url}/select/logsql/query?{q}", timeout=10) as r:
            text = r.read().decode()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def logs_of_trace(self, trace_id: bytes | str) -> list[dict[str, Any]]:
        tid = trace_id.hex() if isinstance(trace_id, bytes) else trace_id
        return self.query(f'trace_id:="{tid}"')

    def count(self, logsql: str) -> int:
        return len(self.query(logsql, limit=1_000_000))


@contextlib.contextmanager
def jaeger_store(workdir: Path) -> Iterator[JaegerStore]:
    store = JaegerStore(workdir)
    store.start()
    try:
        yield store
    finally:
        store.stop()


@contextlib.contextmanager
def victorialogs_store(workdir: Path) -> Iterator[VictoriaLogsStore]:
    store = VictoriaLogsStore(workdir)
    store.start()
    try:
        yield store
    finally:
        store.stop()
