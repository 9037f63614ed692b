"""The pipeline's own load: OTLP gRPC spans and logs into the Collector, counted back out of its sink.

    locust -f loadtests/otlp_pipeline.py --headless --host 127.0.0.1:4317 -u 4 -r 4 -t 1m \\
        --target-rps 20 --sink-dir var/sinks

Each user exports, at ``--target-rps`` / ``-u`` per second, one traces request
(``--traces-per-request`` traces of a request span with a database and a cache
span under it) and one logs request (a WARN and an ERROR record per trace, on
its spans), through ``GrpcUser``. Log records are WARN and above because the
pipeline's log sampler keeps every one of those: at a rate the pipeline holds,
every item sent must arrive.

While it runs, the sink (the Collector's file exporter, ``traces.jsonl`` and
``logs.jsonl`` under ``--sink-dir``, env LOCUST_SINK_DIR) is read as it grows;
each item is found by its span id. When the run ends the file waits up to
``--drain-s`` for the last items, then prints the throughput, the share of the
acknowledged items that reached the sink and the send→sink latency (p50, p95,
max; to within the 0.1 s read interval). Gate: 100 % arrival; below it, the
``ALERT:`` stanza and exit 1.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent
import grpc
from locust import constant_throughput, events, task
from locust.runners import WorkerRunner
from opentelemetry.proto.collector.logs.v1 import (
    logs_service_pb2,
    logs_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2

from loadtests.grpc_user import GrpcUser

DEFAULT_TARGET_RPS = 10.0
SERVICE_NAME = "otlp-loadgen"
READ_INTERVAL_S = 0.1
ROUTES = ("/api/orders/{id}", "/api/cart", "/api/search", "/api/users/{id}/profile")


class Ledger:
    """Span ids sent and acknowledged (with the time), and when each first showed in the sink."""

    def __init__(self) -> None:
        self.sent: dict[tuple[str, str], float] = {}
        # Sent, not yet acknowledged: what is left here when the run ends was cut off mid-call.
        self.inflight: dict[tuple[str, str], float] = {}
        self.arrived: dict[tuple[str, str], float] = {}
        self.failed_items = 0
        self.first_send: float | None = None
        self.last_send: float | None = None
        self.offsets: dict[str, int] = {}
        self.sink_dir: Path | None = None

    def mark_start(self, sink_dir: Path) -> None:
        self.sink_dir = sink_dir
        for sig in ("traces", "logs"):
            path = sink_dir / f"{sig}.jsonl"
            self.offsets[sig] = path.stat().st_size if path.exists() else 0

    def sending(self, signal: str, span_ids: list[bytes], at: float) -> list[tuple[str, str]]:
        keys = [(signal, sid.hex()) for sid in span_ids]
        self.inflight.update(dict.fromkeys(keys, at))
        return keys

    def acked(self, keys: list[tuple[str, str]]) -> None:
        at = 0.0
        for key in keys:
            at = self.sent[key] = self.inflight.pop(key)
        self.first_send = at if self.first_send is None else self.first_send
        self.last_send = at

    def refused(self, keys: list[tuple[str, str]]) -> None:
        for key in keys:
            self.inflight.pop(key, None)
        self.failed_items += len(keys)

    def read_sink(self) -> None:
        """Read what the sink files gained since the last read; a line still being written waits."""
        if self.sink_dir is None:
            return
        now = time.monotonic()
        for sig, (outer, inner, items) in (("traces", ("resourceSpans", "scopeSpans", "spans")),
                                            ("logs", ("resourceLogs", "scopeLogs", "logRecords"))):
            path = self.sink_dir / f"{sig}.jsonl"
            if not path.exists():
                continue
            offset = self.offsets.get(sig, 0)
            if path.stat().st_size < offset:
                offset = 0  # rotated or truncated
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self.offsets[sig] = offset + len(complete)
            for line in complete.split(b"\n"):
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                for rs in doc.get(outer, []):
                    for ss in rs.get(inner, []):
                        for item in ss.get(items, []):
                            key = (sig, str(item.get("spanId", "")).lower())
                            if (key in self.sent or key in self.inflight) and key not in self.arrived:
                                self.arrived[key] = now


LEDGER = Ledger()


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def resource(user_no: int) -> Resource:
    return Resource(attributes=[_kv("service.name", SERVICE_NAME), _kv("service.version", "1.4.2"),
                                _kv("deployment.environment.name", "loadtest"),
                                _kv("service.instance.id", f"loadgen-{os.getpid()}-{user_no}"),
                                _kv("telemetry.sdk.language", "python"), _kv("telemetry.sdk.name", "opentelemetry")])


def one_trace(rng: random.Random) -> tuple[list[trace_pb2.Span], list[logs_pb2.LogRecord]]:
    """A request span with a database and a cache span under it, and a WARN and an ERROR log on them."""
    trace_id = rng.randbytes(16)
    root_id, db_id, cache_id = (rng.randbytes(8) for _ in range(3))
    start = time.time_ns() - rng.randint(5, 50) * 1_000_000
    dur = rng.randint(2, 40) * 1_000_000
    route = rng.choice(ROUTES)
    status = rng.choice((200, 200, 200, 201, 404, 500))
    root = trace_pb2.Span(
        trace_id=trace_id, span_id=root_id, name=f"GET {route}", kind=trace_pb2.Span.SPAN_KIND_SERVER,
        start_time_unix_nano=start, end_time_unix_nano=start + dur,
        attributes=[_kv("http.request.method", "GET"), _kv("http.route", route),
                    _kv("http.response.status_code", status), _kv("url.scheme", "https"),
                    _kv("server.address", "api.example.internal"), _kv("user_agent.original", "loadgen/1.0")],
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR if status >= 500
                                else trace_pb2.Status.STATUS_CODE_UNSET))
    db = trace_pb2.Span(
        trace_id=trace_id, span_id=db_id, parent_span_id=root_id, name="SELECT orders",
        kind=trace_pb2.Span.SPAN_KIND_CLIENT, start_time_unix_nano=start + 1_000_000,
        end_time_unix_nano=start + dur // 2,
        attributes=[_kv("db.system.name", "postgresql"), _kv("db.operation.name", "SELECT"),
                    _kv("db.query.text", "SELECT id, total FROM orders WHERE id = $1"), _kv("db.namespace", "shop")])
    cache = trace_pb2.Span(
        trace_id=trace_id, span_id=cache_id, parent_span_id=root_id, name="GET", kind=trace_pb2.Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start + dur // 2, end_time_unix_nano=start + dur // 2 + 300_000,
        attributes=[_kv("db.system.name", "redis"), _kv("db.operation.name", "GET"),
                    _kv("server.port", 6379)])
    logs = [
        logs_pb2.LogRecord(time_unix_nano=start + 2_000_000, observed_time_unix_nano=start + 2_000_000,
                           severity_number=logs_pb2.SEVERITY_NUMBER_WARN, severity_text="WARN",
                           body=AnyValue(string_value="slow query on orders"), trace_id=trace_id, span_id=db_id,
                           attributes=[_kv("db.duration_ms", dur // 2_000_000), _kv("code.function", "load_order")]),
        logs_pb2.LogRecord(time_unix_nano=start + dur, observed_time_unix_nano=start + dur,
                           severity_number=logs_pb2.SEVERITY_NUMBER_ERROR, severity_text="ERROR",
                           body=AnyValue(string_value=f"request failed with {status}" if status >= 400
                                         else "retrying payment provider"),
                           trace_id=trace_id, span_id=root_id,
                           attributes=[_kv("http.route", route), _kv("exception.type", "UpstreamTimeout")]),
    ]
    return [root, db, cache], logs


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--target-rps", type=float, default=DEFAULT_TARGET_RPS, env_var="LOCUST_TARGET_RPS",
                        help="export requests per second of each signal, over all users (default 10)")
    parser.add_argument("--traces-per-request", type=int, default=10, env_var="LOCUST_TRACES_PER_REQUEST",
                        help="traces per export request: 3 spans and 2 log records each (default 10)")
    parser.add_argument("--sink-dir", default="var/sinks", env_var="LOCUST_SINK_DIR",
                        help="the Collector's file-exporter directory, read back for arrival (default var/sinks)")
    parser.add_argument("--drain-s", type=float, default=20.0, env_var="LOCUST_DRAIN_S",
                        help="longest wait after the run for the last items to reach the sink (default 20)")


@events.init.add_listener
def _pace(environment: Any, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is not None:
        OtlpUser.wait_time = constant_throughput(opts.target_rps / max(1, opts.num_users or 1))


@events.test_start.add_listener
def _start(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    LEDGER.mark_start(Path(environment.parsed_options.sink_dir))

    def tail() -> None:
        while True:
            LEDGER.read_sink()
            gevent.sleep(READ_INTERVAL_S)

    environment.otlp_tailer = gevent.spawn(tail)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(drained_s: float) -> tuple[str, bool]:
    sent = LEDGER.sent
    arrived = {k: t for k, t in LEDGER.arrived.items() if k in sent}
    lines = []
    ok = bool(sent) and len(arrived) == len(sent)
    window = (LEDGER.last_send or 0) - (LEDGER.first_send or 0)
    for sig in ("traces", "logs"):
        n_sent = sum(1 for k in sent if k[0] == sig)
        n_arr = sum(1 for k in arrived if k[0] == sig)
        share = n_arr / n_sent if n_sent else 0.0
        rate = n_sent / window if window > 0 else 0.0
        item = "spans" if sig == "traces" else "log records"
        lines.append(f"OTLP {sig}: {n_sent} {item} acknowledged ({rate:.0f}/s), {n_arr} in the sink "
                     f"({100 * share:.2f} %)")
    lat = [arrived[k] - sent[k] for k in arrived]
    p50, p95 = _pct(lat, 0.5), _pct(lat, 0.95)

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2f} s"

    lines.append(f"OTLP send→sink latency: p50 {fmt(p50)}, p95 {fmt(p95)}, max {fmt(max(lat) if lat else None)} "
                 f"(sink read every {READ_INTERVAL_S:g} s; drained {drained_s:.1f} s after the run)")
    if LEDGER.inflight:
        cut = sum(1 for k in LEDGER.inflight if k in LEDGER.arrived)
        lines.append(f"OTLP items in export calls cut off by the end of the run (not counted): "
                     f"{len(LEDGER.inflight)}, {cut} of them in the sink")
    if LEDGER.failed_items:
        lines.append(f"OTLP items in refused export requests (not counted as sent): {LEDGER.failed_items}")
    share = len(arrived) / len(sent) if sent else 0.0
    lines.append(f"GATE {'PASS' if ok else 'FAIL'} otlp pipeline: arrival = 100 %, measured {100 * share:.2f} % "
                 f"of {len(sent)} items (sink {LEDGER.sink_dir})")
    if not ok:
        missing = len(sent) - len(arrived)
        lines += ["ALERT: otlp pipeline: 1 load gate(s) failed",
                  f"  gate arrival = 100 %: measured {100 * share:.2f} % ({missing} of {len(sent)} items not in "
                  f"the sink after {drained_s:.1f} s)"]
    return "\n".join(lines), ok


@events.quitting.add_listener
def _report(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    tailer = getattr(environment, "otlp_tailer", None)
    if tailer is not None:
        tailer.kill(block=False)
    began = time.monotonic()
    deadline = began + environment.parsed_options.drain_s
    while True:
        LEDGER.read_sink()
        if all(k in LEDGER.arrived for k in LEDGER.sent) or time.monotonic() >= deadline:
            break
        gevent.sleep(READ_INTERVAL_S)
    text, ok = summary(time.monotonic() - began)
    print(text, flush=True)
    if not ok:
        environment.process_exit_code = 1
    elif environment.process_exit_code is None:
        environment.process_exit_code = 0


class OtlpUser(GrpcUser):
    stub_classes = {"traces": trace_service_pb2_grpc.TraceServiceStub, "logs": logs_service_pb2_grpc.LogsServiceStub}
    wait_time = constant_throughput(DEFAULT_TARGET_RPS)
    _numbers = iter(range(1, 1 << 30))

    def on_start(self) -> None:
        self.user_no = next(self._numbers)
        self.rng = random.Random()
        self.resource = resource(self.user_no)
        self.scope = InstrumentationScope(name="loadtests.otlp_pipeline", version="1")
        opts = self.environment.parsed_options
        self.traces_per_request = opts.traces_per_request if opts is not None else 10

    @task
    def export(self) -> None:
        spans: list[trace_pb2.Span] = []
        records: list[logs_pb2.LogRecord] = []
        for _ in range(self.traces_per_request):
            s, r = one_trace(self.rng)
            spans += s
            records += r
        traces_req = trace_service_pb2.ExportTraceServiceRequest(resource_spans=[trace_pb2.ResourceSpans(
            resource=self.resource, scope_spans=[trace_pb2.ScopeSpans(scope=self.scope, spans=spans)])])
        logs_req = logs_service_pb2.ExportLogsServiceRequest(resource_logs=[logs_pb2.ResourceLogs(
            resource=self.resource, scope_logs=[logs_pb2.ScopeLogs(scope=self.scope, log_records=records)])])
        for signal, request, ids in (("traces", traces_req, [s.span_id for s in spans]),
                                     ("logs", logs_req, [r.span_id for r in records])):
            keys = LEDGER.sending(signal, ids, time.monotonic())
            try:
                self.stubs[signal].Export(request, timeout=10)
            except grpc.RpcError:
                LEDGER.refused(keys)  # and a failure in Locust's stats, through the interceptor
            else:
                LEDGER.acked(keys)
