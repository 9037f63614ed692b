"""The dashboards' queries, live: a real Prometheus (Debian's) scrapes the real
Collector's prometheus exporter, the Collector's own metrics and the
processors' self-metrics, while the ingest, session and divan services send
their telemetry through the whole pipeline (redaction and log sampling on)
under a short, bounded load. The traffic drivers inject what the panels need:
401s, 403s, 429s, extraction errors, PII to redact, session stories with
reconnects and a breaker trip; divan's Redis is stopped for its 5xx; and a
second Collector, whose exporters point at a closed port without retries,
gives up on a span, a log record and a metric point (the series of a failing
exporter; the pipeline's own backend exporters retry forever). The outbound
service consumes a RabbitMQ of its own, fed by its traffic module (a tenant
failing at the Graph API stand-in now and then, an unknown tenant
dead-lettered) while one tenant's credentials cannot be fetched; the
cross-sell API, its Celery worker and the Salesforce stand-in take
recommendation requests and syncs, then its Redis stops for 503s.

Then every panel's query runs through Prometheus's HTTP API, with Grafana's
interval variables replaced by concrete durations, and must parse and return
data; and every series name a rule or a dashboard reads must be among the
names Prometheus scraped.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr

from services.divan.security import issue_token
from services.divan.traffic import BASE, CAMPUS, USERS
from services.drive import IngestDriver
from tests.backends.refresh_known_metrics import _FAULT_CONFIG, _SEND
from tests.backends.rules import PROMETHEUS_DIR, known_metrics, load_rules, series_names
from tests.backends.test_grafana_provisioning import dashboard_queries
from tests.services.conftest import pg_url  # noqa: F401  (the fixture)
from tests.services.outbound.live import OutboundStack
from tests.support.pipeline import collector_pipeline
from tests.support.procs import (
    REPO,
    Proc,
    free_port,
    require_tool,
    running,
    wait_for_port,
)
from tests.support.rabbitmq import rabbitmq_server
from tests.support.servers import RedisServer, otelcol_path, redis_server

pytestmark = pytest.mark.e2e

PIPELINE_YAML = (REPO / "processors" / "configs" / "pipeline.yaml").read_text()
# Grafana's interval variables, as Grafana would fill them for a short time range at a 1 s scrape.
GRAFANA_VARIABLES = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "10m"}
SCRAPE_INTERVAL = "1s"
QUERY_TIMEOUT = 75.0  # seconds of load for every panel to have data


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def _prometheus_config(conf: Path, targets: dict[str, list[str]]) -> Path:
    shutil.copytree(PROMETHEUS_DIR, conf, ignore=shutil.ignore_patterns("tests"))
    config = yaml.safe_load((conf / "prometheus.yml").read_text())
    config["global"].update(scrape_interval=SCRAPE_INTERVAL, evaluation_interval=SCRAPE_INTERVAL)
    (conf / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for job, addrs in targets.items():
        (conf / "targets" / f"{job}.yml").write_text(yaml.safe_dump([{"targets": addrs}]))
    return conf / "prometheus.yml"


def _wait_ready(base: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{base}/-/ready", timeout=5).close()
            return
        except (urllib.error.HTTPError, urllib.error.URLError):
            assert time.monotonic() < deadline, f"Prometheus not ready after {timeout} s"
            time.sleep(0.1)


def promql(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    return expr


def _run_query(api: str, expr: str) -> tuple[str, int]:
    """('ok' | the error, number of series or samples) for an instant query."""
    url = f"{api}/query?" + urllib.parse.urlencode({"query": promql(expr)})
    try:
        body = _get_json(url)
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}: {exc.read().decode()[:300]}", 0
    if body["status"] != "success":
        return f"{body.get('errorType')}: {body.get('error')}", 0
    result = body["data"]["result"]
    return "ok", len(result) if isinstance(result, list) else 1


def _start_services(tmp: Path, otlp: str, env: dict[str, str], pg: str, redis: str) -> dict[str, tuple[Proc, str]]:
    ports = {name: free_port() for name in ("ingest", "session", "divan")}
    own = {"ingest": {"WHATSAPP_INGEST_RATE_LIMIT_PER_MINUTE": "20"},
           "session": {}, "divan": {"DATABASE_URL": pg, "REDIS_URL": redis}}
    started: dict[str, tuple[Proc, str]] = {}
    for name, port in ports.items():
        argv = [sys.executable, "-m", "uvicorn", "--factory", f"services.{name}.app:create_app",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        proc = Proc(argv, log=tmp / f"{name}.log", cwd=REPO,
                    env={**env, **own[name], "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{otlp}"})
        started[name] = (proc, f"http://127.0.0.1:{port}")
    for name, (proc, _) in started.items():
        try:
            wait_for_port(ports[name], timeout=60, proc=proc.popen)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{name} did not start: {exc}\n{proc.output()[-3000:]}") from None
    return started


def _start_crosssell(tmp: Path, otlp: str, env: dict[str, str], redis: str) -> tuple[list[Proc], str]:
    """The Salesforce stand-in, the Celery worker and the API (not waited for: the API trains its model)."""
    tmp.mkdir(parents=True, exist_ok=True)
    sf_port, api_port = free_port(), free_port()
    env = {**env, "REDIS_URL": redis, "SALESFORCE_URL": f"http://127.0.0.1:{sf_port}",
           "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{otlp}", "HEALTH_PROBE_INTERVAL_SECONDS": "2"}
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--log-level", "warning", "--factory"]
    procs = [Proc([*uvicorn, "services.crosssell.salesforce:create_app", "--port", str(sf_port)],
                  log=tmp / "salesforce.log", env=env, cwd=REPO),
             Proc([sys.executable, "-m", "celery", "-A", "services.crosssell.worker_main", "worker", "-Q", "crosssell",
                   "--pool", "solo", "--loglevel", "warning"], log=tmp / "worker.log", env=env, cwd=REPO),
             Proc([*uvicorn, "services.crosssell.app:create_app", "--port", str(api_port)],
                  log=tmp / "api.log", env=env, cwd=REPO)]
    return procs, f"http://127.0.0.1:{api_port}"


def _crosssell_errors(api: str, url: str, redis: RedisServer) -> None:
    """Once both orgs synced, the cross-sell Redis goes away: sync requests answer 503 (the SLIs' 5xx)."""
    deadline = time.monotonic() + 60
    while True:
        status, n = _run_query(api, "sum(sync_records_processed_total) > 0")
        if status == "ok" and n:
            break
        assert time.monotonic() < deadline, "the cross-sell worker synced nothing in 60 s"
        time.sleep(1)
    redis.proc.stop()
    codes = [httpx.post(f"{url}/api/v1/sync/org-east", timeout=10).status_code for _ in range(3)]
    assert codes == [503] * 3, f"cross-sell without Redis answered {codes}"


def _divan_errors(url: str, redis: RedisServer, jwt_secret: str) -> None:
    """divan's Redis goes away: its Redis-backed routes answer 5xx (and divan_redis_up drops to 0)."""
    redis.proc.stop()
    headers = {"Authorization": f"Bearer {issue_token(SecretStr(jwt_secret), USERS[0])}"}
    params = {"campus_id": CAMPUS, "lat": BASE[0], "lon": BASE[1], "radius": 500}
    outcomes = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(5):
            try:
                outcomes.append(client.get("/proximity/nearby", params=params, headers=headers).status_code)
            except httpx.TransportError as exc:  # the server may drop the connection of a request that raised
                outcomes.append(type(exc).__name__)
    assert all(not isinstance(o, int) or o >= 500 for o in outcomes), f"divan without Redis answered {outcomes}"


def test_every_panel_query_returns_data_and_every_series_read_is_scraped(
        tmp_path: Path, pg_url: str) -> None:  # noqa: F811
    binary = require_tool("prometheus", "/usr/bin/prometheus")
    health_api = f"127.0.0.1:{free_port()}"
    secrets_env = {
        "SESSION_HEALTH_ADMIN_TOKEN": secrets.token_hex(16), "REDACTION_HMAC_KEY": secrets.token_hex(16),
        "WHATSAPP_INGEST_TOKEN": secrets.token_hex(16), "WHATSAPP_HMAC_SECRET": secrets.token_hex(16),
        "OBS_ADMIN_TOKEN": secrets.token_hex(16), "JWT_SECRET": secrets.token_hex(32),
    }
    processors_env = {**secrets_env, "LOG_SAMPLING_RATE_INFO": "0.5", "SESSION_HEALTH_API_ENDPOINT": health_api}
    service_env = {**secrets_env, "OTEL_METRIC_EXPORT_INTERVAL": "1000", "OBS_LOG_JSON_STDOUT": "false",
                   "SESSION_HEALTH_URL": f"http://{health_api}"}
    queries = dashboard_queries()
    assert queries

    # divan gets a Redis of its own: the test stops it to make divan answer 5xx. A second Collector, whose
    # exporters point at a closed port and do not retry, gives up on what it is sent: the series of a failing
    # exporter (the pipeline's backend exporters retry forever and never give up).
    fault_otlp, fault_metrics = free_port(), free_port()
    (tmp_path / "fault.yaml").write_text(_FAULT_CONFIG.format(otlp=fault_otlp, dead=free_port(), metrics=fault_metrics))
    with redis_server(tmp_path / "divan-redis") as divan_redis, \
            redis_server(tmp_path / "crosssell-redis") as crosssell_redis, \
            rabbitmq_server(tmp_path) as broker, \
            running([otelcol_path(), f"--config={tmp_path / 'fault.yaml'}"], port=fault_otlp,
                    log=tmp_path / "otelcol-fault.log"), \
            collector_pipeline(tmp_path, PIPELINE_YAML, env=processors_env) as pipeline:
        sent = subprocess.run([sys.executable, "-c", _SEND, f"127.0.0.1:{fault_otlp}"], check=False,
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "OTEL_SDK_DISABLED": "false"})
        assert sent.returncode == 0, sent.stderr[-2000:]
        col = pipeline.egress
        config = _prometheus_config(tmp_path / "prometheus", {
            "otelcol-exporter": [f"127.0.0.1:{col.prometheus_port}"],
            "otelcol": [f"127.0.0.1:{col.self_metrics_port}", f"127.0.0.1:{fault_metrics}"],
            "otelproc": [f"127.0.0.1:{pipeline.processors.metrics_port}"],
            "alertmanager": [f"127.0.0.1:{free_port()}"],  # none: alerts are not what this test is about
        })
        web = free_port()
        argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{web}"]
        api = f"http://127.0.0.1:{web}/api/v1"
        crosssell, crosssell_url = _start_crosssell(tmp_path / "crosssell", pipeline.otlp_grpc_endpoint,
                                                    service_env, crosssell_redis.url)
        outbound = OutboundStack(tmp_path / "outbound", broker.url, otlp=pipeline.otlp_grpc_endpoint,
                                 env={"BREAKER_FAILURE_THRESHOLD": "3", "BREAKER_OPEN_SECONDS": "10"})
        (tmp_path / "outbound").mkdir()
        services: dict[str, tuple[Proc, str]] = {}
        drivers: list[Proc] = []
        try:
            services = _start_services(tmp_path / "services", pipeline.otlp_grpc_endpoint, service_env, pg_url,
                                       divan_redis.url)
            outbound.start_neighbours()
            outbound.start_service()
            # initech's credentials cannot be fetched: the tenant service answers 503 for it.
            outbound.tenant_fault("initech", 503)
            for _ in range(3):  # a health checker's requests: the service's own HTTP series
                outbound.get("/health")
            wait_for_port(int(crosssell_url.rsplit(":", 1)[1]), timeout=90, proc=crosssell[2].popen)
            with running(argv, port=web, log=tmp_path / "prometheus.log"):
                _wait_ready(f"http://127.0.0.1:{web}")
                urls = {name: url for name, (_, url) in services.items()}
                drive_env = {**service_env}
                # The ingest and session drivers: refusals (401, 403, a burst past the rate limit), media,
                # session stories (heartbeat loss, breaker trip and recovery, damaged credentials).
                drivers.append(Proc([sys.executable, "-m", "services.drive", "--ingest-url", urls["ingest"],
                                     "--session-url", urls["session"], "--rounds", "0", "--interval", "2",
                                     "--burst", "25"], log=tmp_path / "drive.log", env=drive_env, cwd=REPO))
                drivers.append(Proc([sys.executable, "-m", "services.outbound.traffic", "--rounds", "0",
                                     "--count", "20", "--rate", "40", "--stand-in", outbound.standin,
                                     "--unknown-tenant"],
                                    log=tmp_path / "outbound-traffic.log", env={**drive_env, "AMQP_URL": broker.url},
                                    cwd=REPO))
                drivers.append(Proc([sys.executable, "-m", "services.crosssell.traffic", crosssell_url, "--rounds", "0",
                                     "--seconds", "4"], log=tmp_path / "crosssell-traffic.log", env=drive_env,
                                    cwd=REPO))
                drivers.append(Proc([sys.executable, "-m", "services.divan.traffic", urls["divan"], "--rounds", "3"],
                                    log=tmp_path / "divan-traffic.log", env=drive_env, cwd=REPO))
                # A collector whose client id is an e-mail address: the redaction processor has something to find.
                with httpx.Client(base_url=urls["ingest"], timeout=10) as client:
                    pii = IngestDriver(client, token=secrets_env["WHATSAPP_INGEST_TOKEN"],
                                       hmac_secret=secrets_env["WHATSAPP_HMAC_SECRET"],
                                       client_id="ops.alice@example.com", seed=11)
                    pii.round()
                    divan_traffic = drivers[-1]
                    divan_traffic.popen.wait(90)
                    assert divan_traffic.popen.returncode == 0, divan_traffic.output()[-3000:]
                    _divan_errors(urls["divan"], divan_redis, secrets_env["JWT_SECRET"])
                    _crosssell_errors(api, crosssell_url, crosssell_redis)
                    outcome = _wait_for_every_panel(api, queries, drivers, pii)
                names = set(_get_json(f"{api}/label/__name__/values")["data"])
        finally:
            for proc in drivers:
                proc.stop()
            for proc, _ in services.values():
                proc.stop(timeout=20)
            outbound.stop()
            for proc in reversed(crosssell):
                proc.stop(timeout=20)

    missing = [f"{dash}: panel {title!r}: {expr} -> {why}" for (dash, title, expr), why in outcome.items()
               if why != "ok"]
    assert not missing, "panels without data:\n" + "\n".join(missing)

    # Every series a rule or a dashboard reads is in the live scrape (recording rules' outputs aside).
    _, pending = known_metrics()
    recorded = {r.record for r in load_rules() if r.record}
    read = {name: f"rule {r.alert or r.record}" for r in load_rules() for name in series_names(r.expr)}
    read.update({name: f"{dash}: {title!r}" for dash, title, expr in queries
                 for name in series_names(expr.replace("$__", "__"))})
    # Exempt: the series of a service not built yet (known_metrics.txt lists them as pending; none now).
    absent = sorted(f"{name} ({who})" for name, who in read.items()
                    if name not in recorded and name not in pending and name not in names)
    assert not absent, "read but not scraped:\n" + "\n".join(absent)
    assert not names & pending, f"pending series appeared, take them off the pending list: {names & pending}"


def _wait_for_every_panel(api: str, queries: list[tuple[str, str, str]], drivers: list[Proc],
                          pii: IngestDriver) -> dict[tuple[str, str, str], str]:
    """Poll until every query has data or the load's time is up; the last answer of each."""
    deadline = time.monotonic() + QUERY_TIMEOUT
    outcome: dict[tuple[str, str, str], str] = {}
    while True:
        for q in queries:
            if outcome.get(q) == "ok":
                continue
            status, n = _run_query(api, q[2])
            outcome[q] = "ok" if status == "ok" and n else (status if status != "ok" else "no data")
            if status != "ok":  # a query that does not parse will not parse later either
                raise AssertionError(f"{q[0]}: panel {q[1]!r}: {q[2]} -> {status}")
        if all(v == "ok" for v in outcome.values()) or time.monotonic() > deadline:
            return outcome
        for proc in drivers:
            if not proc.alive() and proc.popen.returncode not in (0, None):
                raise AssertionError(f"{proc.argv[2]} failed:\n{proc.output()[-3000:]}")
        pii.round()
        time.sleep(2)
