"""Redaction processor throughput, in-process, as ratios against the
parse+serialise floor measured in the same run.

    .venv/bin/python -m bench.bench_redaction

Each workload is a Payload built from raw bytes and passed to
process_traces/process_logs, then serialised (``payload.raw``) as the exporter
would. Workloads: clean spans (the fast path), the realistic mix (5 % of spans
carry PII), every span dirty, and logs with 5 % PII. A cProfile summary of
the mixed and dirty workloads shows where the time goes.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from bench.common import Rate, best_of, measure, parse_serialise_floor, ratio, span_request, write_results
from processors.api import CreateSettings, Payload, Signal
from processors.redaction.config import RedactionConfig
from processors.redaction.redaction import RedactionProcessor
from processors.telemetry import SelfTelemetry

N_ITEMS = 512
SECONDS = 1.0
RUNS = 3
TARGETS = {"mixed_spans_per_s": 150_000, "mixed_vs_floor": 0.3, "dirty_spans_per_s": 30_000,
           "logs_records_per_s": 120_000}
_BENCH_KEY = "bench-hmac-key-not-a-secret-0123"


def _pii(rnd: random.Random, i: int) -> tuple[str, str]:
    """One attribute carrying PII, varied the way real telemetry varies."""
    return rnd.choice([
        ("enduser.email", f"user{i}.{rnd.randrange(10**6)}@example.org"),
        ("user.phone", f"+49 151 {rnd.randrange(10**7, 10**8)}"),
        ("client.address", ".".join(str(rnd.randrange(11, 223)) for _ in range(4))),
        ("http.request.header.authorization", f"Bearer {rnd.randbytes(24).hex()}"),
        ("app.note", f"paid with 4111 1111 1111 1111 by order {i}"),
        ("url.full", f"https://shop.example.org/search?q=user{i}&page=2"),
    ])


def spans(fraction_dirty: float, seed: int = 7) -> bytes:
    req = span_request(N_ITEMS)
    rnd = random.Random(seed)
    for i, span in enumerate(req.resource_spans[0].scope_spans[0].spans):
        if rnd.random() < fraction_dirty:
            key, value = _pii(rnd, i)
            span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return req.SerializeToString()


def logs(fraction_dirty: float, seed: int = 11) -> bytes:
    """Records like the services' JSON logs: a templated body and a few attributes."""
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="session")))
    sl = rl.scope_logs.add()
    rnd = random.Random(seed)
    for i in range(N_ITEMS):
        rec = sl.log_records.add(time_unix_nano=1_700_000_000_000_000_000 + i, severity_text="INFO",
                                 severity_number=9, trace_id=rnd.randbytes(16), span_id=rnd.randbytes(8))
        rec.body.string_value = f"session {i % 50} heartbeat ok after {rnd.randrange(5, 900)} ms"
        for key, value in (("wa.session.state", "CONNECTED"), ("tenant.id", f"t-{i % 7}"),
                           ("request_id", rnd.randbytes(8).hex()), ("route", "/session/{id}/observe")):
            rec.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
        if rnd.random() < fraction_dirty:
            key, value = _pii(rnd, i)
            rec.body.string_value += f" for {value}"
    return req.SerializeToString()


def processor() -> RedactionProcessor:
    config = RedactionConfig(operators={"email": "hash", "phone": "hash"}, hash_key=_BENCH_KEY)
    return RedactionProcessor(config, CreateSettings("redaction", SelfTelemetry()))


def _workload(proc: RedactionProcessor, signal: Signal, raw: bytes) -> Callable[[], bytes]:
    process = proc.process_traces if signal is Signal.TRACES else proc.process_logs

    def once() -> bytes:
        return process(Payload(signal, raw=raw)).raw

    return once


def _profile(fn: Callable[[], Any], calls: int = 40, top: int = 8) -> list[str]:
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        fn()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).sort_stats("tottime")
    total = stats.total_tt
    rows = []
    for (file, line, func), (_, ncalls, tottime, _, _) in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]:
        where = func if file == "~" else f"{file.rsplit('/', 1)[-1]}:{line}({func})"
        rows.append(f"{100 * tottime / total:5.1f}%  {ncalls // calls:>6}/req  {where}")
    return rows


def main() -> dict[str, Any]:
    proc = processor()
    clean_raw = span_request(N_ITEMS).SerializeToString()
    workloads = {
        "spans clean (fast path)": _workload(proc, Signal.TRACES, clean_raw),
        "spans mixed (5% PII)": _workload(proc, Signal.TRACES, spans(0.05)),
        "spans every one dirty": _workload(proc, Signal.TRACES, spans(1.0)),
        "logs mixed (5% PII)": _workload(proc, Signal.LOGS, logs(0.05)),
        "logs clean": _workload(proc, Signal.LOGS, logs(0.0)),
    }
    # Rounds interleave the floor with every workload, so that a busy spell on the shared
    # machine slows both sides of a ratio rather than one; each figure is its best round.
    floor_runs: list[Rate] = []
    runs: dict[str, list[Rate]] = {name: [] for name in workloads}
    for _ in range(RUNS):
        floor_runs.append(parse_serialise_floor(clean_raw, seconds=SECONDS))
        for name, fn in workloads.items():
            runs[name].append(measure(name, fn, items_per_call=N_ITEMS, seconds=SECONDS))
    floor = best_of(floor_runs)
    rates = {name: best_of(r) for name, r in runs.items()}
    mixed, dirty, mixed_logs = (rates["spans mixed (5% PII)"], rates["spans every one dirty"],
                                rates["logs mixed (5% PII)"])
    figures = {
        "mixed_spans_per_s": round(mixed.items_per_s), "mixed_vs_floor": ratio(mixed.items_per_s, floor.items_per_s),
        "dirty_spans_per_s": round(dirty.items_per_s), "logs_records_per_s": round(mixed_logs.items_per_s),
    }
    profiles = {"spans mixed (5% PII)": _profile(workloads["spans mixed (5% PII)"]),
                "spans every one dirty": _profile(workloads["spans every one dirty"], calls=8)}

    print(f"redaction ({proc.scanner.engine} scan), {N_ITEMS} items per request, best of {RUNS} x {SECONDS}s")
    print(f"  {'workload':28} {'items/s':>10} {'x floor':>8} {'p99 ms':>8}")
    print(f"  {floor.name:28} {floor.items_per_s:>10.0f} {1.0:>8.3f} {floor.percentile_ms(0.99):>8.2f}")
    for name, r in rates.items():
        print(f"  {name:28} {r.items_per_s:>10.0f} {ratio(r.items_per_s, floor.items_per_s):>8.3f} "
              f"{r.percentile_ms(0.99):>8.2f}")
    for key, target in TARGETS.items():
        print(f"  target {key}: {figures[key]} (>= {target}: {'met' if figures[key] >= target else 'NOT met'})")
    for name, rows in profiles.items():
        print(f"  profile, {name} (share of time, calls per request):")
        for row in rows:
            print(f"    {row}")

    result = {
        "floor": floor, "rates": rates, "figures": figures, "targets": TARGETS,
        "ratios_vs_floor": {name: ratio(r.items_per_s, floor.items_per_s) for name, r in rates.items()},
        "profiles": profiles, "engine": proc.scanner.engine,
    }
    write_results("redaction", result)
    return result


if __name__ == "__main__":
    main()
