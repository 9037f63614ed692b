"""The cross-sell platform: API health, the recommendation model, the Salesforce sync, its SLOs."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from . import graph, new, p95, single

# The SLOs' error budgets (backends/prometheus/rules/crosssell-slo.yml): a burn rate is the error ratio over it.
BUDGETS = {"availability": 0.001, "latency": 0.05, "inference": 0.05}
# 0 while requests flow without a 5xx (the 5xx rate alone would show "No data").
ERROR_SHARE = ('(sum(rate(http_requests_total{status=~"5.."}[$__rate_interval])) '
               "or 0 * sum(rate(http_requests_total[$__rate_interval]))) "
               "/ sum(rate(http_requests_total[$__rate_interval]))")


def _quantile(q: float, histogram: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({histogram}_bucket[$__rate_interval])))"


def _burn(slo: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"max(job:crosssell_slo_{slo}_errors:ratio_rate{w}) / {BUDGETS[slo]}", f"{w}")
                 for w in ("5m", "30m", "1h", "6h"))


def build() -> Dashboard:
    return (
        new("otelpipe-crosssell", "cross-sell", ["crosssell"],
            "The cross-sell intelligence platform: API success rate, latency and errors; recommendations, "
            "model coverage and inference latency; the Salesforce sync by org and the Celery queue; SLO burn rates.")
        .row("API health")
        .panel(single("Success rate (5 m)",
                      'sum(rate(http_requests_total{status!~"5.."}[5m])) / sum(rate(http_requests_total[5m]))',
                      unit="percentunit", description="Availability SLO: 99.9 %."))
        .panel(single("p95 latency (5 m)", "max(job:crosssell_http_request_duration_seconds:p95_5m)", unit="s",
                      description="Latency SLO: p95 under 500 ms."))
        .panel(single("Requests/s (5 m)", "sum(rate(http_requests_total[5m]))", unit="reqps"))
        .panel(single("Error rate (5 m)", "max(job:crosssell_http_errors:ratio_rate5m)", unit="percentunit",
                      description="5xx share. CrossSellHighErrorRate fires above 1 % for 5 m."))
        .panel(single("Redis up", "min(crosssell_redis_up)", unit="bool",
                      description="The Celery broker; sync requests answer 503 without it."))
        .panel(single("Celery queue", "sum(celery_task_queue_length)", description="Sync tasks waiting."))
        .panel(graph("Requests by endpoint and status",
                     ("sum by (endpoint, status) (rate(http_requests_total[$__rate_interval]))",
                      "{{endpoint}} {{status}}"), unit="reqps"))
        .panel(graph("Latency p95 by endpoint",
                     (p95("http_request_duration_seconds", "endpoint"), "{{endpoint}}"),
                     unit="s"))
        .panel(graph("Error rate",
                     (ERROR_SHARE, "5xx share"),
                     unit="percentunit", width=24))
        .row("ML pipeline")
        .panel(single("High-confidence accounts", "sum(crosssell_high_confidence_recommendations)",
                      description="Accounts whose best recommendation scores at least CROSSSELL_HIGH_CONFIDENCE."))
        .panel(single("Model coverage", "min(crosssell_model_coverage)", unit="percentunit",
                      description="Share of accounts with a recommendation."))
        .panel(single("Recommendations (range)", "sum(increase(crosssell_recommendations_total[$__range]))"))
        .panel(single("Inference p95 (5 m)", "max(job:crosssell_model_inference_duration_seconds:p95_5m)", unit="s",
                      description="Inference SLO: p95 under 200 ms; CrossSellSlowInference fires above 500 ms "
                                  "for 10 m.", width=12))
        .panel(graph("Recommendations by product",
                     ("sum by (product) (rate(crosssell_recommendations_total[$__rate_interval]))", "{{product}}"),
                     unit="ops"))
        .panel(graph("Inference latency",
                     (_quantile(0.5, "model_inference_duration_seconds"), "p50"),
                     (_quantile(0.95, "model_inference_duration_seconds"), "p95"),
                     (_quantile(0.99, "model_inference_duration_seconds"), "p99"), unit="s"))
        .panel(graph("High-confidence accounts and coverage",
                     ("sum(crosssell_high_confidence_recommendations)", "high-confidence accounts"),
                     ("min(crosssell_model_coverage) * 100", "coverage %"), width=24))
        .row("Data pipeline")
        .panel(graph("Sync records by org",
                     ("sum by (org) (rate(sync_records_processed_total[$__rate_interval]))", "{{org}}"),
                     unit="ops"))
        .panel(graph("Celery queue length", ("sum by (queue) (celery_task_queue_length)", "{{queue}}")))
        .row("SLO burn rates")
        .panel(graph("Availability burn rate", *_burn("availability"),
                     description="Error ratio over the 0.1 % budget; the fast-burn alert fires above 14.4 on 1 h "
                                 "and 5 m, the slow one above 6 on 6 h and 30 m.", width=8))
        .panel(graph("Latency burn rate", *_burn("latency"),
                     description="Requests over 500 ms over the 5 % budget.", width=8))
        .panel(graph("Inference burn rate", *_burn("inference"),
                     description="Predictions over 200 ms over the 5 % budget.", width=8))
        .build()
    )
