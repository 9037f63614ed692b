"""The outbound service and its neighbours as real processes on free loopback ports.

``OutboundStack`` starts the tenant service and the Graph API stand-in (the one
fake: the real Graph API is out of reach), then the service itself under
uvicorn, pointed at a real RabbitMQ and, when given, the pipeline's OTLP
endpoint. Helpers read the service's own Prometheus view and a live
Prometheus that scrapes a Collector.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.outbound import traffic
from tests.support.procs import REPO, Proc, free_port, require_tool, wait_for_port

PROMETHEUS_DIR = REPO / "backends" / "prometheus"


def _uvicorn(factory: str, port: int, log: Path, env: dict[str, str]) -> Proc:
    proc = Proc([sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1", "--port", str(port),
                 "--log-level", "warning"], log=log, env=env, cwd=REPO)
    try:
        wait_for_port(port, timeout=60, proc=proc.popen)
    except (RuntimeError, TimeoutError) as exc:
        raise RuntimeError(f"{factory} did not start: {exc}\n{proc.output()[-3000:]}") from None
    return proc


@dataclass
class OutboundStack:
    tmp: Path
    amqp_url: str
    otlp: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    admin: str = field(default_factory=lambda: secrets.token_hex(16))
    tenant_admin: str = field(default_factory=lambda: secrets.token_hex(16))
    procs: list[Proc] = field(default_factory=list)
    service: Proc | None = None
    port: int = 0
    tenant_port: int = field(default_factory=free_port)
    standin_port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def standin(self) -> str:
        return f"http://127.0.0.1:{self.standin_port}"

    @property
    def tenants(self) -> str:
        return f"http://127.0.0.1:{self.tenant_port}"

    def start_neighbours(self) -> None:
        self.procs.append(_uvicorn("services.outbound.tenants:create_app", self.tenant_port, self.tmp / "tenants.log",
                                   {"TENANT_SERVICE_ADMIN_TOKEN": self.tenant_admin}))
        self.procs.append(_uvicorn("services.outbound.standin:create_app", self.standin_port,
                                   self.tmp / "standin.log", {}))

    def start_service(self, **overrides: str) -> None:
        self.port = free_port()
        env = {"AMQP_URL": self.amqp_url, "META_API_URL": self.standin, "TENANT_SERVICE_URL": self.tenants,
               "OBS_ADMIN_TOKEN": self.admin, "ENV": "test", "OBS_LOG_JSON_STDOUT": "true", "LOG_LEVEL": "WARNING",
               "OTEL_METRIC_EXPORT_INTERVAL": "1000", "HEALTH_PROBE_INTERVAL_SECONDS": "2",
               "OUTBOUND_QUEUE_DEPTH_INTERVAL_S": "1", "OUTBOUND_RETRY_DELAYS_MS": "200,500",
               "BREAKER_OPEN_SECONDS": "60", "RATE_LIMIT_PER_SECOND": "1000", "RATE_LIMIT_BURST": "1000",
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{self.otlp}" if self.otlp else "",
               **self.env, **overrides}
        self.service = _uvicorn("services.outbound.app:create_app", self.port, self.tmp / f"outbound-{self.port}.log",
                                env)

    def stop_service(self) -> None:
        if self.service is not None:
            self.service.stop(timeout=20)
            self.service = None

    def stop(self) -> None:
        self.stop_service()
        for p in reversed(self.procs):
            p.stop()

    # --- what the tests read and set ---------------------------------------------------
    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)

    def deliveries(self) -> dict[str, Any]:
        return httpx.get(f"{self.standin}/_standin/deliveries", timeout=10).json()

    def behave(self, tenant: str, **behaviour: Any) -> None:
        httpx.put(f"{self.standin}/_standin/behaviour/{tenant}", json=behaviour, timeout=10).raise_for_status()

    def tenant_fault(self, tenant: str, status: int = 503) -> None:
        httpx.put(f"{self.tenants}/_admin/faults/{tenant}", json={"status": status}, timeout=10,
                  headers={"Authorization": f"Bearer {self.tenant_admin}"}).raise_for_status()

    def own_metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The service's own Prometheus view (obs /metrics), sample name and labels to value."""
        r = httpx.get(self.url + "/metrics", headers={"Authorization": f"Bearer {self.admin}"}, timeout=10)
        r.raise_for_status()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for fam in text_string_to_metric_families(r.text) for s in fam.samples}

    def publish(self, messages: list[dict[str, Any]], queue: str = "outbound-processed") -> int:
        return asyncio.run(traffic.publish(self.amqp_url, queue, messages))


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout}s")
        time.sleep(interval)


# --- a live Prometheus on the Collector ----------------------------------------------------

@dataclass
class LivePrometheus:
    proc: Proc
    port: int

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.api}/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        assert body["status"] == "success", body
        return body["data"]["result"]


def start_prometheus(tmp: Path, exporter: str) -> LivePrometheus:
    """Prometheus on backends/prometheus (rules included) scraping ``exporter`` every second."""
    binary = require_tool("prometheus", "/usr/bin/prometheus")
    conf = tmp / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, conf, ignore=shutil.ignore_patterns("tests"))
    config = yaml.safe_load((conf / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    (conf / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for job, addrs in {"otelcol-exporter": [exporter], "otelcol": [f"127.0.0.1:{free_port()}"],
                       "otelproc": [f"127.0.0.1:{free_port()}"], "alertmanager": [f"127.0.0.1:{free_port()}"]}.items():
        (conf / "targets" / f"{job}.yml").write_text(yaml.safe_dump([{"targets": addrs}]))
    port = free_port()
    proc = Proc([binary, f"--config.file={conf / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}"], log=tmp / "prometheus.log")
    wait_for_port(port, timeout=30, proc=proc.popen)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=5).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "Prometheus not ready"
            time.sleep(0.2)
    return LivePrometheus(proc, port)
