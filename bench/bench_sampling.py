"""Log sampling throughput, in-process on one core, as ratios against the
parse+serialise floor of the same logs request measured in the same run.

Rows: the floor; log_sampling at a fixed 0.1; log_sampling in adaptive mode;
and, when processors/redaction is present, redaction followed by sampling (the
pipeline's order, docs/architecture.md) and sampling followed by redaction. Each row starts from
the request's bytes and ends with the bytes that would be forwarded, as the
server does. Target: sampling plus redaction at 120k logs/s per core or more.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber

from bench.common import Rate, best_of, measure, ratio, write_results
from processors.api import CreateSettings, Payload, Processor, Signal
from processors.log_sampling.config import SamplingConfig
from processors.log_sampling.sampler import LogSampler
from processors.telemetry import SelfTelemetry

RECORDS = 512
RECORDS_PER_TRACE = 4
TARGET_LOGS_PER_S = 120_000
_SEVERITIES = [(SeverityNumber.SEVERITY_NUMBER_INFO, "INFO", 85), (SeverityNumber.SEVERITY_NUMBER_DEBUG, "DEBUG", 10),
               (SeverityNumber.SEVERITY_NUMBER_WARN, "WARN", 3), (SeverityNumber.SEVERITY_NUMBER_ERROR, "ERROR", 2)]


def log_request(n_records: int = RECORDS, *, seed: int = 1) -> ExportLogsServiceRequest:
    """A realistic request: one service, access-log-like records, four per trace, 2 % errors."""
    rnd = random.Random(seed)
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    for k, v in (("service.name", "checkout"), ("service.instance.id", "checkout-7d9f-2"),
                 ("deployment.environment", "staging")):
        rl.resource.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
    sl = rl.scope_logs.add()
    sl.scope.name = "app.access"
    trace_id = b""
    for i in range(n_records):
        if i % RECORDS_PER_TRACE == 0:
            trace_id = rnd.getrandbits(128).to_bytes(16, "big")
        number, text, _ = rnd.choices(_SEVERITIES, weights=[w for *_, w in _SEVERITIES])[0]
        lr = sl.log_records.add()
        lr.time_unix_nano = lr.observed_time_unix_nano = 1_700_000_000_000_000_000 + i * 1000
        lr.severity_number = number
        lr.severity_text = text
        lr.trace_id = trace_id
        lr.span_id = rnd.getrandbits(64).to_bytes(8, "big")
        order = rnd.randrange(100_000)
        lr.body.string_value = f"GET /api/orders/{order} served 200 in {rnd.randrange(2, 900)} ms"
        for k, v in (("http.route", "/api/orders/{id}"), ("http.request.method", "GET"),
                     ("url.path", f"/api/orders/{order}"), ("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
                     ("request.id", f"{rnd.getrandbits(64):016x}"), ("code.function", "get_order")):
            lr.attributes.append(KeyValue(key=k, value=AnyValue(string_value=v)))
        lr.attributes.append(KeyValue(key="http.response.status_code", value=AnyValue(int_value=200)))
    return req


def _sampler(**config: Any) -> LogSampler:
    return LogSampler(SamplingConfig(**config), CreateSettings("log_sampling", SelfTelemetry()))


def _redaction() -> Processor | None:
    if importlib.util.find_spec("processors.redaction") is None:
        return None
    try:
        from processors.redaction.factory import FACTORY
    except ImportError:
        return None
    return FACTORY.create(FACTORY.default_config(), CreateSettings(component_id="redaction", telemetry=SelfTelemetry()))


def _chain(raw: bytes, processors: list[Processor]) -> Callable[[], bytes | None]:
    def once() -> bytes | None:
        current: Payload | None = Payload(Signal.LOGS, raw=raw)
        for proc in processors:
            current = proc.process_logs(current)
            if current is None:
                return None
        return current.raw

    return once


def _rates(cases: list[tuple[str, Callable[[], Any]]], seconds: float, rounds: int = 3) -> list[Rate]:
    """Best of ``rounds``, the cases interleaved in each round, so that a busy spell on the
    shared machine slows one round of every case rather than every round of one case."""
    runs: dict[str, list[Rate]] = {name: [] for name, _ in cases}
    for _ in range(rounds):
        for name, fn in cases:
            runs[name].append(measure(name, fn, items_per_call=RECORDS, seconds=seconds))
    return [best_of(runs[name]) for name, _ in cases]


def main(seconds: float = 1.0) -> dict[str, Any]:
    raw = log_request().SerializeToString()

    def floor_once() -> bytes:
        return ExportLogsServiceRequest.FromString(raw).SerializeToString()

    cases: list[tuple[str, Callable[[], Any]]] = [
        ("floor: upb parse+serialise (logs)", floor_once),
        ("log_sampling info_ratio=0.1", _chain(raw, [_sampler(info_ratio=0.1)])),
        # Adaptive: a budget far below the request rate, so the ratio is computed and applied per request.
        ("log_sampling adaptive (budget 2000/s)", _chain(raw, [_sampler(info_ratio=1.0, per_service_budget=2000)])),
        ("log_sampling info_ratio=1 (nothing dropped)", _chain(raw, [_sampler(info_ratio=1.0)])),
    ]
    redaction = _redaction()
    if redaction is not None:
        cases.append(("redaction -> log_sampling", _chain(raw, [redaction, _sampler(info_ratio=0.1)])))
        cases.append(("log_sampling -> redaction", _chain(raw, [_sampler(info_ratio=0.1), redaction])))
    rows = _rates(cases, seconds)

    floor = rows[0]
    combined = next((r for r in rows if r.name.startswith("redaction ->")), None)
    judged = combined or rows[1]
    result: dict[str, Any] = {
        "request": {"records": RECORDS, "bytes": len(raw), "records_per_trace": RECORDS_PER_TRACE},
        "rates": [r.summary() for r in rows],
        "ratios": {f"{r.name} / floor": ratio(r.items_per_s, floor.items_per_s) for r in rows[1:]},
        "target": {
            "logs_per_s_per_core": TARGET_LOGS_PER_S,
            "judged": judged.name,
            "as_ratio_of_floor": ratio(TARGET_LOGS_PER_S, floor.items_per_s),
            "met": judged.items_per_s >= TARGET_LOGS_PER_S,
        },
        "redaction_present": redaction is not None,
    }

    print(f"\n== sampling: {RECORDS}-record logs request ({len(raw) // 1024} KiB), one core ==")
    print(f"{'':48} {'logs/s':>12} {'x floor':>8} {'p50 ms':>9} {'p99 ms':>9}")
    for r in rows:
        s = r.summary()
        print(f"{s['name']:48} {s['items_per_s']:>12,.0f} {ratio(r.items_per_s, floor.items_per_s):>8.3f} "
              f"{s['p50_ms']:>9.2f} {s['p99_ms']:>9.2f}")
    t = result["target"]
    print(f"  target >= {TARGET_LOGS_PER_S:,} logs/s per core = {t['as_ratio_of_floor']:.3f}x floor; "
          f"{t['judged']}: {'met' if t['met'] else 'NOT met'}")
    if redaction is None:
        print("  (processors/redaction not present: sampling alone is judged)")
    path = write_results("sampling", result)
    print(f"  -> {path}")
    return result


if __name__ == "__main__":
    main()
