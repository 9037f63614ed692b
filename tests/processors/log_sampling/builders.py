"""Log requests for the sampler tests: records with a service, a severity and a trace."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber

from processors.api import Payload, Signal
from tests.support.otlp import any_value

SEVERITY = {
    "TRACE": SeverityNumber.SEVERITY_NUMBER_TRACE,
    "DEBUG": SeverityNumber.SEVERITY_NUMBER_DEBUG,
    "INFO": SeverityNumber.SEVERITY_NUMBER_INFO,
    "WARN": SeverityNumber.SEVERITY_NUMBER_WARN,
    "ERROR": SeverityNumber.SEVERITY_NUMBER_ERROR,
    "FATAL": SeverityNumber.SEVERITY_NUMBER_FATAL,
}


@dataclass
class Rec:
    """One record to build; ``trace_id`` None means no trace."""

    service: str = "checkout"
    level: str = "INFO"
    trace_id: bytes | None = None
    body: str = "order placed"
    attributes: dict[str, object] = field(default_factory=dict)
    event_name: str = ""
    severity_text: str | None = None


def request(records: Iterable[Rec], first_seq: int = 0) -> ExportLogsServiceRequest:
    """One ResourceLogs per run of records of the same service, one scope each.

    Each record gets a ``seq`` attribute: ``first_seq`` plus its position.
    """
    req = ExportLogsServiceRequest()
    current = None
    scope = None
    for i, r in enumerate(records, start=first_seq):
        if current != r.service:
            rl = req.resource_logs.add()
            rl.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=r.service)))
            scope = rl.scope_logs.add()
            scope.scope.name = "tests"
            current = r.service
        lr: LogRecord = scope.log_records.add()
        lr.time_unix_nano = 1_700_000_000_000_000_000 + i
        if r.level:
            lr.severity_number = SEVERITY[r.level]
        lr.severity_text = r.level if r.severity_text is None else r.severity_text
        lr.body.string_value = r.body
        if r.trace_id is not None:
            lr.trace_id = r.trace_id
            lr.span_id = r.trace_id[:8]
        if r.event_name:
            lr.event_name = r.event_name
        lr.attributes.append(KeyValue(key="seq", value=AnyValue(int_value=i)))
        for k, v in r.attributes.items():
            lr.attributes.append(KeyValue(key=k, value=any_value(v)))
    return req


def payload(records: Iterable[Rec], first_seq: int = 0) -> Payload:
    return Payload(Signal.LOGS, raw=request(records, first_seq).SerializeToString())


def random_trace_ids(n: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.getrandbits(128).to_bytes(16, "big") for _ in range(n)]


def kept_records(out: Payload | None) -> list[tuple[str, LogRecord]]:
    """(service, record) for every record that survived."""
    if out is None:
        return []
    got = []
    for rl in out.message.resource_logs:
        service = next(kv.value.string_value for kv in rl.resource.attributes if kv.key == "service.name")
        for sl in rl.scope_logs:
            got.extend((service, lr) for lr in sl.log_records)
    return got


def kept_seqs(out: Payload | None) -> set[int]:
    return {attr(lr, "seq") for _, lr in kept_records(out)}


def attr(lr: LogRecord, key: str) -> object:
    for kv in lr.attributes:
        if kv.key == key:
            return getattr(kv.value, kv.value.WhichOneof("value"))
    return None
