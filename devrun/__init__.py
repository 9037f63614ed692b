"""`make run`: the whole pipeline on this machine, with a live summary.

With bin/otelcol: otelcol (collector/gateway.yaml) → processors → otelcol →
sinks. Without it (no Go toolchain): standalone mode, where the processors take
OTLP on :4317/:4318 themselves and write the sinks. The seed services
(ingest :8001, session :8002, divan :8003) emit through the `obs` SDK while
built-in traffic drivers exercise them; so do the outbound service (:8004, on
a RabbitMQ of its own when `rabbitmq-server` is installed, else left out with
a note) and the cross-sell API (:8005, its Celery worker on a Redis of its own
when `redis-server` is installed). When the trace and log stores are
built (`make stores`: bin/jaeger standing in for Grafana Tempo, bin/victoria-logs
for Grafana Loki), they start first and the Collector fans out to them through
collector/overlays/backends.yaml. Ctrl-C or SIGTERM stops everything this
command started, by PID.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from services.outbound.localbroker import (
    broker_env,
    epmd_argv,
    epmd_path,
    rabbitmq_server_path,
)

REPO = Path(__file__).resolve().parents[1]  # devrun/ sits at the repository root
VAR = REPO / "var"
SINKS = VAR / "sinks"
OTELCOL = REPO / "bin" / "otelcol"
JAEGER = REPO / "bin" / "jaeger"
VICTORIALOGS = REPO / "bin" / "victoria-logs"
BACKENDS_OVERLAY = REPO / "collector" / "overlays" / "backends.yaml"
CONFIGS = REPO / "processors" / "configs"

COLLECTOR_PORTS = {4317: "OTLP gRPC", 4318: "OTLP/HTTP", 14317: "otlp/processed", 8889: "prometheus exporter",
                   13133: "health_check", 8888: "otelcol self-metrics"}
PROCESSOR_PORTS = {24317: "processors OTLP gRPC", 8898: "processors self-metrics", 8890: "session-health API"}
STANDALONE_PORTS = {4317: "OTLP gRPC", 4318: "OTLP/HTTP", 8889: "prometheus exposition",
                    8898: "processors self-metrics", 8890: "session-health API"}
SERVICES = {"ingest": 8001, "session": 8002, "divan": 8003}
# The outbound and cross-sell services, each with the neighbours it needs locally (the Graph API and Salesforce
# are stand-ins: the real ones are out of reach). Ports the other services do not use.
OUTBOUND_PORTS = {8004: "outbound service", 8006: "outbound tenant service", 8008: "Graph API stand-in"}
CROSSSELL_PORTS = {8005: "cross-sell API", 8007: "Salesforce stand-in"}
RABBITMQ_PORTS = {5682: "RabbitMQ AMQP", 25682: "RabbitMQ distribution", 4379: "RabbitMQ epmd"}
CROSSSELL_REDIS_PORT = 6389
OUTBOUND_PORTS_BY_NAME = dict(zip(("outbound", "tenants", "standin"), OUTBOUND_PORTS, strict=True))
CROSSSELL_API_PORT = next(iter(CROSSSELL_PORTS))
# The trace store (Jaeger: OTLP gRPC, query API) and the log store (VictoriaLogs: OTLP/HTTP in, LogsQL out).
STORE_PORTS = {4327: "Jaeger OTLP gRPC", 16686: "Jaeger query API", 16685: "Jaeger query gRPC",
               9428: "VictoriaLogs"}


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
    # The child gets its own copy of the descriptor; the parent's closes with the block.
    with open(VAR / "logs" / f"{name}.log", "ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=REPO,
                                start_new_session=True)


def _self_metrics() -> dict[tuple[str, str], float]:
    """(signal, in|out|dropped) → items, from the processors' self-metrics.

    out = delivered by the pipeline's exporters.
    """
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


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while inside, as Ctrl-C does.

    The children run in sessions of their own (a Ctrl-C meant for this command
    must not reach them before it stops them in order), so a SIGTERM that ended
    this process the default way (a supervisor, ``timeout``, ``kill``) would
    leave them running with nothing to stop them.
    """
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_demo(*, duration: float | None = None, force_standalone: bool = False) -> int:
    with sigterm_as_interrupt():
        return _run_demo(duration, force_standalone)


def _run_demo(duration: float | None, force_standalone: bool) -> int:
    standalone = force_standalone or not OTELCOL.exists()
    stores = not standalone and JAEGER.exists() and VICTORIALOGS.exists()
    ports = {**(STANDALONE_PORTS if standalone else {**COLLECTOR_PORTS, **PROCESSOR_PORTS}),
             **(STORE_PORTS if stores else {}), **{p: f"{n} service" for n, p in SERVICES.items()},
             **OUTBOUND_PORTS, **CROSSSELL_PORTS, **(RABBITMQ_PORTS if rabbitmq_server_path() else {}),
             **({CROSSSELL_REDIS_PORT: "cross-sell Redis"} if shutil.which("redis-server") else {})}
    busy = [f":{p} ({what})" for p, what in ports.items() if _busy(p)]
    if busy:
        print(f"make run: ports already in use: {', '.join(busy)}. Stop what holds them and retry.", file=sys.stderr)
        return 1
    SINKS.mkdir(parents=True, exist_ok=True)
    for old in SINKS.glob("*.jsonl"):
        old.unlink()
    procs: list[tuple[str, subprocess.Popen]] = []
    drivers: _Drivers | None = None
    env = {"OTELCOL_SINK_DIR": str(SINKS), "OTELCOL_QUEUE_DIR": str(VAR / "otelcol" / "queue"),
           "OTELPROC_SINK_DIR": str(SINKS), "OTELPROC_RECEIVER_ENDPOINT": "127.0.0.1:24317",
           "OTELPROC_NEXT_HOP": "127.0.0.1:14317", "OTELPROC_METRICS_ADDRESS": "127.0.0.1:8898",
           "OTELPROC_HOSTNAMES": "[127.0.0.1:24317]",
           "SESSION_HEALTH_ADMIN_TOKEN": _local_secret("SESSION_HEALTH_ADMIN_TOKEN", "session-health.token"),
           "REDACTION_HMAC_KEY": _local_secret("REDACTION_HMAC_KEY", "redaction-hmac.key")}
    try:
        if standalone:
            why = "--standalone" if force_standalone else "bin/otelcol is missing (no Go toolchain?)"
            print(f"==> standalone mode ({why}): the processors take OTLP on :4317/:4318 themselves")
            procs.append(("processors", _start([sys.executable, "-m", "processors.cli", "serve", "--config",
                                                str(CONFIGS / "standalone.yaml")], "processors", env)))
            _wait_port(4317, procs[-1][1], "processors")
        else:
            if stores:
                _start_stores(env, procs)
            else:
                print("==> no trace/log store built (`make stores`): the Collector fans out to the sinks and "
                      "Prometheus only")
            print("==> starting the processors (processors/configs/pipeline.yaml) on :24317")
            procs.append(("processors", _start([sys.executable, "-m", "processors.cli", "serve", "--config",
                                                str(CONFIGS / "pipeline.yaml")], "processors", env)))
            _wait_port(24317, procs[-1][1], "processors")
            print("==> starting otelcol (collector/gateway.yaml) on :4317/:4318")
            configs = [REPO / "collector" / "gateway.yaml", *([BACKENDS_OVERLAY] if stores else [])]
            procs.append(("otelcol", _start([str(OTELCOL), *(f"--config={c}" for c in configs)], "otelcol", env)))
            _wait_port(4317, procs[-1][1], "otelcol")
        svc_env = {**env, **_service_env()}
        for name, port in SERVICES.items():
            print(f"==> starting the {name} service on :{port} (OTLP → 127.0.0.1:4317)")
            procs.append((name, _start([sys.executable, "-m", "uvicorn", "--factory", f"services.{name}.app:create_app",
                                        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                       name, svc_env)))
        for name, port in SERVICES.items():
            _wait_port(port, dict(procs)[name], name, timeout=60)
        extra = {**_start_outbound(svc_env, procs), **_start_crosssell(svc_env, procs)}
        print("==> traffic drivers: services.drive (ingest, session), services.divan.traffic"
              + "".join(f", {argv[2]}" for argv in extra.values()) + " (Ctrl-C to stop)")
        drivers = _Drivers(svc_env, extra)
        print(f"    logs: {VAR / 'logs'}   sinks: {SINKS}   processors metrics: http://127.0.0.1:8898/metrics"
              + ("" if standalone else "   Prometheus exposition: http://127.0.0.1:8889/metrics"))
        print(f"    session-health API: http://127.0.0.1:8890/session/health "
              f"(other routes need the bearer token in {VAR / 'session-health.token'})")
        if "outbound-traffic" in extra:
            print(f"    outbound service: http://127.0.0.1:{OUTBOUND_PORTS_BY_NAME['outbound']}/health   "
                  f"Graph API stand-in deliveries: http://127.0.0.1:{OUTBOUND_PORTS_BY_NAME['standin']}"
                  "/_standin/deliveries")
        print(f"    cross-sell API: http://127.0.0.1:{CROSSSELL_API_PORT}/health   "
              f"recommendations: http://127.0.0.1:{CROSSSELL_API_PORT}/api/v1/accounts")
        if stores:
            print(_stores_note())
        # Polled as a load balancer's health check would: the outbound dashboard shows /health's answers.
        outbound_health = f"http://127.0.0.1:{OUTBOUND_PORTS_BY_NAME['outbound']}/health"
        probes = [outbound_health] if "outbound-traffic" in extra else []
        started = time.monotonic()
        while duration is None or time.monotonic() - started < duration:
            time.sleep(2)
            drivers.tick()
            for url in probes:
                with contextlib.suppress(OSError):  # a 503 (HTTPError) is an answer too
                    urllib.request.urlopen(url, timeout=2).close()
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
        if drivers is not None:
            drivers.stop()
        for _name, p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
        if procs:
            print(_final_note())
    return 0


def _start_outbound(env: dict[str, str], started: list[tuple[str, subprocess.Popen]]) -> dict[str, list[str]]:
    """RabbitMQ, the tenant service, the Graph API stand-in and the outbound service into ``started``; its traffic
    driver's argv. Without rabbitmq-server, one line and nothing started."""
    server, epmd = rabbitmq_server_path(), epmd_path()
    if not server or not epmd:
        print("==> outbound service: rabbitmq-server is not installed (`make system-deps`); going on without it")
        return {}
    (amqp, dist, epmd_port) = RABBITMQ_PORTS
    print(f"==> starting RabbitMQ (services/outbound/localbroker.py, data in {VAR / 'rabbitmq'}) on :{amqp}")
    broker_env_ = broker_env(VAR / "rabbitmq", amqp, dist, epmd_port)
    started.append(("epmd", _start(epmd_argv(epmd, epmd_port), "epmd", broker_env_)))
    _wait_port(epmd_port, started[-1][1], "epmd")
    started.append(("rabbitmq", _start([server], "rabbitmq", broker_env_)))
    _wait_port(amqp, started[-1][1], "rabbitmq", timeout=90)
    service, tenants, standin = OUTBOUND_PORTS
    amqp_url = f"amqp://guest:guest@127.0.0.1:{amqp}/"
    own = {**env, "AMQP_URL": amqp_url, "META_API_URL": f"http://127.0.0.1:{standin}",
           "TENANT_SERVICE_URL": f"http://127.0.0.1:{tenants}",
           "TENANT_SERVICE_SECRET": _local_secret("TENANT_SERVICE_SECRET", "tenant-service.key"),
           "TENANT_SERVICE_ADMIN_TOKEN": _local_secret("TENANT_SERVICE_ADMIN_TOKEN", "tenant-service-admin.token"),
           # Credentials kept 10 s, not 5 min: the traffic's credential failures every third round reach the
           # tenant service instead of the cache.
           "CREDENTIAL_CACHE_TTL_S": "10"}
    parts = {"outbound-tenants": (tenants, "services.outbound.tenants"),
             "outbound-standin": (standin, "services.outbound.standin"), "outbound": (service, "services.outbound.app")}
    for name, (port, module) in parts.items():
        print(f"==> starting the {OUTBOUND_PORTS[port]} on :{port}")
        started.append((name, _start(_uvicorn(module, port), name, own)))
    for name, (port, _) in parts.items():
        _wait_port(port, dict(started)[name], name, timeout=60)
    # The traffic driver's (never on its command line).
    env.update(AMQP_URL=amqp_url, TENANT_SERVICE_ADMIN_TOKEN=own["TENANT_SERVICE_ADMIN_TOKEN"])
    return {"outbound-traffic": [sys.executable, "-m", "services.outbound.traffic", "--rounds", "0", "--count", "30",
                                 "--rate", "5", "--stand-in", f"http://127.0.0.1:{standin}", "--unknown-tenant",
                                 "--tenant-service", f"http://127.0.0.1:{tenants}"]}


def _start_crosssell(env: dict[str, str], started: list[tuple[str, subprocess.Popen]]) -> dict[str, list[str]]:
    """The Salesforce stand-in, a Redis and the Celery worker (when redis-server is installed) and the cross-sell
    API into ``started``; its traffic driver's argv."""
    api, salesforce = CROSSSELL_PORTS
    own = {**env, "SALESFORCE_URL": f"http://127.0.0.1:{salesforce}",
           "REDIS_URL": f"redis://127.0.0.1:{CROSSSELL_REDIS_PORT}/0"}
    redis = shutil.which("redis-server")
    if redis:
        print(f"==> starting the cross-sell Redis (Celery broker) on :{CROSSSELL_REDIS_PORT}")
        started.append(("crosssell-redis", _start([redis, "--port", str(CROSSSELL_REDIS_PORT), "--bind", "127.0.0.1",
                                                   "--save", "", "--appendonly", "no"], "crosssell-redis", {})))
        _wait_port(CROSSSELL_REDIS_PORT, started[-1][1], "crosssell-redis")
    else:
        print("==> cross-sell: redis-server is not installed (`make system-deps`): no Celery worker, syncs answer 503")
    print(f"==> starting the Salesforce stand-in on :{salesforce} and the cross-sell API on :{api}")
    started.append(("crosssell-salesforce", _start(_uvicorn("services.crosssell.salesforce", salesforce),
                                                   "crosssell-salesforce", own)))
    if redis:
        worker = [sys.executable, "-m", "celery", "-A", "services.crosssell.worker_main", "worker", "-Q", "crosssell",
                  "--pool", "solo", "--loglevel", "warning"]
        started.append(("crosssell-worker", _start(worker, "crosssell-worker", own)))
    started.append(("crosssell", _start(_uvicorn("services.crosssell.app", api), "crosssell", own)))
    _wait_port(salesforce, dict(started)["crosssell-salesforce"], "crosssell-salesforce", timeout=60)
    _wait_port(api, dict(started)["crosssell"], "crosssell", timeout=90)
    return {"crosssell-traffic": [sys.executable, "-m", "services.crosssell.traffic", f"http://127.0.0.1:{api}",
                                  "--rounds", "0", "--seconds", "10", "--concurrency", "1"]}


def _uvicorn(module: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "--factory", f"{module}:create_app", "--host", "127.0.0.1",
            "--port", str(port), "--log-level", "warning"]


def _start_stores(env: dict[str, str], started: list[tuple[str, subprocess.Popen]]) -> None:
    """Start Jaeger and VictoriaLogs (data under var/) into ``started``, and point the Collector's backends
    overlay at them through ``env``."""
    print("==> starting the trace store (bin/jaeger, backends/tempo/jaeger.yaml) on :4327, query API :16686")
    jaeger_env = {"JAEGER_DATA_DIR": str(VAR / "jaeger"), "OTEL_TRACES_SAMPLER": "always_off",
                  "OTEL_SDK_DISABLED": "true"}
    started.append(("jaeger", _start([str(JAEGER), f"--config={REPO / 'backends' / 'tempo' / 'jaeger.yaml'}"],
                                     "jaeger", jaeger_env)))
    print("==> starting the log store (bin/victoria-logs) on :9428")
    started.append(("victoria-logs", _start([str(VICTORIALOGS), "-httpListenAddr=127.0.0.1:9428",
                                             f"-storageDataPath={VAR / 'victoria-logs'}", "-retentionPeriod=7d",
                                             "-loggerLevel=WARN"], "victoria-logs", {})))
    jaeger, vlogs = started[-2][1], started[-1][1]
    _wait_port(4327, jaeger, "jaeger")
    _wait_port(16686, jaeger, "jaeger")
    _wait_port(9428, vlogs, "victoria-logs")
    env["OTELCOL_TEMPO_ENDPOINT"] = "127.0.0.1:4327"
    env["OTELCOL_LOKI_LOGS_ENDPOINT"] = "http://127.0.0.1:9428/insert/opentelemetry/v1/logs"


def _stores_note() -> str:
    return "\n".join([
        "    trace store (Jaeger, in Tempo's place): http://127.0.0.1:16686",
        "      traces of a service: /api/traces?service=whatsapp-ingest&limit=20   one trace: /api/traces/<trace_id>",
        "    log store (VictoriaLogs, in Loki's place): http://127.0.0.1:9428/select/vmui/ (LogsQL)",
        "      a trace's logs: /select/logsql/query?query=trace_id:=\"<trace_id>\"   errors: severity_text:ERROR",
        "      (a trace id is in every response's traceparent header and in each log record's trace_id)",
    ])


def _final_note() -> str:
    files = [f"  {p.relative_to(REPO)}: {sum(1 for _ in p.open())} requests" for p in sorted(SINKS.glob("*.jsonl"))]
    return "==> sinks written:\n" + ("\n".join(files) if files else "  (none)")


def _service_env() -> dict[str, str]:
    """What the seed services need locally: OTLP to the pipeline, generated secrets, fake stores."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
        "OBS_LOG_JSON_STDOUT": "false",
        "WHATSAPP_INGEST_TOKEN": _local_secret("WHATSAPP_INGEST_TOKEN", "ingest.token"),
        "WHATSAPP_HMAC_SECRET": _local_secret("WHATSAPP_HMAC_SECRET", "ingest-hmac.key"),
        "OBS_ADMIN_TOKEN": _local_secret("OBS_ADMIN_TOKEN", "obs-admin.token"),
        "JWT_SECRET": _local_secret("JWT_SECRET", "divan-jwt.key"),
        "SESSION_HEALTH_URL": "http://127.0.0.1:8890",
        "DOCS_ENABLED": "true",  # a local run serves /docs; deployments leave it off
    }


class _Drivers:
    """The traffic drivers, restarted whenever a round of theirs ends."""

    def __init__(self, env: dict[str, str], extra: dict[str, list[str]] | None = None) -> None:
        self.env = env
        self.argv = {
            "drive": [sys.executable, "-m", "services.drive", "--ingest-url", f"http://127.0.0.1:{SERVICES['ingest']}",
                      "--session-url", f"http://127.0.0.1:{SERVICES['session']}", "--rounds", "0", "--interval", "2"],
            "divan-traffic": [sys.executable, "-m", "services.divan.traffic", f"http://127.0.0.1:{SERVICES['divan']}",
                              "--rounds", "1"],
            **(extra or {}),
        }
        self.procs: dict[str, subprocess.Popen] = {}
        self.tick()

    def tick(self) -> None:
        for name, argv in self.argv.items():
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                self.procs[name] = _start(argv, name, self.env)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in self.procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
