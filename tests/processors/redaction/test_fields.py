"""Every string a request carries is redacted, not only attribute values: keys, bytes
that are text, names, versions, trace states, schema URLs, units... through the fast
path that pins the hit, through the whole walk, and through the RE2 engine's walk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from processors.api import Payload, Signal
from processors.redaction.audit import FASTPATH, FINDINGS, MASKED_COUNT, MASKED_KEYS, REDACTED_COUNT
from processors.telemetry import SelfTelemetry
from tests.processors.redaction.builders import kv
from tests.processors.redaction.conftest import HMAC_KEY, build

EMAIL = "alice@example.org"
TEXT = f"mail to {EMAIL} now"
MASKED = "mail to **** now"
SCHEMA = "https://opentelemetry.io/schemas/1.26.0"

# How a request reaches the walker: hits pinned to their items, or every item walked.
MODES = {
    "located": ({}, "located"),
    "whole_walk": ({"fast_path": False}, "whole"),
    "re2_engine": ({"scan_engine": "re2"}, "whole"),
}


def traces() -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add(schema_url=SCHEMA)
    rs.resource.attributes.append(kv("service.name", "checkout"))
    rs.resource.entity_refs.add(type="service", id_keys=["service.name"], schema_url=SCHEMA)
    ss = rs.scope_spans.add(schema_url=SCHEMA)
    ss.scope.name, ss.scope.version = "io.example.http", "1.4.0"
    sp = ss.spans.add(trace_id=bytes(range(16)), span_id=bytes(range(8)), name="GET /api/orders/{id}",
                      trace_state="rojo=00f067aa0ba902b7")
    sp.attributes.extend([kv("http.route", "/api/orders/{id}"), kv("http.response.status_code", 200)])
    ev = sp.events.add(name="retry", time_unix_nano=1_700_000_000_000_000_000)
    ev.attributes.append(kv("attempt", 1))
    link = sp.links.add(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), trace_state="congo=t61rcWkgMzE")
    link.attributes.append(kv("link.kind", "parent"))
    sp.status.message = "ok"
    return req


def logs() -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add(schema_url=SCHEMA)
    rl.resource.attributes.append(kv("service.name", "session"))
    sl = rl.scope_logs.add(schema_url=SCHEMA)
    sl.scope.name = "io.example.log"
    rec = sl.log_records.add(time_unix_nano=1_700_000_000_000_000_000, severity_text="INFO", event_name="app.lookup")
    rec.attributes.append(kv("http.route", "/api/orders/{id}"))
    rec.body.string_value = "lookup done"
    return req


def metrics() -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add(schema_url=SCHEMA)
    rm.resource.attributes.append(kv("service.name", "ingest"))
    sm = rm.scope_metrics.add(schema_url=SCHEMA)
    sm.scope.name = "io.example.metrics"
    metric = sm.metrics.add(name="http.server.requests", description="Requests served", unit="{request}")
    metric.metadata.append(kv("source", "sdk"))
    dp = metric.sum.data_points.add(as_int=3, time_unix_nano=1_700_000_000_000_000_000)
    dp.attributes.append(kv("http.route", "/api/orders/{id}"))
    ex = dp.exemplars.add(as_int=1, span_id=bytes(range(8)), trace_id=bytes(range(16)))
    ex.filtered_attributes.append(kv("client", "web"))
    return req


BASES: dict[Signal, Callable[[], Any]] = {Signal.TRACES: traces, Signal.LOGS: logs, Signal.METRICS: metrics}


def span(req: Any) -> Any:
    return req.resource_spans[0].scope_spans[0].spans[0]


def record(req: Any) -> Any:
    return req.resource_logs[0].scope_logs[0].log_records[0]


def metric(req: Any) -> Any:
    return req.resource_metrics[0].scope_metrics[0].metrics[0]


def _set(getter: Callable[[Any], Any], name: str) -> Callable[[Any, str], None]:
    def plant(req: Any, text: str) -> None:
        setattr(getter(req), name, text)
    return plant


def _key(getter: Callable[[Any], Any]) -> Callable[[Any, str], None]:
    """An attribute whose key holds the text, next to the others, its value kept."""
    def plant(req: Any, text: str) -> None:
        getter(req).append(kv(f"visits {text}", 3))
    return plant


def _bytes(getter: Callable[[Any], Any]) -> Callable[[Any, str], None]:
    def plant(req: Any, text: str) -> None:
        getter(req).append(KeyValue(key="payload", value=AnyValue(bytes_value=text.encode())))
    return plant


def _bytes_body(req: Any, text: str) -> None:
    record(req).body.Clear()
    record(req).body.bytes_value = text.encode()


def _bytes_in_array(req: Any, text: str) -> None:
    span(req).attributes.append(kv("payloads", [b"\x00\x01", text.encode()]))


def _entity_id_key(req: Any, text: str) -> None:
    req.resource_spans[0].resource.entity_refs[0].id_keys.append(f"visits {text}")


# field -> (signal, plant(request, text)); the text goes in as TEXT and must come out as MASKED.
FIELDS: dict[str, tuple[Signal, Callable[[Any, str], None]]] = {
    "span_event_name": (Signal.TRACES, lambda req, t: setattr(span(req).events[0], "name", t)),
    "span_trace_state": (Signal.TRACES, _set(span, "trace_state")),
    "link_trace_state": (Signal.TRACES, lambda req, t: setattr(span(req).links[0], "trace_state", t)),
    "scope_name": (Signal.TRACES, _set(lambda r: r.resource_spans[0].scope_spans[0].scope, "name")),
    "scope_version": (Signal.TRACES, _set(lambda r: r.resource_spans[0].scope_spans[0].scope, "version")),
    "resource_schema_url": (Signal.TRACES, _set(lambda r: r.resource_spans[0], "schema_url")),
    "scope_schema_url": (Signal.TRACES, _set(lambda r: r.resource_spans[0].scope_spans[0], "schema_url")),
    "entity_ref_type": (Signal.TRACES, _set(lambda r: r.resource_spans[0].resource.entity_refs[0], "type")),
    "entity_ref_id_key": (Signal.TRACES, _entity_id_key),
    "span_attr_key": (Signal.TRACES, _key(lambda r: span(r).attributes)),
    "resource_attr_key": (Signal.TRACES, _key(lambda r: r.resource_spans[0].resource.attributes)),
    "scope_attr_key": (Signal.TRACES, _key(lambda r: r.resource_spans[0].scope_spans[0].scope.attributes)),
    "event_attr_key": (Signal.TRACES, _key(lambda r: span(r).events[0].attributes)),
    "link_attr_key": (Signal.TRACES, _key(lambda r: span(r).links[0].attributes)),
    "span_attr_bytes": (Signal.TRACES, _bytes(lambda r: span(r).attributes)),
    "span_attr_bytes_in_array": (Signal.TRACES, _bytes_in_array),
    "log_severity_text": (Signal.LOGS, _set(record, "severity_text")),
    "log_event_name": (Signal.LOGS, _set(record, "event_name")),
    "log_attr_key": (Signal.LOGS, _key(lambda r: record(r).attributes)),
    "log_attr_bytes": (Signal.LOGS, _bytes(lambda r: record(r).attributes)),
    "log_body_bytes": (Signal.LOGS, _bytes_body),
    "log_scope_name": (Signal.LOGS, _set(lambda r: r.resource_logs[0].scope_logs[0].scope, "name")),
    "log_schema_url": (Signal.LOGS, _set(lambda r: r.resource_logs[0].scope_logs[0], "schema_url")),
    "metric_name": (Signal.METRICS, _set(metric, "name")),
    "metric_description": (Signal.METRICS, _set(metric, "description")),
    "metric_unit": (Signal.METRICS, _set(metric, "unit")),
    "metric_metadata_value": (Signal.METRICS, lambda req, t: metric(req).metadata.append(kv("note", t))),
    "metric_metadata_key": (Signal.METRICS, _key(lambda r: metric(r).metadata)),
    "metric_point_attr_key": (Signal.METRICS, _key(lambda r: metric(r).sum.data_points[0].attributes)),
    "exemplar_attr_key": (Signal.METRICS,
                          _key(lambda r: metric(r).sum.data_points[0].exemplars[0].filtered_attributes)),
    "metric_point_attr_bytes": (Signal.METRICS, _bytes(lambda r: metric(r).sum.data_points[0].attributes)),
    "metric_schema_url": (Signal.METRICS, _set(lambda r: r.resource_metrics[0], "schema_url")),
}


def process(processor: Any, signal: Signal, req: Any) -> tuple[Any, Payload]:
    out = processor.process(Payload(signal, raw=req.SerializeToString()))
    return signal.request_type.FromString(out.raw), out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("field", FIELDS)
def test_pii_is_gone_from_every_field_and_the_rest_is_intact(field, mode):
    signal, plant = FIELDS[field]
    config, result = MODES[mode]
    telemetry = SelfTelemetry()
    sent, expected = BASES[signal](), BASES[signal]()
    plant(sent, TEXT)
    plant(expected, MASKED)
    got, _ = process(build(config, telemetry), signal, sent)
    assert EMAIL.encode() not in got.SerializeToString()
    assert got == expected
    assert telemetry.value(f"{FASTPATH}_total", processor="redaction", signal=signal.value, result=result) == 1
    assert telemetry.total(f"{FINDINGS}_total", rule="email", action="mask") == 1
    assert telemetry.total(f"{FINDINGS}_total") == 1


@pytest.mark.parametrize("signal", BASES)
def test_a_request_with_every_field_set_and_nothing_to_redact_keeps_its_bytes(signal):
    telemetry = SelfTelemetry()
    raw = BASES[signal]().SerializeToString()
    out = build({}, telemetry).process(Payload(signal, raw=raw))
    assert out.raw is raw
    assert telemetry.value(f"{FASTPATH}_total", processor="redaction", signal=signal.value, result="clean") == 1


def test_an_event_name_counts_in_the_summary_of_its_span():
    req = traces()
    span(req).events[0].name = TEXT
    got, _ = process(build({"summary": "debug"}), Signal.TRACES, req)
    attrs = {a.key: a.value for a in span(got).attributes}
    assert attrs[MASKED_COUNT].int_value == 1 and attrs[MASKED_KEYS].string_value == "events.name"


class TestKeys:
    def test_a_key_is_hashed_by_the_hash_operator(self):
        req = traces()
        span(req).attributes.append(kv(f"visits {EMAIL}", 3))
        got, _ = process(build({"operators": {"email": "hash"}, "hash_key": HMAC_KEY}), Signal.TRACES, req)
        keys = [a.key for a in span(got).attributes]
        assert keys[:2] == ["http.route", "http.response.status_code"]
        assert keys[2].startswith("visits ") and len(keys[2]) == len("visits ") + 64
        assert span(got).attributes[2].value.int_value == 3

    def test_redact_removes_the_entry_of_a_key_that_holds_a_finding(self):
        telemetry = SelfTelemetry()
        req = traces()
        span(req).attributes.append(kv(f"visits {EMAIL}", 3))
        got, _ = process(build({"operator": "redact", "summary": "debug"}, telemetry), Signal.TRACES, req)
        attrs = {a.key: a.value for a in span(got).attributes}
        assert set(attrs) == {"http.route", "http.response.status_code", REDACTED_COUNT, "redaction.redacted.keys"}
        assert attrs["redaction.redacted.keys"].string_value == "visits "
        assert telemetry.total(f"{FINDINGS}_total", rule="email", action="redact") == 1

    def test_the_value_under_a_rewritten_key_is_read_as_the_original_key_says(self):
        req = traces()
        span(req).attributes.extend([kv(f"password of {EMAIL}", "hunter2"), kv(f"phone of {EMAIL}", "4915123456789")])
        got, _ = process(build(), Signal.TRACES, req)
        attrs = {a.key: a.value.string_value for a in span(got).attributes[2:]}
        assert attrs == {"password of ****": "****", "phone of ****": "****"}  # blocked key; phone context

    def test_two_keys_that_mask_alike_keep_the_first(self):
        telemetry = SelfTelemetry()
        req = traces()
        span(req).attributes.extend([kv(f"visits {EMAIL}", 1), kv("visits bob@example.org", 2)])
        got, _ = process(build({"summary": "info"}, telemetry), Signal.TRACES, req)
        attrs = {a.key: a.value.int_value for a in span(got).attributes}
        assert attrs["visits ****"] == 1
        assert attrs[MASKED_COUNT] == 2 and attrs[REDACTED_COUNT] == 1
        assert telemetry.total(f"{FINDINGS}_total", rule="email", action="mask") == 2
        assert telemetry.total(f"{FINDINGS}_total", rule="duplicate_key", action="redact") == 1

    def test_a_key_already_written_masked_wins_over_a_rewritten_one(self):
        req = traces()
        span(req).attributes.extend([kv(f"visits {EMAIL}", 1), kv("visits ****", 2)])
        got, _ = process(build(), Signal.TRACES, req)
        assert [(a.key, a.value.int_value) for a in span(got).attributes[2:]] == [("visits ****", 2)]

    def test_ignored_keys_are_not_rewritten(self):
        req = traces()
        span(req).attributes.append(kv(f"visits {EMAIL}", 3))
        got, _ = process(build({"ignored_keys": [f"visits {EMAIL}"]}), Signal.TRACES, req)
        assert span(got).attributes[2].key == f"visits {EMAIL}"


class TestBytes:
    def test_bytes_that_are_not_utf8_are_left_as_they_are(self):
        req = traces()
        blob = b"\xff\xfe" + EMAIL.encode() + b"\x00\x80"
        span(req).attributes.append(KeyValue(key="payload", value=AnyValue(bytes_value=blob)))
        raw = req.SerializeToString()
        out = build().process(Payload(Signal.TRACES, raw=raw))
        assert out.raw == raw

    def test_bytes_are_not_truncated(self):
        req = logs()
        text = "x" * 6000 + f" {EMAIL}"
        record(req).body.Clear()
        record(req).body.bytes_value = text.encode()
        got, _ = process(build(), Signal.LOGS, req)
        assert record(got).body.bytes_value == ("x" * 6000 + " ****").encode()

    def test_redact_drops_a_bytes_attribute_and_cuts_a_bytes_body(self):
        processor = build({"operator": "redact"})
        req = logs()
        record(req).attributes.append(KeyValue(key="payload", value=AnyValue(bytes_value=TEXT.encode())))
        record(req).body.Clear()
        record(req).body.bytes_value = TEXT.encode()
        got, _ = process(processor, Signal.LOGS, req)
        assert [a.key for a in record(got).attributes] == ["http.route"]
        assert record(got).body.bytes_value == b"mail to  now"
