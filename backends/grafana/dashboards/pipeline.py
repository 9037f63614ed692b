"""The pipeline itself: the Collector and the processors between the services and the backends."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from . import graph, new, p95, single


def _by(labels: str, name: str) -> str:
    return f"sum by ({labels}) (rate({name}[$__rate_interval]))"


def build() -> Dashboard:
    return (
        new("otelpipe-pipeline", "otelpipe pipeline", ["pipeline"],
            "Items through each stage (Collector in, processors in and out, Collector out to each backend), "
            "drops by reason, redactions by rule, the log sampling ratio, queue depth and latency.")
        .row("Health")
        .panel(single("Targets up", "sum(up)", description="Scrape targets answering (Collector, "
                                                             "its exporter, each processor replica)."))
        .panel(single("Processor replicas up", 'sum(up{job="otelproc"})'))
        .panel(single("Collector uptime", "max(otelcol_process_uptime)", unit="s"))
        .panel(single("Log sampling ratio", "min(otelproc_log_sampling_ratio)", unit="percentunit"))
        .row("Items by stage")
        .panel(graph("Collector in",
                     ("sum(rate(otelcol_receiver_accepted_spans[$__rate_interval]))", "spans"),
                     ("sum(rate(otelcol_receiver_accepted_log_records[$__rate_interval]))", "log records"),
                     ("sum(rate(otelcol_receiver_accepted_metric_points[$__rate_interval]))", "metric points"),
                     unit="ops"))
        .panel(graph("Processors in and out",
                     (_by("signal", "otelproc_received_items_total"), "in {{signal}}"),
                     (_by("signal", "otelproc_exported_items_total"), "out {{signal}}"), unit="ops"))
        .panel(graph("Collector out, by exporter",
                     (_by("exporter", "otelcol_exporter_sent_spans"), "spans {{exporter}}"),
                     (_by("exporter", "otelcol_exporter_sent_log_records"), "log records {{exporter}}"),
                     (_by("exporter", "otelcol_exporter_sent_metric_points"), "metric points {{exporter}}"),
                     unit="ops", width=24))
        .row("Drops, redaction and sampling")
        .panel(graph("Drops by reason",
                     (_by("component, reason", "otelproc_dropped_items_total"), "{{component}} {{reason}}"),
                     unit="ops",
                     description="reason=\"sampled\" is log sampling doing its job; every other reason "
                                 "is what OtelpipeItemsDropped alerts on."))
        .panel(graph("Redactions by rule",
                     (_by("rule, action", "otelproc_redaction_findings_total"), "{{rule}} {{action}}"),
                     unit="ops"))
        .panel(graph("Log sampling",
                     ("otelproc_log_sampling_ratio", "ratio {{instance}}"),
                     (_by("instance", "otelproc_log_sampling_kept_records_total"), "kept {{instance}}"),
                     (_by("instance", "otelproc_log_sampling_dropped_records_total"), "dropped {{instance}}"),
                     ))
        .row("Queues and latency")
        .panel(graph("Sending queue depth",
                     ("sum by (exporter, data_type) (otelcol_exporter_queue_size)", "{{exporter}} {{data_type}}"),
                     ("exporter:otelcol_exporter_queue:usage_ratio", "usage {{exporter}} {{data_type}}"),
                     description="OtelpipeSendingQueueNearFull at 80 % (warning) and 95 % (critical)."))
        .panel(graph("Export failures, by exporter",
                     (_by("exporter", "otelcol_exporter_send_failed_spans"), "spans {{exporter}}"),
                     (_by("exporter", "otelcol_exporter_send_failed_log_records"), "log records {{exporter}}"),
                     (_by("exporter", "otelcol_exporter_send_failed_metric_points"), "metric points {{exporter}}"),
                     unit="ops", description="Items an exporter gave up on; OtelpipeExporterFailing alerts on them."))
        .panel(graph("Processing latency p95",
                     (p95("otelproc_processing_duration_seconds"), "processors"),
                     # The load balancer's latency is in milliseconds.
                     (p95("otelcol_loadbalancer_backend_latency") + " / 1000", "Collector → processors"),
                     unit="s"))
        .build()
    )
