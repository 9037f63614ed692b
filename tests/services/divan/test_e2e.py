"""divan-api through the real pipeline: SDK → otelcol → processors → otelcol → file sinks and Prometheus.

One request yields a trace with its FastAPI, SQLAlchemy and Redis spans, log
records carrying the same trace_id, and every divan_* metric appears in the
Collector's Prometheus scrape under its own name.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx
import pytest

from processors.api import Signal
from services.divan.app import create_app
from services.divan.metrics import SEED_METRICS
from services.divan.security import issue_token
from services.divan.traffic import drive_http, drive_sockets
from tests.services.divan.conftest import ADMIN_TOKEN, _reset_postgres, divan_settings
from tests.services.divan.live import serving
from tests.support.pipeline import collector_pipeline
from tests.support.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.e2e

SERVICE = "divan-api"


def _resource_service(resource) -> str | None:
    return next((kv.value.string_value for kv in resource.attributes if kv.key == "service.name"), None)


def _spans(requests: list, trace_id: bytes) -> list:
    return [sp for req in requests for rs in req.resource_spans if _resource_service(rs.resource) == SERVICE
            for ss in rs.scope_spans for sp in ss.spans if sp.trace_id == trace_id]


def _logs(requests: list, trace_id: bytes) -> list:
    return [lr for req in requests for rl in req.resource_logs if _resource_service(rl.resource) == SERVICE
            for sl in rl.scope_logs for lr in sl.log_records if lr.trace_id == trace_id]


def _attr(item, key: str):
    for kv in item.attributes:
        if kv.key == key:
            return getattr(kv.value, kv.value.WhichOneof("value"))
    return None


def _series_names(scrape: str) -> set[str]:
    names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", scrape, re.M))
    # A histogram's family name is its series name without _bucket/_sum/_count.
    return names | {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def test_a_request_is_traced_logged_and_every_seed_metric_is_scraped(
        tmp_path: Path, otelcol: str, redis_srv: RedisServer, postgres_srv: PostgresServer) -> None:
    _reset_postgres(postgres_srv.url)
    with collector_pipeline(tmp_path) as pipe:
        settings = divan_settings(
            REDIS_URL=redis_srv.url, DATABASE_URL=postgres_srv.dsn,
            OTEL_EXPORTER_OTLP_ENDPOINT=f"grpc://{pipe.otlp_grpc_endpoint}", OTEL_METRIC_EXPORT_INTERVAL=500,
            HEALTH_PROBE_INTERVAL_SECONDS=0.5,
        )
        app = create_app(settings)
        with serving(app) as url:
            with httpx.Client(base_url=url, timeout=10) as http:
                seen = drive_http(http, settings.JWT_SECRET, admin_token=ADMIN_TOKEN)
                headers = {"Authorization": f"Bearer {issue_token(settings.JWT_SECRET, 101)}"}
                resp = http.post("/chat/messages", json={"to_user": 102, "body": "e2e body text"}, headers=headers)
            assert resp.status_code == 201, seen
            asyncio.run(drive_sockets(url, settings.JWT_SECRET))
            trace_id = bytes.fromhex(resp.headers["traceparent"].split("-")[1])
            # Leave time for one periodic export after the last probe and socket event.
            time.sleep(1.2)
        # Leaving `serving` ran the lifespan shutdown, which flushed all three signals.
        app.state.obs.shutdown()

        traces = pipe.wait_for(Signal.TRACES, lambda reqs: len(_spans(reqs, trace_id)) >= 3, timeout=60)
        spans = _spans(traces, trace_id)
        names = {sp.name for sp in spans}
        assert "POST /chat/messages" in names
        systems = {_attr(sp, "db.system") for sp in spans}
        assert {"postgresql", "redis"} <= systems, names
        insert = [sp for sp in spans if _attr(sp, "db.system") == "postgresql" and "INSERT" in sp.name.upper()]
        assert insert, names

        logs = pipe.wait_for(Signal.LOGS, lambda reqs: len(_logs(reqs, trace_id)) >= 2, timeout=60)
        bodies = {lr.body.string_value for lr in _logs(logs, trace_id)}
        assert "chat message sent" in bodies and "POST /chat/messages 201" in bodies
        assert all("e2e body text" not in b for b in bodies)

        deadline = time.monotonic() + 60
        missing = set(SEED_METRICS)
        while missing and time.monotonic() < deadline:
            missing = set(SEED_METRICS) - _series_names(pipe.scrape())
            time.sleep(0.5)
        assert not missing, f"not in the Collector's Prometheus scrape: {sorted(missing)}"
        scrape = pipe.scrape()
        assert re.search(r'^divan_chat_send_total\{[^}]*job="divan-api"[^}]*\} [1-9]', scrape, re.M)
        assert re.search(r'^divan_http_request_duration_seconds_bucket\{[^}]*le="0\.01"', scrape, re.M)
