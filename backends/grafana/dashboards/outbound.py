"""The outbound WhatsApp API service: its queue, deliveries, tenants' breakers and rate limits, health."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from . import graph, new, p95, single

MAIN_QUEUE = 'queue="outbound-processed"'


def _by(labels: str, name: str, matchers: str = "") -> str:
    return f"sum by ({labels}) (rate({name}{{{matchers}}}[$__rate_interval]))"


def build() -> Dashboard:
    return (
        new("otelpipe-outbound", "whatsapp outbound", ["whatsapp", "outbound"],
            "The outbound WhatsApp API service: the RabbitMQ queue it consumes, deliveries to the Graph API, "
            "each tenant's circuit breaker and token bucket, credential fetches, retries and dead letters.")
        .row("Health")
        .panel(single("Queue depth", f"sum(rabbitmq_queue_depth{{{MAIN_QUEUE}}})",
                      description="Ready messages of the main queue. OutboundQueueDepthHigh fires above 1000 "
                                  "for 10 m."))
        .panel(single("Delivered/s (5 m)", "sum(rate(messages_delivered_total[5m]))", unit="ops"))
        .panel(single("Failed share (5 m)", "max(job:outbound_messages_failed:ratio_rate5m)", unit="percentunit",
                      description="Failed over consumed messages. OutboundHighErrorRate fires above 5 % for 5 m."))
        .panel(single("Open breakers", 'sum(tenant_circuit_breaker_state{state="open"})',
                      description="Tenants whose breaker is open. OutboundCircuitBreakerOpen fires after 2 m."))
        # /health and /health/ready answer 503 while the readiness probe finds RabbitMQ down.
        .panel(single("RabbitMQ up (readiness probe)", "min(outbound_rabbitmq_up)", unit="bool",
                      description="0 while /health and /health/ready answer 503."))
        .panel(single("Health probes (2 m)", "sum(job:outbound_heartbeats:increase2m)",
                      description="Readiness probes the service ran; OutboundServiceDown fires when none for 1 m."))
        .row("Queue")
        .panel(graph("Queue depth by queue", ("sum by (queue) (rabbitmq_queue_depth)", "{{queue}}"),
                     description="The main queue, its retry queues (one per delay) and its dead-letter queue."))
        .panel(graph("Retries and dead letters",
                     (_by("tenant", "messages_retried_total"), "retried {{tenant}}"),
                     (_by("tenant, error_code", "messages_dead_lettered_total"), "dead {{tenant}} {{error_code}}"),
                     unit="ops"))
        .row("Delivery")
        .panel(graph("Consumed by status", (_by("status", "messages_consumed_total"), "{{status}}"), unit="ops",
                     description="consumed when taken off the queue, then success, failed or duplicate."))
        .panel(graph("Delivered by tenant", (_by("tenant", "messages_delivered_total"), "{{tenant}}"), unit="ops"))
        .panel(graph("Failures by error code",
                     (_by("error_code, retryable", "messages_failed_total"), "{{error_code}} retryable={{retryable}}"),
                     unit="ops"))
        .panel(graph("Graph API requests by status code",
                     (_by("status_code", "meta_api_requests_total"), "{{status_code}}"), unit="reqps"))
        .panel(graph("Processing latency p95 by tenant",
                     (p95("message_processing_duration_seconds", "tenant"), "{{tenant}}"), unit="s"))
        .panel(graph("Graph API latency p95 by tenant",
                     (p95("meta_api_request_duration_seconds", "tenant"), "{{tenant}}"), unit="s"))
        .row("Tenants")
        .panel(graph("Breaker state per tenant",
                     ('max by (tenant) (tenant_circuit_breaker_state{state="open"})', "{{tenant}} open"),
                     ('max by (tenant) (tenant_circuit_breaker_state{state="half-open"})', "{{tenant}} half-open"),
                     unit="bool", description="1 while the tenant's breaker is in that state."))
        .panel(graph("Rate-limit tokens per tenant",
                     ("min by (tenant) (tenant_rate_limit_available)", "{{tenant}}"),
                     description="Tokens left in each tenant's bucket."))
        .panel(graph("Credential fetch errors",
                     ("sum by (tenant, reason) (increase(tenant_service_errors_total[$__rate_interval]))",
                      "{{tenant}} {{reason}}"),
                     description="Failed fetches from the tenant service. OutboundCredentialFetchFailures fires "
                                 "above 10 in 5 m."))
        .panel(graph("Credential fetch latency p95",
                     (p95("credential_fetch_duration_seconds", "cached"), "cached={{cached}}"), unit="s"))
        .row("HTTP")
        .panel(graph("/health answers by status",
                     (_by("route, status", "outbound_http_requests_total", 'route=~"/health.*"'),
                      "{{route}} {{status}}"), unit="reqps", width=24,
                     description="503 while RabbitMQ or the tenant service fails (/health) or RabbitMQ is "
                                 "unreachable (/health/ready)."))
        .build()
    )
