"""Building OTLP values and requests in tests from plain Python values."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def any_value(value: Any) -> AnyValue:
    """bool, int, float, bytes, str, list and dict (nested) as an AnyValue; an AnyValue as is."""
    if isinstance(value, AnyValue):
        return value
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        v = AnyValue()
        v.array_value.values.extend(any_value(x) for x in value)
        return v
    if isinstance(value, dict):
        v = AnyValue()
        v.kvlist_value.values.extend(kv(k, x) for k, x in value.items())
        return v
    return AnyValue(string_value=value)


def kv(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))


def numbered_spans(i: int, per_request: int, service: str) -> trace_service_pb2.ExportTraceServiceRequest:
    """Request ``i`` of a run that counts what arrives: spans numbered ``i * per_request`` on (span ids
    from 1), five to a trace."""
    req = trace_service_pb2.ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    ss = rs.scope_spans.add()
    for j in range(per_request):
        n = i * per_request + j
        ss.spans.append(Span(trace_id=(n // 5 + 1).to_bytes(16, "big"), span_id=(n + 1).to_bytes(8, "big"),
                             name="op", start_time_unix_nano=1, end_time_unix_nano=2))
    return req


def numbered_logs(i: int, per_request: int, service: str) -> logs_service_pb2.ExportLogsServiceRequest:
    """As ``numbered_spans``, for log records: ``record {n}`` at time ``n + 1``, five to a trace."""
    req = logs_service_pb2.ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(kv("service.name", service))
    sl = rl.scope_logs.add()
    for j in range(per_request):
        n = i * per_request + j
        sl.log_records.append(LogRecord(time_unix_nano=n + 1, body=AnyValue(string_value=f"record {n}"),
                                        trace_id=(n // 5 + 1).to_bytes(16, "big")))
    return req
