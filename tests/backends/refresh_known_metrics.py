"""Regenerate ``known_metrics.txt``: the series names that really appear in a scrape.

    .venv/bin/python -m tests.backends.refresh_known_metrics

1. ``otelproc run`` (the Collector, the processors and the services with traffic,
   on their default ports) is scraped the way Prometheus scrapes it (OpenMetrics
   first): the Collector's prometheus exporter (:8889), the Collector's own
   metrics (:8888) and the processors' self-metrics (:8898). The outbound and
   cross-sell series must all be there (the dev run starts those services on a
   RabbitMQ and a Redis of their own: ``rabbitmq-server`` and ``redis-server``
   must be installed); a missing one stops the refresh instead of dropping it.
2. ``bin/otelcol`` with exporters aimed at dead endpoints is scraped for the
   series that only exist after a failure (``otelcol_exporter_send_failed_*``).
3. ``up`` is written by Prometheus itself for every target.
4. A service not built yet would have its specified names listed as pending
   (``PENDING``; none now): only its own rule file may use them.
5. divan's PostgreSQL probe series (the dev run falls back to SQLite) are taken
   from the metrics divan declares.

The rule tests read the file; they never regenerate it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.support.procs import REPO, free_port, wait_for_port

OUT = Path(__file__).with_name("known_metrics.txt")
ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
          "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
PIPELINE_TARGETS = {
    8889: "the Collector's prometheus exporter (services and session-health, via the processors)",
    8888: "the Collector's own metrics",
    8898: "the processors' self-metrics",
}
PROMETHEUS_SYNTHETIC = {"up": "written by Prometheus for every scrape target"}
# Emitted under a configuration the dev run does not use: obs probes PostgreSQL when DATABASE_URL is a
# PostgreSQL URL (the dev run's SQLite fallback gives divan_sqlite_up). Checked against divan's declared metrics.
CONFIG_DEPENDENT = {
    "divan_postgres_up": "obs readiness probe with DATABASE_URL=postgresql://...",
    "divan_postgres_latency_seconds_bucket": "obs readiness probe with DATABASE_URL=postgresql://...",
}
# Series name -> what it is, of a service whose metrics are specified but which is not built yet.
PENDING: dict[str, str] = {}
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)")


def series_names(text: str) -> set[str]:
    return {m.group(1) for line in text.splitlines() if line and not line.startswith("#")
            if (m := _SAMPLE.match(line))}


def scrape(port: int) -> str:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read().decode()


def platform_series() -> tuple[str, ...]:
    """Every series the outbound and cross-sell live tests require in the Collector's scrape."""
    from tests.services.crosssell.test_pipeline import SERIES
    from tests.services.outbound.test_pipeline import SEED_SERIES
    return (*SEED_SERIES, *SERIES)


def pipeline_names(warmup: float = 45.0, patience: float = 60.0) -> dict[int, set[str]]:
    proc = subprocess.Popen([str(REPO / ".venv/bin/otelproc"), "run", "--duration", str(int(warmup + patience) + 30)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(warmup)
        # RabbitMQ's boot delays the outbound traffic: its retries and credential failures may take longer.
        deadline = time.monotonic() + patience
        while not set(platform_series()) <= series_names(scrape(8889)) and time.monotonic() < deadline:
            time.sleep(2)
        names = {port: series_names(scrape(port)) for port in PIPELINE_TARGETS}
        empty = [port for port, found in names.items() if not found]
        if empty:
            raise RuntimeError(f"no series scraped from {empty}: see var/logs/")
        missing = sorted(set(platform_series()) - names[8889])
        if missing:
            raise RuntimeError(f"outbound / cross-sell series not in the scrape: {missing} (is rabbitmq-server or "
                               "redis-server missing? see var/logs/)")
        return names
    finally:
        proc.terminate()
        proc.wait(60)


_FAULT_CONFIG = """
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: "127.0.0.1:{otlp}"}}}}}}
exporters:
  otlp/traces:
    endpoint: "127.0.0.1:{dead}"
    tls: {{insecure: true}}
    timeout: 1s
    retry_on_failure: {{enabled: false}}
  otlphttp/logs: {{endpoint: "http://127.0.0.1:{dead}/otlp", timeout: 1s, retry_on_failure: {{enabled: false}}}}
  otlp/metrics:
    endpoint: "127.0.0.1:{dead}"
    tls: {{insecure: true}}
    timeout: 1s
    retry_on_failure: {{enabled: false}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp/traces]}}
    logs: {{receivers: [otlp], exporters: [otlphttp/logs]}}
    metrics: {{receivers: [otlp], exporters: [otlp/metrics]}}
  telemetry:
    metrics:
      level: normal
      readers: [{{pull: {{exporter: {{prometheus: {{host: 127.0.0.1, port: {metrics}}}}}}}}}]
"""

_SEND = """
import logging, sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
ep = sys.argv[1]
tp = TracerProvider()
tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=ep, insecure=True, timeout=3)))
lp = LoggerProvider()
lp.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=ep, insecure=True, timeout=3)))
metric_exporter = OTLPMetricExporter(endpoint=ep, insecure=True, timeout=3)
reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=500)
mp = MeterProvider([reader])
log = logging.getLogger("fault"); log.addHandler(LoggingHandler(logger_provider=lp)); log.setLevel(logging.INFO)
mp.get_meter("fault").create_counter("fault_probe").add(1)
with tp.get_tracer("fault").start_as_current_span("probe"):
    log.info("probe")
mp.force_flush(5000)
"""


def fault_names() -> set[str]:
    otlp, dead, metrics = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp, "fault.yaml")
        cfg.write_text(_FAULT_CONFIG.format(otlp=otlp, dead=dead, metrics=metrics))
        col = subprocess.Popen([str(REPO / "bin/otelcol"), "--config", str(cfg)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port(otlp, timeout=30, proc=col)
            subprocess.run([sys.executable, "-c", _SEND, f"127.0.0.1:{otlp}"], check=False, capture_output=True,
                           timeout=60, env={**os.environ, "OTEL_SDK_DISABLED": "false"})
            time.sleep(1)
            return {n for n in series_names(scrape(metrics)) if "failed" in n}
        finally:
            col.terminate()
            col.wait(30)


def render(pipeline: dict[int, set[str]], failed: set[str]) -> str:
    out = ["# Series names in a real scrape, after the Collector's suffix and unit rules.",
           "# Generated by `python -m tests.backends.refresh_known_metrics`; do not edit by hand.", ""]
    for port, what in PIPELINE_TARGETS.items():
        out += [f"## :{port} {what}", *sorted(pipeline[port]), ""]
    out += ["## the Collector's own metrics after an exporter failure", *sorted(failed), ""]
    out += ["## declared by divan, emitted with PostgreSQL", *(f"{n}  # {w}" for n, w in CONFIG_DEPENDENT.items()), ""]
    out += ["## Prometheus", *(f"{n}  # {w}" for n, w in PROMETHEUS_SYNTHETIC.items()), ""]
    if PENDING:
        out += ["## pending: services not built yet", *(f"{n}  # {w}" for n, w in PENDING.items()), ""]
    return "\n".join(out)


def main() -> None:
    from services.divan.metrics import SEED_METRICS
    undeclared = [n for n in CONFIG_DEPENDENT if n.removesuffix("_bucket") not in SEED_METRICS]
    if undeclared:
        raise SystemExit(f"not declared by divan: {undeclared}")
    pipeline = pipeline_names()
    failed = fault_names()
    OUT.write_text(render(pipeline, failed))
    print(f"wrote {OUT} ({sum(map(len, pipeline.values())) + len(failed)} scraped names)")


if __name__ == "__main__":
    main()
