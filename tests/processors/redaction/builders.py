"""Requests with a value planted in one field, and a way to read it back.

Every field kind the redaction processor covers has a name here; ``plant``
builds one resource entry holding the value in that field (next to clean
filler), and ``read`` finds the value again in a processed entry.
"""

from __future__ import annotations

import random
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from processors.api import Payload, Signal
from tests.support.otlp import any_value, kv

SIGNAL_OF = {
    "resource_attr": Signal.TRACES, "scope_attr": Signal.TRACES, "span_attr": Signal.TRACES,
    "span_name": Signal.TRACES, "span_status": Signal.TRACES, "event_attr": Signal.TRACES,
    "link_attr": Signal.TRACES, "log_body_string": Signal.LOGS, "log_body_kvlist": Signal.LOGS,
    "log_body_array": Signal.LOGS, "log_attr": Signal.LOGS, "metric_dp_attr": Signal.METRICS,
    "exemplar_attr": Signal.METRICS,
}
FIELDS = tuple(SIGNAL_OF)
DEFAULT_KEY = "app.value"


def _filler(rnd: random.Random) -> list[KeyValue]:
    return [kv("http.route", "/api/orders/{id}"), kv("http.response.status_code", 200),
            kv("app.request_id", f"{rnd.randrange(16**12):012x}")]


def request(signal: Signal) -> Any:
    return {Signal.TRACES: ExportTraceServiceRequest, Signal.LOGS: ExportLogsServiceRequest,
            Signal.METRICS: ExportMetricsServiceRequest}[signal]()


def plant(req: Any, field: str, value: Any, key: str | None = None, seed: int = 0) -> None:
    """Add one resource entry to ``req`` with ``value`` in ``field``."""
    key = key or DEFAULT_KEY
    rnd = random.Random(seed)
    signal = SIGNAL_OF[field]
    if signal is Signal.TRACES:
        rs = req.resource_spans.add()
        rs.resource.attributes.append(kv("service.name", "checkout"))
        ss = rs.scope_spans.add()
        ss.scope.name = "tests"
        sp = ss.spans.add()
        sp.trace_id, sp.span_id, sp.name = rnd.randbytes(16), rnd.randbytes(8), "GET /api/orders/{id}"
        sp.attributes.extend(_filler(rnd))
        ev = sp.events.add(name="retry")
        ev.attributes.append(kv("attempt", 1))
        link = sp.links.add(trace_id=rnd.randbytes(16), span_id=rnd.randbytes(8))
        target = {"resource_attr": rs.resource.attributes, "scope_attr": ss.scope.attributes,
                  "span_attr": sp.attributes, "event_attr": ev.attributes, "link_attr": link.attributes}
        if field == "span_name":
            sp.name = value
        elif field == "span_status":
            sp.status.message = value
        else:
            target[field].append(kv(key, value))
    elif signal is Signal.LOGS:
        rl = req.resource_logs.add()
        rl.resource.attributes.append(kv("service.name", "session"))
        rec = rl.scope_logs.add().log_records.add()
        rec.time_unix_nano, rec.severity_text = 1_700_000_000_000_000_000, "INFO"
        rec.attributes.extend(_filler(rnd))
        if field == "log_body_string":
            rec.body.string_value = value
        elif field == "log_body_kvlist":
            rec.body.CopyFrom(any_value({"event": "lookup", key: value}))
        elif field == "log_body_array":
            rec.body.CopyFrom(any_value(["lookup", value]))
        else:
            rec.attributes.append(kv(key, value))
    else:
        rm = req.resource_metrics.add()
        rm.resource.attributes.append(kv("service.name", "ingest"))
        metric = rm.scope_metrics.add().metrics.add(name="requests")
        dp = metric.sum.data_points.add(as_int=3, time_unix_nano=1_700_000_000_000_000_000)
        dp.attributes.extend(_filler(rnd))
        if field == "metric_dp_attr":
            dp.attributes.append(kv(key, value))
        else:
            ex = dp.exemplars.add(as_int=1, span_id=rnd.randbytes(8), trace_id=rnd.randbytes(16))
            ex.filtered_attributes.append(kv(key, value))


def _attr(attributes: Any, key: str) -> AnyValue | None:
    return next((a.value for a in attributes if a.key == key), None)


def read(entry: Any, field: str, key: str | None = None) -> AnyValue | str | None:
    """The planted value in one processed resource entry; None when it was removed."""
    key = key or DEFAULT_KEY
    signal = SIGNAL_OF[field]
    if signal is Signal.TRACES:
        ss = entry.scope_spans[0]
        sp = ss.spans[0]
        if field == "span_name":
            return sp.name
        if field == "span_status":
            return sp.status.message
        where = {"resource_attr": entry.resource.attributes, "scope_attr": ss.scope.attributes,
                 "span_attr": sp.attributes, "event_attr": sp.events[0].attributes,
                 "link_attr": sp.links[0].attributes}[field]
        return _attr(where, key)
    if signal is Signal.LOGS:
        rec = entry.scope_logs[0].log_records[0]
        if field == "log_body_string":
            return rec.body.string_value
        if field == "log_body_kvlist":
            return _attr(rec.body.kvlist_value.values, key)
        if field == "log_body_array":
            values = rec.body.array_value.values
            return values[1] if len(values) > 1 else None
        return _attr(rec.attributes, key)
    dp = entry.scope_metrics[0].metrics[0].sum.data_points[0]
    if field == "metric_dp_attr":
        return _attr(dp.attributes, key)
    return _attr(dp.exemplars[0].filtered_attributes, key)


def text_of(value: AnyValue | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.string_value if value.WhichOneof("value") == "string_value" else str(value)


def entries(req: Any) -> Any:
    return getattr(req, {ExportTraceServiceRequest: "resource_spans", ExportLogsServiceRequest: "resource_logs",
                         ExportMetricsServiceRequest: "resource_metrics"}[type(req)])


def run(processor: Any, req: Any, signal: Signal) -> Any:
    """Process a request as the server would: from its bytes, and back to bytes."""
    out = processor.process(Payload(signal, raw=req.SerializeToString()))
    return signal.request_type.FromString(out.raw)
