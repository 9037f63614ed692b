"""The ingest service and the WhatsApp message collectors that post batches to it."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from . import graph, listing, new, p95, single

BATCHES = 'whatsapp_ingest_http_requests_total{route="/integrations/whatsapp/ingest"}'


def build() -> Dashboard:
    return (
        new("otelpipe-whatsapp-ingest", "WhatsApp ingest", ["ingest", "whatsapp"],
            "Batches from the WhatsApp message collectors: what was accepted and extracted, the 401/403/429 "
            "refusals the alerts watch, and the failures of the time range.")
        .row("Stats")
        .panel(single("Batches accepted", f'sum(increase({BATCHES[:-1]}, status=~"2.."}}[$__range]))',
                      description="Collector batches answered 2xx (the collectors' batches_success)."))
        .panel(single("Messages accepted", "sum(increase(pricebot_whatsapp_accepted_total[$__range]))"))
        .panel(single("Offers extracted", "sum(increase(pricebot_whatsapp_extracted_total[$__range]))"))
        .panel(single("Duplicates", "sum(increase(pricebot_whatsapp_deduped_total[$__range]))"))
        .panel(single("Media uploaded", "sum(increase(pricebot_whatsapp_media_uploaded_total[$__range]))"))
        .panel(single("Extraction error ratio", "max(job:pricebot_whatsapp_extraction_errors:ratio_5m)",
                      unit="percentunit",
                      description="errors / max(extracted, 1) over 5 m; WhatsAppIngestExtractionFailures at 5 %."))
        .row("Refusals")
        .panel(graph("401/403 refusals a minute",
                     ("job:pricebot_whatsapp_auth_refusals:rate_per_minute", "401+403 {{job}}"),
                     ("sum by (job) (rate(pricebot_whatsapp_auth_failures_total[$__rate_interval])) * 60",
                      "401 {{job}}"),
                     ("sum by (job) (rate(pricebot_whatsapp_forbidden_total[$__rate_interval])) * 60",
                      "403 {{job}}"),
                     unit="short", description="WhatsAppIngestAuthFailureSpike fires at 3 a minute for 3 m."))
        .panel(graph("429 refusals a minute",
                     ("job:pricebot_whatsapp_rate_limited:rate_per_minute", "429 {{job}}"),
                     unit="short", description="WhatsAppIngestRateLimitSpike fires at 5 a minute for 3 m."))
        .panel(graph("Batches by status",
                     (f"sum by (status) (rate({BATCHES}[$__rate_interval]))", "{{status}}"), unit="reqps"))
        .panel(graph("Request latency p95",
                     (p95("whatsapp_ingest_http_request_duration_seconds", "route"),
                      "{{route}}"), unit="s"))
        .row("Collectors")
        .panel(single("Collectors connected", "sum(client:pricebot_whatsapp_collector_connected:latest)",
                      description="Collectors whose last report said their WhatsApp connection is open."))
        .panel(single("Collectors not connected",
                      "count(client:pricebot_whatsapp_collector_connected:latest == 0) or vector(0)",
                      description="WhatsAppCollectorOffline fires for one after 2 minutes."))
        .panel(single("Collectors untracked (time range)",
                      "sum(increase(pricebot_whatsapp_collector_untracked_total[$__range]))",
                      description="Reports from collectors past WHATSAPP_COLLECTOR_MAX_CLIENTS."))
        .panel(graph("Connection by collector",
                     ("client:pricebot_whatsapp_collector_connected:latest", "{{client_id}}"),
                     unit="bool", description="1 open, 0 otherwise, from the newest report."))
        .panel(graph("Since last report",
                     ("time() - max by (client_id) (pricebot_whatsapp_collector_last_seen_timestamp_seconds)",
                      "{{client_id}}"), unit="s", description="Heartbeat or accepted batch."))
        .panel(graph("Batches accepted by collector",
                     ("sum by (client_id) (rate(pricebot_whatsapp_collector_batches_success_total[$__rate_interval]))",
                      "{{client_id}}"), unit="reqps",
                     description="WhatsAppCollectorOffline fires for a collector with none in 10 minutes.", width=24))
        .row("Failures")
        .panel(listing("Recent failures (time range)",
                       'sort_desc(sum by (route, method, status) '
                       '(increase(whatsapp_ingest_http_requests_total{status=~"4..|5.."}[$__range])) > 0)',
                       description="Refused and failed requests of the time range, by route and status."))
        .build()
    )
