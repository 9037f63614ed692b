"""The cross-sell platform through the whole pipeline, read by a live Prometheus.

Real parts: Redis (the Celery broker), the Celery worker, the API with its
model trained at start-up, otelcol and the processors; the Salesforce source
is the local stand-in (the one fake). A short bounded load (recommendations,
sync jobs), then the broker stops and sync requests answer 503: every SLO
query of the platform, and every recording rule of crosssell-slo.yml, returns
data from Prometheus, and every metric name is in the Collector's scrape.
The inference p95 is printed.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.services.outbound.live import start_prometheus, wait_until
from tests.support.pipeline import PASSTHROUGH, collector_pipeline
from tests.support.procs import REPO, Proc, free_port, wait_for_port
from tests.support.servers import redis_server

pytestmark = pytest.mark.e2e

SLO_RULES = REPO / "backends" / "prometheus" / "rules" / "crosssell-slo.yml"
# The platform's SLO table, as it measures each SLI.
SLO_QUERIES = {
    "availability": 'sum(rate(http_requests_total{status!~"5.."}[5m])) / sum(rate(http_requests_total[5m]))',
    "latency p95": "histogram_quantile(0.95, http_request_duration_seconds_bucket)",
    "error rate": 'sum(rate(http_requests_total{status=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))',
    "inference p95": "histogram_quantile(0.95, model_inference_duration_seconds_bucket)",
}
INFERENCE_P95 = "histogram_quantile(0.95, sum(rate(model_inference_duration_seconds_bucket[5m])) by (le))"
SERIES = ("http_requests_total", "http_request_duration_seconds_bucket", "model_inference_duration_seconds_bucket",
          "crosssell_recommendations_total", "crosssell_high_confidence_recommendations", "crosssell_model_coverage",
          "sync_records_processed_total", "celery_task_queue_length")


async def _load(base: str, seconds: float, concurrency: int = 4) -> dict[int, int]:
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        ids = (await c.get("/api/v1/accounts", params={"limit": 1000})).json()["accounts"]
        deadline = time.monotonic() + seconds
        rng = random.Random(3)

        async def user() -> None:
            while time.monotonic() < deadline:
                r = await c.get(f"/api/v1/accounts/{rng.choice(ids)}/recommendations")
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                await asyncio.sleep(0.01)

        await asyncio.gather(*(user() for _ in range(concurrency)))
        for org in ("org-east", "org-west"):
            r = await c.post(f"/api/v1/sync/{org}")
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
    return statuses


def test_slo_queries_return_data_and_every_metric_is_scraped(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as broker, collector_pipeline(tmp_path, PASSTHROUGH) as pipeline:
        prom = start_prometheus(tmp_path, f"127.0.0.1:{pipeline.egress.prometheus_port}")
        sf_port, api_port = free_port(), free_port()
        env = {"REDIS_URL": broker.url, "SALESFORCE_URL": f"http://127.0.0.1:{sf_port}", "ENV": "test",
               "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{pipeline.otlp_grpc_endpoint}",
               "OTEL_METRIC_EXPORT_INTERVAL": "1000", "OBS_LOG_JSON_STDOUT": "false",
               "HEALTH_PROBE_INTERVAL_SECONDS": "2"}
        procs: list[Proc] = []
        try:
            procs.append(Proc([sys.executable, "-m", "uvicorn", "--factory", "services.crosssell.salesforce:create_app",
                               "--host", "127.0.0.1", "--port", str(sf_port), "--log-level", "warning"],
                              log=tmp_path / "salesforce.log", env=env, cwd=REPO))
            procs.append(Proc([sys.executable, "-m", "celery", "-A", "services.crosssell.worker_main", "worker",
                               "-Q", "crosssell", "--pool", "solo", "--loglevel", "warning"],
                              log=tmp_path / "worker.log", env=env, cwd=REPO))
            procs.append(Proc([sys.executable, "-m", "uvicorn", "--factory", "services.crosssell.app:create_app",
                               "--host", "127.0.0.1", "--port", str(api_port), "--log-level", "warning"],
                              log=tmp_path / "api.log", env=env, cwd=REPO))
            wait_for_port(sf_port, timeout=60, proc=procs[0].popen)
            wait_for_port(api_port, timeout=90, proc=procs[2].popen)
            base = f"http://127.0.0.1:{api_port}"
            assert httpx.get(base + "/health", timeout=10).status_code == 200
            statuses = asyncio.run(_load(base, 20))
            assert statuses.get(200, 0) > 100 and statuses.get(202) == 2, statuses
            wait_until(lambda: prom.query("sum(sync_records_processed_total) >= 500"), 60,
                       f"the worker synced both orgs\n{procs[1].output()[-2000:]}")

            def names() -> set[str]:
                return {s.name for fam in text_string_to_metric_families(pipeline.scrape()) for s in fam.samples}

            wait_until(lambda: set(SERIES) <= names(), 60, "every series in the Collector's scrape")
            # The broker goes away: the sync route answers 503 (the 5xx the SLIs count).
            broker.proc.stop()
            for _ in range(3):
                assert httpx.post(base + "/api/v1/sync/org-east", timeout=10).status_code == 503

            queries = dict(SLO_QUERIES)
            for group in yaml.safe_load(SLO_RULES.read_text())["groups"]:
                queries.update({r["record"]: r["expr"] for r in group["rules"] if "record" in r})
            missing = {}
            deadline = time.monotonic() + 60
            while True:
                missing = {name: expr for name, expr in queries.items() if not prom.query(expr)}
                if not missing or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert not missing, f"SLO queries without data: {missing}"
            p95 = float(prom.query(INFERENCE_P95)[0]["value"][1])
            errors = float(prom.query(SLO_QUERIES["error rate"])[0]["value"][1])
            print(f"\ninference p95 {p95 * 1000:.1f} ms over {statuses.get(200)} recommendations; "
                  f"5xx share {errors:.4f}")
            assert 0 < p95 < 1.0
        finally:
            for p in reversed(procs):
                p.stop(timeout=20)
            prom.proc.stop()
