"""Timing helpers shared by every benchmark, and the in-run baselines.

Every figure ``make bench`` prints is a ratio against a baseline measured in
the same run on the same machine (2 shared cores: absolute numbers drift,
ratios much less).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Rate:
    """Throughput of a repeated operation that handles ``items`` items per call."""

    name: str
    items_per_call: int
    calls: int
    seconds: float
    per_call_s: list[float] = field(default_factory=list, repr=False)

    @property
    def items_per_s(self) -> float:
        return self.items_per_call * self.calls / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.per_call_s:
            return 0.0
        data = sorted(self.per_call_s)
        return data[min(len(data) - 1, int(q * len(data)))] * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name, "items_per_s": round(self.items_per_s, 1), "calls": self.calls,
            "p50_ms": round(self.percentile_ms(0.5), 3), "p99_ms": round(self.percentile_ms(0.99), 3),
        }


def measure(name: str, fn: Callable[[], Any], *, items_per_call: int, seconds: float = 2.0,
            min_calls: int = 5, warmup: int = 2) -> Rate:
    """Call ``fn`` repeatedly for about ``seconds`` of wall time (CPU-bound: 1 core)."""
    for _ in range(warmup):
        fn()
    per_call: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
        per_call.append(time.perf_counter() - t0)
        if len(per_call) >= min_calls and time.perf_counter() - start >= seconds:
            break
    return Rate(name, items_per_call, len(per_call), time.perf_counter() - start, per_call)


def best_of(runs: list[Rate]) -> Rate:
    """The fastest of several runs: noise on a shared machine only ever slows things down."""
    return max(runs, key=lambda r: r.items_per_s)


def span_request(n_spans: int = 512, *, attrs_per_span: int = 8, seed: int = 1) -> ExportTraceServiceRequest:
    """A realistic request: one resource, spans with HTTP/DB-like attributes."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="checkout")))
    rs.resource.attributes.append(KeyValue(key="deployment.environment", value=AnyValue(string_value="staging")))
    ss = rs.scope_spans.add()
    ss.scope.name = "bench"
    for i in range(n_spans):
        sp = ss.spans.add()
        sp.trace_id = (seed * 1_000_003 + i // 8).to_bytes(16, "big")
        sp.span_id = (i + 1).to_bytes(8, "big")
        sp.name = f"GET /api/orders/{{id}} #{i % 17}"
        sp.kind = Span.SPAN_KIND_SERVER
        sp.start_time_unix_nano = 1_700_000_000_000_000_000 + i * 1000
        sp.end_time_unix_nano = sp.start_time_unix_nano + 250_000
        for a in range(attrs_per_span):
            sp.attributes.append(KeyValue(key=f"app.attr_{a}", value=AnyValue(string_value=f"value-{i % 97}-{a}")))
        sp.attributes.append(KeyValue(key="http.status_code", value=AnyValue(int_value=200)))
    return req


def parse_serialise_floor(raw: bytes, seconds: float = 2.0) -> Rate:
    """The cheapest any Python processor can be: parse the request and serialise it again (upb)."""
    n = len(ExportTraceServiceRequest.FromString(raw).resource_spans[0].scope_spans[0].spans)

    def once() -> bytes:
        return ExportTraceServiceRequest.FromString(raw).SerializeToString()

    return measure("floor: upb parse+serialise", once, items_per_call=n, seconds=seconds)


def environment() -> dict[str, Any]:
    from google.protobuf.internal import api_implementation

    return {
        "python": platform.python_version(), "protobuf_impl": api_implementation.Type(),
        "cpus": os.cpu_count(), "machine": platform.machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_results(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"environment": environment(), **payload}, indent=2, default=_jsonable))
    return path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Rate):
        return obj.summary()
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    return str(obj)


def print_table(title: str, rows: list[Rate], ratios: dict[str, float], *, width: int = 48) -> None:
    """The rates of one benchmark, then its ratios, as `make bench` prints them."""
    print(f"\n== {title} ==")
    print(f"{'':{width}} {'spans/s':>12} {'p50 ms':>9} {'p99 ms':>9}")
    for r in rows:
        s = r.summary()
        print(f"{s['name']:{width}} {s['items_per_s']:>12,.0f} {s['p50_ms']:>9.2f} {s['p99_ms']:>9.2f}")
    for k, v in ratios.items():
        print(f"  {k:60} {v:>6.3f}x")


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0
