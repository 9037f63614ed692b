"""What the connector emits: OTLP metrics of every session and tenant, and a
log record for every change of a session's alert level.

Metric names follow the session API's own (``wa_*``); per-session series
carry ``wa.session.id`` and ``tenant.id`` (the Collector's Prometheus exporter
writes them as ``wa_session_id`` and ``tenant_id``). Each measured quantity a
threshold reads has a gauge of its own (credential age, reconnect latency,
missed heartbeats), so that every threshold can be an alert of its own; a
metric without data points is never emitted (an idle connector sends nothing).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from contracts.session_events import ATTR_SESSION_ID, ATTR_STATE, ATTR_TENANT_ID, STATES
from processors.session_health import thresholds as th
from processors.session_health.rollup import SessionView, Snapshot
from processors.session_health.views import iso

SERVICE_NAME = "session-health"
SCOPE_NAME = "processors.session_health"
ATTR_COMPONENT = "otelproc.component.id"

SESSION_STATE = "wa_session_state"
RECONNECT_ATTEMPTS = "wa_reconnect_attempts_total"
HEARTBEAT_AGE = "wa_heartbeat_age_seconds"
BREAKER_OPEN = "wa_circuit_breaker_open"
SESSION_ALERTS = "wa_session_alerts"
TENANT_ALERTS = "wa_tenant_alerts"
TENANT_SESSIONS = "wa_tenant_sessions"
CREDENTIAL_AGE = "wa_session_credential_age_seconds"
RECONNECT_LATENCY = "wa_session_reconnect_latency_seconds"
MISSED_HEARTBEATS = "wa_session_missed_heartbeats"

ATTR_LEVEL = "level"
ATTR_STATUS = "status"
ATTR_STATE_LABEL = "state"

TRANSITION_EVENT = "wa.session_health.alert_transition"  # outside wa.session.*: never folded back in
ATTR_PREVIOUS_LEVEL = "wa.alert.previous_level"
ATTR_ALERT_LEVEL = "wa.alert.level"
ATTR_ALERT_CODES = "wa.alert.codes"
_SEVERITY = {
    th.OK: (SeverityNumber.SEVERITY_NUMBER_INFO, "INFO"),
    th.WARNING: (SeverityNumber.SEVERITY_NUMBER_WARN, "WARN"),
    th.CRITICAL: (SeverityNumber.SEVERITY_NUMBER_ERROR, "ERROR"),
}
_ALERT_LEVELS = (th.WARNING, th.CRITICAL)
_CHUNK = 25  # sessions written between two yields to the event loop

HELP = {
    SESSION_STATE: "Current session state",
    RECONNECT_ATTEMPTS: "Total reconnect attempts",
    HEARTBEAT_AGE: "Seconds since last heartbeat",
    BREAKER_OPEN: "Circuit breaker state",
    SESSION_ALERTS: "Active alerts of a session, by level",
    TENANT_ALERTS: "Active alerts of a tenant's sessions, by level",
    TENANT_SESSIONS: "Sessions of a tenant, by status",
    CREDENTIAL_AGE: "Seconds since the session's credentials were last written (no point before the first write)",
    RECONNECT_LATENCY: "Seconds the reconnect in progress has taken so far; 0 when none is in progress",
    MISSED_HEARTBEATS: "Heartbeats missed in a row since the last one received",
}
# OTLP units; the names already end in them, so the Collector's exporter adds no suffix.
UNIT = {CREDENTIAL_AGE: "s", RECONNECT_LATENCY: "s", MISSED_HEARTBEATS: "{heartbeat}"}


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _resource(request_resource: Any, component_id: str) -> None:
    request_resource.attributes.extend([_kv("service.name", SERVICE_NAME), _kv(ATTR_COMPONENT, component_id)])


def heartbeat_age_s(view: SessionView) -> float:
    st = view.state
    since = st.heartbeat_last_at if st.heartbeat_last_at is not None else st.first_seen_at
    return max(0.0, view.at - since)


def _new_request(component_id: str) -> tuple[ExportMetricsServiceRequest, Any]:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    _resource(rm.resource, component_id)
    sm = rm.scope_metrics.add()
    sm.scope.name = SCOPE_NAME
    return req, sm


def credential_age_s(view: SessionView) -> float | None:
    written = view.state.credentials_written_at
    return None if written is None else max(0.0, view.at - written)


def reconnect_latency_s(view: SessionView) -> float:
    started = view.state.reconnect_started_at
    return 0.0 if started is None else max(0.0, view.at - started)


def _gauge(sm: Any, name: str) -> Any:
    m = sm.metrics.add()
    m.name, m.description, m.unit = name, HELP[name], UNIT.get(name, "")
    return m.gauge.data_points


def _points(metric: Any) -> int:
    data = metric.WhichOneof("data")
    return 0 if data is None else len(getattr(metric, data).data_points)


def _without_empty(req: ExportMetricsServiceRequest) -> ExportMetricsServiceRequest | None:
    """The request without its metrics that have no data point; None when nothing is left.

    A metric with no points is no data, and some consumers (a file sink, a strict
    backend) would store or refuse it as it is.
    """
    sm = req.resource_metrics[0].scope_metrics[0]
    kept = [m for m in sm.metrics if _points(m)]
    if len(kept) != len(sm.metrics):
        del sm.metrics[:]
        sm.metrics.extend(kept)
    return req if kept else None


async def metrics_requests(snap: Snapshot, component_id: str,
                           sessions_per_request: int = 200) -> AsyncIterator[ExportMetricsServiceRequest]:
    """Every metric of every session in the snapshot, as OTLP requests of a bounded size.

    Several small requests rather than one big one: building and serialising a
    thousand sessions at once would hold the event loop (and the API) for tens
    of milliseconds. The per-tenant metrics come in the last request.
    """
    now_ns = int(snap.at * 1e9)
    tenant_alerts: Counter[tuple[str, str]] = Counter()
    tenant_sessions: Counter[tuple[str, str]] = Counter()
    items = sorted(snap.views.items())
    for first in range(0, len(items), sessions_per_request):
        req, sm = _new_request(component_id)
        state_pts, age_pts, breaker_pts, alert_pts = (
            _gauge(sm, SESSION_STATE), _gauge(sm, HEARTBEAT_AGE), _gauge(sm, BREAKER_OPEN), _gauge(sm, SESSION_ALERTS))
        cred_pts, latency_pts, missed_pts = (
            _gauge(sm, CREDENTIAL_AGE), _gauge(sm, RECONNECT_LATENCY), _gauge(sm, MISSED_HEARTBEATS))
        attempts = sm.metrics.add()
        attempts.name, attempts.description = RECONNECT_ATTEMPTS, HELP[RECONNECT_ATTEMPTS]
        attempts.sum.is_monotonic = True
        attempts.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
        attempt_pts = attempts.sum.data_points
        for i, (sid, view) in enumerate(items[first:first + sessions_per_request]):
            if i and i % _CHUNK == 0:
                await asyncio.sleep(0)
            st = view.state
            ids = [_kv(ATTR_SESSION_ID, sid), _kv(ATTR_TENANT_ID, st.tenant_id)]
            # A state set: one series per state, 1 for the current one, so a left state drops to 0 at once.
            for state in STATES:
                dp = state_pts.add(time_unix_nano=now_ns, as_int=int(state == st.state))
                dp.attributes.extend(ids)
                dp.attributes.append(_kv(ATTR_STATE_LABEL, state))
            dp = age_pts.add(time_unix_nano=now_ns, as_double=heartbeat_age_s(view))
            dp.attributes.extend(ids)
            dp = breaker_pts.add(time_unix_nano=now_ns, as_int=int(st.breaker_open))
            dp.attributes.extend(ids)
            cred_age = credential_age_s(view)
            if cred_age is not None:
                dp = cred_pts.add(time_unix_nano=now_ns, as_double=cred_age)
                dp.attributes.extend(ids)
            dp = latency_pts.add(time_unix_nano=now_ns, as_double=reconnect_latency_s(view))
            dp.attributes.extend(ids)
            dp = missed_pts.add(time_unix_nano=now_ns, as_int=st.heartbeat_missed)
            dp.attributes.extend(ids)
            dp = attempt_pts.add(time_unix_nano=now_ns, start_time_unix_nano=int(st.first_seen_at * 1e9),
                                 as_int=st.reconnect_total)
            dp.attributes.extend(ids)
            by_level = Counter(a.level for a in view.alerts)
            for level in _ALERT_LEVELS:
                dp = alert_pts.add(time_unix_nano=now_ns, as_int=by_level[level])
                dp.attributes.extend(ids)
                dp.attributes.append(_kv(ATTR_LEVEL, level))
                tenant_alerts[(st.tenant_id, level)] += by_level[level]
            tenant_sessions[(st.tenant_id, view.level)] += 1
        if (kept := _without_empty(req)) is not None:
            yield kept

    req, sm = _new_request(component_id)
    t_alerts, t_sessions = _gauge(sm, TENANT_ALERTS), _gauge(sm, TENANT_SESSIONS)
    for tenant in sorted({t for t, _ in tenant_sessions}):
        for level in _ALERT_LEVELS:
            dp = t_alerts.add(time_unix_nano=now_ns, as_int=tenant_alerts[(tenant, level)])
            dp.attributes.extend([_kv(ATTR_TENANT_ID, tenant), _kv(ATTR_LEVEL, level)])
        for status in th.LEVELS:
            dp = t_sessions.add(time_unix_nano=now_ns, as_int=tenant_sessions[(tenant, status)])
            dp.attributes.extend([_kv(ATTR_TENANT_ID, tenant), _kv(ATTR_STATUS, status)])
    if (kept := _without_empty(req)) is not None:  # no sessions, no tenants: nothing to send
        yield kept


def transitions_request(snap: Snapshot, changed: dict[str, str], component_id: str) -> ExportLogsServiceRequest:
    """One log record per session whose level changed; ``changed`` maps session id -> previous level."""
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    _resource(rl.resource, component_id)
    sl = rl.scope_logs.add()
    sl.scope.name = SCOPE_NAME
    now_ns = int(snap.at * 1e9)
    for sid in sorted(changed):
        view = snap.views[sid]
        previous, level = changed[sid], view.level
        number, text = _SEVERITY[level]
        rec = sl.log_records.add(time_unix_nano=now_ns, observed_time_unix_nano=now_ns, severity_number=number,
                                 severity_text=text, event_name=TRANSITION_EVENT)
        detail = "; ".join(f"{a.code}: {a.message}" for a in view.alerts) or "all clear"
        rec.body.string_value = f"session {sid} {previous} -> {level} at {iso(snap.at)}: {detail}"
        rec.attributes.extend([
            _kv(ATTR_SESSION_ID, sid), _kv(ATTR_TENANT_ID, view.state.tenant_id), _kv(ATTR_STATE, view.state.state),
            _kv(ATTR_PREVIOUS_LEVEL, previous), _kv(ATTR_ALERT_LEVEL, level),
        ])
        codes = rec.attributes.add(key=ATTR_ALERT_CODES)
        codes.value.array_value.values.extend(AnyValue(string_value=a.code) for a in view.alerts)
    return req
