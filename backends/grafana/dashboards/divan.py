"""The divan API: its requests, its Redis and PostgreSQL, chat and proximity."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from . import graph, new, p95, single


def _rate(name: str) -> str:
    return f"sum(rate({name}[$__rate_interval]))"


def build() -> Dashboard:
    return (
        new("otelpipe-divan", "divan", ["divan"],
            "The divan backend: request rate, errors and latency; its stores; chat, rooms and proximity.")
        .row("Backend overview")
        .panel(single("Requests/s (5 m)", "sum(job:divan_http_requests:rate5m)", unit="reqps"))
        # 0 while requests flow without a 5xx (the recording rule alone would show "No data").
        .panel(single("5xx share (5 m)",
                      '(sum(rate(divan_http_requests_total{status=~"5.."}[5m])) '
                      "or 0 * sum(rate(divan_http_requests_total[5m]))) / sum(rate(divan_http_requests_total[5m]))",
                      unit="percentunit", description="DivanHighErrorRate fires above 5 % for 10 m."))
        .panel(single("p95 latency (5 m)", "max(job:divan_http_request_duration_seconds:p95_5m)", unit="s",
                      description="DivanApiLatencyHigh fires above 400 ms for 15 m."))
        .panel(single("Socket.IO clients", "sum(job:divan_socketio_clients:sum)"))
        .panel(graph("Requests by route", ("sum by (route) (rate(divan_http_requests_total[$__rate_interval]))",
                                           "{{route}}"), unit="reqps"))
        .panel(graph("Requests by status",
                     ("sum by (status) (rate(divan_http_requests_total[$__rate_interval]))", "{{status}}"),
                     unit="reqps"))
        .panel(graph("5xx by route",
                     ('sum by (route, status) (rate(divan_http_requests_total{status=~"5.."}[$__rate_interval]))',
                      "{{route}} {{status}}"),
                     ("job:divan_http_errors:ratio_rate5m", "5xx share {{job}}"), unit="reqps"))
        .panel(graph("Latency p95 by route",
                     (p95("divan_http_request_duration_seconds", "route"), "{{route}}"),
                     unit="s"))
        .row("Redis and PostgreSQL")
        .panel(graph("Store up", ("divan_redis_up", "Redis {{instance}}"),
                     ("divan_postgres_up", "PostgreSQL {{instance}}"), unit="bool"))
        .panel(graph("Store probe latency p95",
                     (p95("divan_redis_latency_seconds"), "Redis"),
                     (p95("divan_postgres_latency_seconds"), "PostgreSQL"),
                     unit="s"))
        .row("Chat and proximity")
        .panel(graph("Chat",
                     (_rate("divan_chat_send_total"), "sent"),
                     (_rate("divan_chat_delivered_updates_total"), "delivered"),
                     (_rate("divan_chat_read_updates_total"), "read"),
                     (_rate("divan_rooms_send_total"), "room messages"), unit="ops"))
        .panel(graph("Socket.IO",
                     ("job:divan_socketio_clients:sum", "clients {{job}}"),
                     ("sum by (event) (rate(divan_socketio_events_total[$__rate_interval]))", "{{event}}")))
        .panel(graph("Proximity and presence",
                     (_rate("divan_proximity_queries_total"), "proximity queries"),
                     (_rate("divan_presence_heartbeats_total"), "presence heartbeats"),
                     (_rate("divan_presence_rejects_total"), "presence rejects"), unit="ops", width=24))
        .build()
    )
