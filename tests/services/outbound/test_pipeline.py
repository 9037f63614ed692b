"""The outbound service through the whole pipeline, read by a live Prometheus.

RabbitMQ, the tenant service, the service, otelcol and the processors are real
(the Graph API is the local stand-in). With the consumer stopped, 1,500
published messages make OutboundQueueDepthHigh's expression true in
Prometheus. Then the consumer runs while one tenant's Graph API answers 503
(its breaker opens: ``tenant_circuit_breaker_state{state="open"}`` is 1 in the
Collector's scrape, and CircuitBreakerOpen's expression is true), another's
credentials cannot be fetched, and a third is unknown (dead-lettered); every
metric name of the service is then in the Collector's scrape.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.outbound import traffic
from tests.services.outbound.live import OutboundStack, start_prometheus, wait_until
from tests.support.pipeline import PASSTHROUGH, collector_pipeline
from tests.support.procs import REPO
from tests.support.rabbitmq import rabbitmq_server

pytestmark = pytest.mark.e2e

RULES = REPO / "backends" / "prometheus" / "rules" / "outbound.yml"
# Every series name of the outbound service's specification, and the ones its alerts need besides.
SEED_SERIES = (
    "messages_consumed_total", "messages_delivered_total", "messages_failed_total", "meta_api_requests_total",
    "message_processing_duration_seconds_bucket", "meta_api_request_duration_seconds_bucket",
    "credential_fetch_duration_seconds_bucket", "rabbitmq_queue_depth", "tenant_circuit_breaker_state",
    "tenant_rate_limit_available", "tenant_service_errors_total",
    # The service's own additions, and the heartbeat OutboundServiceDown reads.
    "messages_retried_total", "messages_dead_lettered_total", "outbound_rabbitmq_latency_seconds_count",
)


def alert_expr(name: str) -> str:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name:
                return rule["expr"]
    raise KeyError(name)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k in ("tenant", "state", "queue")))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_queue_depth_breaker_and_every_metric_through_the_pipeline(tmp_path: Path) -> None:
    with rabbitmq_server(tmp_path) as broker, collector_pipeline(tmp_path, PASSTHROUGH) as pipeline:
        prom = start_prometheus(tmp_path, f"127.0.0.1:{pipeline.egress.prometheus_port}")
        stack = OutboundStack(tmp_path, broker.url, otlp=pipeline.otlp_grpc_endpoint)
        try:
            stack.start_neighbours()
            # The consumer stopped: messages pile up.
            stack.start_service(OUTBOUND_CONSUMER_ENABLED="false")
            wait_until(lambda: stack.get("/health/ready").status_code == 200, 30, "ready")
            rng = random.Random(5)
            tenants = ["acme"] * 6 + ["globex"] * 2 + ["initech", "hooli"]
            assert stack.publish([traffic.message(rng.choice(tenants)) for _ in range(1500)]) == 1500
            depth_high = alert_expr("OutboundQueueDepthHigh")
            result = wait_until(lambda: prom.query(depth_high), 60, f"{depth_high} in Prometheus")
            assert {r["metric"]["queue"] for r in result} == {"outbound-processed"}
            # The depth settles at what was published (the gauge is read every second).
            wait_until(lambda: [float(r["value"][1]) for r in prom.query(depth_high)] == [1500.0], 30, "depth 1500")
            stack.stop_service()

            # The consumer runs: globex's Graph API fails, initech's credentials cannot be fetched, hooli is unknown.
            stack.behave("globex", status=503, error_code=2)
            stack.tenant_fault("initech", 503)
            stack.start_service()

            def breaker_open_in_scrape() -> bool:
                s = _samples(pipeline.scrape())
                return s.get(("tenant_circuit_breaker_state", (("state", "open"), ("tenant", "globex")))) == 1

            wait_until(breaker_open_in_scrape, 60, "globex's breaker open in the Collector's scrape")
            scraped = _samples(pipeline.scrape())
            assert scraped[("tenant_circuit_breaker_state", (("state", "closed"), ("tenant", "acme")))] == 1
            assert scraped[("tenant_circuit_breaker_state", (("state", "open"), ("tenant", "acme")))] == 0
            breaker_open = alert_expr("OutboundCircuitBreakerOpen")
            opened = wait_until(lambda: prom.query(breaker_open), 30, f"{breaker_open} in Prometheus")
            assert {r["metric"]["tenant"] for r in opened} == {"globex"}

            def names() -> set[str]:
                return {s.name for fam in text_string_to_metric_families(pipeline.scrape()) for s in fam.samples}

            wait_until(lambda: set(SEED_SERIES) <= names(), 60, "every series in the Collector's scrape")
            # Delivered: acme's messages; dead-lettered: hooli's (unknown tenant) among others.
            dead = wait_until(lambda: prom.query('sum(messages_dead_lettered_total{tenant="hooli"})'), 30,
                              "hooli dead-lettered")
            assert float(dead[0]["value"][1]) > 0
            delivered = stack.deliveries()
            assert delivered["requests"].get("acme", 0) >= 1 and delivered["duplicates"] == {}
            assert "initech" not in delivered["requests"], "initech had no credentials, nothing reached the API"
        finally:
            stack.stop()
            prom.proc.stop()
