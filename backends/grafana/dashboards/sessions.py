"""The WhatsApp session fleet, from the session-health connector's per-session series."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from . import graph, new, single


def build() -> Dashboard:
    return (
        new("otelpipe-whatsapp-sessions", "WhatsApp session fleet", ["sessions", "whatsapp"],
            "Every WhatsApp session the session-health connector follows: connection state, heartbeats, "
            "reconnects, circuit breakers and the connector's own alert verdicts.")
        .row("Fleet")
        .panel(single("Sessions", "sum(wa_tenant_sessions)"))
        .panel(single("Connected", 'sum(wa_session_state{state="connected"})'))
        .panel(single("Breakers open", "sum(wa_circuit_breaker_open)"))
        .panel(single("Sessions alerting", "count(wa_session_alerts > 0) or vector(0)",
                      description="Sessions with a warning or critical verdict of the connector."))
        .panel(single("Tenant alerts", "sum(wa_tenant_alerts)"))
        .panel(single("Stale heartbeats", "count(wa_heartbeat_age_seconds >= 60) or vector(0)"))
        .row("Sessions")
        .panel(graph("Connected share (5 m)",
                     ("session:wa_session_connected:avg_over_time_5m", "{{tenant_id}} {{wa_session_id}}"),
                     unit="percentunit"))
        .panel(graph("Heartbeat age",
                     ("wa_heartbeat_age_seconds", "{{tenant_id}} {{wa_session_id}}"), unit="s",
                     description="WaSessionHeartbeatStale at 60 s (warning) and 300 s (critical)."))
        .panel(graph("Heartbeat fresh (< 60 s)",
                     ("session:wa_heartbeat_fresh:bool", "{{wa_session_id}}"), unit="bool"))
        .panel(graph("Reconnect attempts (1 h)",
                     ("session:wa_reconnect_attempts:increase_1h", "{{wa_session_id}}")))
        .panel(graph("Credential age", ("wa_session_credential_age_seconds", "{{tenant_id}} {{wa_session_id}}"),
                     unit="s", description="WaSessionCredentialsStale at 24 h (warning) and 168 h (critical)."))
        .panel(graph("Reconnect latency", ("wa_session_reconnect_latency_seconds", "{{tenant_id}} {{wa_session_id}}"),
                     unit="s", description="The reconnect in progress, 0 when none; WaSessionReconnectSlow at 30 s "
                                           "(warning) and 120 s (critical)."))
        .panel(graph("Missed heartbeats", ("wa_session_missed_heartbeats", "{{tenant_id}} {{wa_session_id}}"),
                     description="In a row; WaSessionHeartbeatsMissed at 3 (warning) and 10 (critical)."))
        .panel(graph("Circuit breaker", ("wa_circuit_breaker_open", "{{wa_session_id}}"), unit="bool"))
        .panel(graph("Connector verdicts", ("sum by (level) (wa_session_alerts)", "{{level}}")))
        .panel(graph("Session events", ("sum by (event) (rate(wa_session_events_total[$__rate_interval]))",
                                        "{{event}}"), unit="ops", width=24))
        .build()
    )
