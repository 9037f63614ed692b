"""The admin /metrics view and the OTLP metric export read one aggregation, and agree."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.services.obs.capture import build_app
from tests.services.obs.otlp_sink import otlp_sink

SCOPE_LABELS = re.compile(r'otel_scope_[a-z_]+="[^"]*",?')


def _scraped(text: str, series: str) -> float:
    """The value of one series (labels as written, scope labels left out) in a Prometheus text scrape."""
    for line in text.splitlines():
        name_labels, _, value = SCOPE_LABELS.sub("", line).rpartition(" ")
        if name_labels.replace(",}", "}") == series:
            return float(value)
    raise AssertionError(f"{series} not in scrape:\n{text}")


def _widget_app(sink_endpoint: str):
    app, o, _ = build_app(OTEL_EXPORTER_OTLP_ENDPOINT=sink_endpoint)
    widgets = o.meter.create_counter("demo_widgets_sent_total", unit="{widget}")

    @app.post("/widgets")
    def send() -> dict[str, bool]:
        widgets.add(2, {"kind": "blue"})
        return {"ok": True}

    return app, o


def test_scrapes_and_exports_show_the_same_running_totals(admin_headers: dict[str, str]) -> None:
    with otlp_sink() as sink:
        app, o = _widget_app(sink.endpoint)
        assert o.providers.view_shares_otlp_aggregation  # each measurement aggregated once
        with TestClient(app) as client:
            for _ in range(3):
                client.post("/widgets")
            first = client.get("/metrics", headers=admin_headers).text
            o.force_flush()
            client.post("/widgets")
            second = client.get("/metrics", headers=admin_headers).text
            o.force_flush()
        o.shutdown()
    # A scrape neither resets nor steals from the export, and the export does not reset the view.
    assert _scraped(first, 'demo_widgets_sent_total{kind="blue"}') == 6
    assert _scraped(second, 'demo_widgets_sent_total{kind="blue"}') == 8
    assert second.count("demo_widgets_sent_total{") == 1
    assert _scraped(second, 'demo_http_requests_total{method="POST",route="/widgets",status="200"}') == 4
    exported = [p.as_int for p in sink.metric_points("demo_widgets_sent_total")]
    assert exported[:2] == [6, 8]
    durations = [p.count for p in sink.metric_points("demo_http_request_duration_seconds")
                 if {a.key: a.value.string_value for a in p.attributes}.get("route") == "/widgets"]
    assert durations[:2] == [3, 4]


def test_a_delta_otlp_reader_gets_a_view_of_its_own(monkeypatch: pytest.MonkeyPatch,
                                                    admin_headers: dict[str, str]) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    with otlp_sink() as sink:
        app, o = _widget_app(sink.endpoint)
        assert not o.providers.view_shares_otlp_aggregation
        with TestClient(app) as client:
            for _ in range(3):
                client.post("/widgets")
            o.force_flush()
            client.post("/widgets")
            scraped = client.get("/metrics", headers=admin_headers).text
            o.force_flush()
        o.shutdown()
    # The view stays cumulative while each OTLP export carries only what came since the last one,
    # and a flush leaves no stale copy of a series behind for the next scrape.
    assert _scraped(scraped, 'demo_widgets_sent_total{kind="blue"}') == 8
    assert scraped.count("demo_widgets_sent_total{") == 1
    assert [p.as_int for p in sink.metric_points("demo_widgets_sent_total")][:2] == [6, 2]


def test_without_an_endpoint_the_view_has_its_own_reader(admin_headers: dict[str, str]) -> None:
    app, o, _ = build_app()
    assert not o.providers.view_shares_otlp_aggregation
    with TestClient(app) as client:
        client.get("/health/live")
        text = client.get("/metrics", headers=admin_headers).text
    assert _scraped(text, 'demo_http_requests_total{method="GET",route="/health/live",status="200"}') == 1


def test_exponential_otlp_histograms_leave_the_view_its_own_explicit_buckets(
        monkeypatch: pytest.MonkeyPatch, admin_headers: dict[str, str]) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "base2_exponential_bucket_histogram")
    with otlp_sink() as sink:
        app, o = _widget_app(sink.endpoint)
        assert not o.providers.view_shares_otlp_aggregation
        with TestClient(app) as client:
            client.post("/widgets")
            scraped = client.get("/metrics", headers=admin_headers).text
            o.force_flush()
        o.shutdown()
    # Prometheus text has no exponential histograms: the view keeps the seed's explicit buckets.
    assert _scraped(scraped, 'demo_http_request_duration_seconds_count{method="POST",route="/widgets"}') == 1
    exported = [m for req in sink.requests("metrics") for rm in req.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == "demo_http_request_duration_seconds"]
    assert exported and exported[0].WhichOneof("data") == "exponential_histogram"
