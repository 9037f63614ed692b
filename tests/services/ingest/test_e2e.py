"""End to end through the real otelcol: one ingest request yields a trace with
its FastAPI, SQLAlchemy and Redis spans, log records with the same trace_id,
and every seed-000 total in the Collector's Prometheus scrape."""

from __future__ import annotations

import time
from typing import Any

import pytest

from processors.api import Signal
from services.ingest.telemetry import TOTALS, otlp_name
from tests.services.ingest.conftest import MakeIngest, batch
from tests.support.otel import REDIS, SERVER, SQL, logs_of, roles_of, spans_of
from tests.support.pipeline import PASSTHROUGH, collector_pipeline

pytestmark = pytest.mark.e2e

def test_a_request_is_traced_logged_and_counted_through_the_collector(
        tmp_path: Any, make_ingest: MakeIngest, pg_url: str, redis_url: str) -> None:
    with collector_pipeline(tmp_path, PASSTHROUGH) as pipeline:
        ingest = make_ingest(DATABASE_URL=pg_url, REDIS_URL=redis_url, obs_overrides={
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{pipeline.otlp_grpc_endpoint}", "OTEL_METRIC_EXPORT_INTERVAL": 500})
        try:
            _check_request_through_pipeline(pipeline, ingest)
        finally:
            ingest.app.state.obs.shutdown()  # stop exporting before the Collector goes away


def _check_request_through_pipeline(pipeline: Any, ingest: Any) -> None:
    response = ingest.post(batch("e2e-client", "Pixel 8 - $520"))
    assert response.status_code == 200
    ingest.post(batch("e2e-client"), headers={"Authorization": "Bearer wrong"})
    trace_id = bytes.fromhex(response.headers["traceparent"].split("-")[1])
    ingest.app.state.obs.force_flush()

    traces = pipeline.wait_for(Signal.TRACES, lambda reqs: {SERVER, SQL, REDIS} <= roles_of(
        spans_of(reqs, trace_id)))
    logs = pipeline.wait_for(Signal.LOGS, lambda reqs: len(logs_of(reqs, trace_id)) >= 2)

    statements = [a.value.string_value for _, span in spans_of(traces, trace_id) for a in span.attributes
                  if a.key == "db.statement"]
    assert any(s.startswith("INSERT INTO whatsapp_messages") for s in statements)
    bodies = {rec.body.string_value for rec in logs_of(logs, trace_id)}
    assert "ingest batch stored" in bodies

    wanted = {otlp_name(t) for t in TOTALS} | {"whatsapp_ingest_http_requests_total"}
    deadline = time.monotonic() + 30
    while True:
        scrape = pipeline.scrape()
        missing = {name for name in wanted if f"\n{name}{{" not in scrape and f"\n{name} " not in scrape}
        if not missing or time.monotonic() > deadline:
            break
        ingest.app.state.obs.force_flush()
        time.sleep(0.3)
    assert not missing, f"not in the Collector's scrape: {sorted(missing)}"
    assert 'pricebot_whatsapp_auth_failures_total{' in scrape and 'reason="invalid_token"' in scrape
