"""Redaction at Collector speed on real-shaped traffic, side by side in one run.

    .venv/bin/python -m bench.bench_realshape

The load is ``bench.realshape``: 512-span requests of whole FastAPI requests
(server, SQL, Redis and HTTP client spans, about 20 attributes each, URLs with
queries, statements with placeholders and with literals, fresh ids), and
512-record log requests, in two mixes: 5 % of the items carry personal data,
and every item does. Sixteen distinct requests per workload are sent in turn,
so a verdict cache only helps where the shape itself repeats.

Each request goes over gRPC loopback through one of, to the same next hop (a
Collector that acknowledges and discards):

- ``bin/otelcol`` passing it straight through (the Go baseline);
- contrib's ``redactionprocessor`` (``bin/otelcol-redaction``, built from
  ``bench/contrib/builder-config.yaml``), configured as its README recommends
  for the same kinds: value regexes for emails, cards, phone numbers, IBANs,
  tokens and addresses, the same blocked keys, ``allow_all_keys``, and its URL
  and SQL sanitisers;
- ``otelproc serve`` with the redaction processor as ``processors/configs/
  pipeline.yaml`` configures it, one process, and (when the server has the
  ``service.server.workers`` key) one worker per CPU.

Printed: spans (records) per second, the ratios the targets are read on, the
p99 that the otelproc hop adds to a request at half its maximum rate (p99
through otelproc minus p99 through the otelcol passthrough at that same
rate), and, where a target falls short, the in-process profile (top
cumulative functions) of the processor on the same requests.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import textwrap
from pathlib import Path
from typing import Any

import yaml

from bench import realshape
from bench.common import Rate, ratio, write_results
from bench.loopback import (
    LOGS_EXPORT,
    OTELCOL,
    TRACE_EXPORT,
    drive,
    otelcol_passthrough,
    otelcol_processing,
    otelcol_sink,
    otelproc,
)
from processors.api import CreateSettings, Payload, Signal
from processors.config import ServerSpec
from processors.redaction.config import RedactionConfig
from processors.redaction.redaction import RedactionProcessor
from processors.telemetry import SelfTelemetry

REPO = Path(__file__).resolve().parents[1]
CONTRIB = REPO / "bin" / "otelcol-redaction"
PIPELINE = REPO / "processors" / "configs" / "pipeline.yaml"
N = realshape.N_ITEMS
DISTINCT = 48
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
_KEY = "bench-hmac-key-not-a-secret-0123"
# Callers and their connections: several senders, so that every worker process gets a share.
CONNECTIONS = 4

TARGETS = {
    "traces 5% PII: otelproc / otelcol passthrough": 0.5,
    "traces 5% PII: otelproc / contrib redactionprocessor": 3.0,
    "traces every span dirty: otelproc / otelcol passthrough": 0.25,
}
P99_TARGET_MS = 5.0

# contrib's redactionprocessor, for the same kinds as ours: its README's examples (cards, emails)
# and the other kinds our detectors find, as value regexes; the same blocked keys.
_CONTRIB_BLOCKED_VALUES = [
    r"4[0-9]{12}(?:[0-9]{3})?",  # Visa
    r"(5[1-5][0-9]{14})",  # MasterCard
    r"(?:[0-9]{4}[ -]){3}[0-9]{4}",  # grouped card numbers
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",  # email
    r"\+[1-9][0-9 ()-]{7,18}[0-9]",  # phone, international
    r"[0-9]{8,15}@s\.whatsapp\.net",  # WhatsApp JID
    r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){3,7}",  # IBAN
    r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",  # JWT
    r"(?i)bearer\s+[A-Za-z0-9._~+/-]{16,}",  # bearer tokens
    r"(?:AKIA|ASIA)[A-Z0-9]{16}",  # AWS key ids
    r"gh[pousr]_[A-Za-z0-9]{36}",  # GitHub tokens
    r"(?:[0-9]{1,3}\.){3}[0-9]{1,3}",  # IPv4
]


def _otelproc_redaction() -> dict[str, Any]:
    return yaml.safe_load(PIPELINE.read_text())["processors"]["redaction"]


def contrib_processor() -> str:
    config = {
        "redaction": {
            "allow_all_keys": True,
            "blocked_key_patterns": _otelproc_redaction()["blocked_keys"],
            "blocked_values": _CONTRIB_BLOCKED_VALUES,
            "url_sanitizer": {"enabled": True,
                              "attributes": ["url.full", "http.url", "url.original", "url.query", "http.target"]},
            "db_sanitizer": {"sql": {"enabled": True, "attributes": ["db.statement", "db.query.text"]}},
            "summary": "silent",
        },
    }
    return textwrap.indent(yaml.safe_dump(config, default_flow_style=False, width=1000), "  ")


def workers_supported() -> bool:
    return "workers" in ServerSpec.model_fields


def otelproc_config(workers: int | None) -> str:
    """The pipeline's redaction processor on traces and logs, nothing else."""
    config: dict[str, Any] = {
        "receivers": {"otlp": {"grpc": {"endpoint": "${env:OTELPROC_RECEIVER_ENDPOINT}", "max_recv_msg_size_mib": 64}}},
        "processors": {"redaction": _otelproc_redaction()},
        "exporters": {"otlp": {"endpoint": "${env:OTELPROC_NEXT_HOP}", "compression": "none"}},
        "service": {
            "pipelines": {s: {"receivers": ["otlp"], "processors": ["redaction"], "exporters": ["otlp"]}
                          for s in ("traces", "logs")},
            "telemetry": {"metrics": {"address": "${env:OTELPROC_METRICS_ADDRESS}"}},
        },
    }
    if workers is not None:
        config["service"]["server"] = {"workers": workers}
    return yaml.safe_dump(config, sort_keys=False)


WORKLOADS = {
    "traces 5% PII": (Signal.TRACES, lambda seed: realshape.spans(0.05, seed=seed)),
    "traces every span dirty": (Signal.TRACES, lambda seed: realshape.spans(1.0, seed=seed)),
    "logs 5% PII": (Signal.LOGS, lambda seed: realshape.logs(0.05, seed=seed)),
    "logs every record dirty": (Signal.LOGS, lambda seed: realshape.logs(1.0, seed=seed)),
}


def bodies(name: str, offset: int = 0) -> list[bytes]:
    _, make = WORKLOADS[name]
    return [make(1000 + offset + i).SerializeToString() for i in range(DISTINCT)]


def processor() -> RedactionProcessor:
    os.environ.setdefault("REDACTION_HMAC_KEY", _KEY)
    raw = {**_otelproc_redaction(), "hash_key": _KEY}
    return RedactionProcessor(RedactionConfig(**raw), CreateSettings("redaction", SelfTelemetry()))


def in_process(proc: RedactionProcessor, signal: Signal, reqs: list[bytes], rounds: int = 2) -> float:
    """Items per second of the processor alone, one core, over ``reqs`` in turn."""
    import time

    for r in reqs[:2]:
        proc.process(Payload(signal, raw=r)).raw  # noqa: B018
    t0 = time.perf_counter()
    for _ in range(rounds):
        for r in reqs:
            proc.process(Payload(signal, raw=r)).raw  # noqa: B018
    return rounds * len(reqs) * N / (time.perf_counter() - t0)


_GROUPS = (  # where each function's own time goes, by the file it is in
    ("splice (wire edit)", ("redaction/splice.py",)),
    ("scan (hyperscan)", ("fastscan.py", "hyperscan")),
    ("rules: detectors, sanitizers, operators, taint", ("redaction/rules.py", "detectors/", "sanitizers/",
                                                        "operators/", "phonenumbers", "stdnum", "re/", "sre_",
                                                        "hmac", "_sre", "ipaddress")),
    ("walker (items walked on their own)", ("redaction/walk.py", "redaction/audit.py")),
    ("protobuf", ("protobuf", "upb", "FromString", "SerializeToString", "ParseFromString")),
)


def profile(proc: RedactionProcessor, signal: Signal, reqs: list[bytes], top: int = 12) -> list[str]:
    """Top cumulative functions, then the top ones by own time, then own time by part."""
    prof = cProfile.Profile()
    prof.enable()
    for r in reqs:
        proc.process(Payload(signal, raw=r)).raw  # noqa: B018
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO())
    total = sum(v[2] for v in stats.stats.values())
    n = len(reqs)

    def where(file: str, line: int, func: str) -> str:
        return func if file == "~" else f"{file.rsplit('/', 1)[-1]}:{line}({func})"

    rows = []
    for (file, line, func), (_, ncalls, tottime, cumtime, _) in sorted(stats.stats.items(),
                                                                      key=lambda kv: -kv[1][3]):
        if len(rows) == top:
            break
        if func in ("<module>", "enable") or "profile" in func or file.endswith(("api.py", "redaction.py")):
            continue
        rows.append(f"{100 * cumtime / total:5.1f}% cum {100 * tottime / total:5.1f}% own "
                    f"{ncalls // n:>7}/req  {where(file, line, func)}")
    rows.append("by own time:")
    for (file, line, func), (_, ncalls, tottime, _, _) in sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:8]:
        rows.append(f"  {100 * tottime / total:5.1f}% own {ncalls // n:>7}/req  {where(file, line, func)}")
    parts = dict.fromkeys([g for g, _ in _GROUPS] + ["other"], 0.0)
    for (file, _, func), (_, _, tottime, _, _) in stats.stats.items():
        name = next((g for g, marks in _GROUPS if any(m in file or m in func for m in marks)), "other")
        parts[name] += tottime
    rows.append("own time by part: " + ", ".join(f"{g} {100 * t / total:.0f}%" for g, t in parts.items()))
    return rows


def _best(runs: list[Rate]) -> Rate:
    return max(runs, key=lambda r: r.items_per_s)


def main() -> dict[str, Any]:
    for binary, make in ((OTELCOL, "make collector"), (CONTRIB, "make bench-contrib")):
        if not binary.exists():
            raise RuntimeError(f"{binary} is missing: {make} builds it")
    loads = {name: bodies(name) for name in WORKLOADS}
    env = {"REDACTION_HMAC_KEY": _KEY}
    paths = ["otelcol passthrough", "contrib redactionprocessor", "otelproc (1 process)"]
    n_workers = None
    if workers_supported():
        n_workers = ServerSpec().worker_count()
        paths.append(f"otelproc ({n_workers} workers)")
    runs: dict[tuple[str, str], list[Rate]] = {}
    half: dict[str, dict[str, Rate]] = {}
    spread: dict[str, list[float]] = {}
    with otelcol_sink() as sink:
        servers = {
            "otelcol passthrough": otelcol_passthrough(sink),
            "contrib redactionprocessor": otelcol_processing(CONTRIB, sink, contrib_processor(), ["redaction"]),
            "otelproc (1 process)": otelproc(otelproc_config(1 if workers_supported() else None), sink, env),
        }
        if n_workers is not None:
            servers[paths[-1]] = otelproc(otelproc_config(n_workers), sink, env)
        ports = {}
        try:
            for name, cm in servers.items():
                ports[name] = cm.__enter__()
            for _ in range(ROUNDS):
                for load, reqs in loads.items():
                    method = TRACE_EXPORT if WORKLOADS[load][0] is Signal.TRACES else LOGS_EXPORT
                    for path in paths:
                        r = drive(ports[path], reqs, N, seconds=SECONDS, name=f"{load}: {path}", method=method,
                                  connections=CONNECTIONS)
                        runs.setdefault((load, path), []).append(r)
            best = {key: _best(r) for key, r in runs.items()}
            top = paths[-1]
            for load, reqs in loads.items():
                method = TRACE_EXPORT if WORKLOADS[load][0] is Signal.TRACES else LOGS_EXPORT
                rate = best[(load, top)].calls / best[(load, top)].seconds / 2  # requests per second
                half[load] = {path: drive(ports[path], reqs, N, seconds=SECONDS, name=f"{load}: {path} @ half",
                                          method=method, rate=rate, connections=CONNECTIONS)
                              for path in ("otelcol passthrough", top)}
        finally:
            for cm in reversed(list(servers.values())):
                cm.__exit__(None, None, None)

    # Ratios per round too: their spread says how much the shared machine moved them.
    top = paths[-1]
    figures: dict[str, float] = {}
    for load in WORKLOADS:
        for other, label in (("otelcol passthrough", "otelcol passthrough"),
                             ("contrib redactionprocessor", "contrib redactionprocessor")):
            key = f"{load}: otelproc / {label}"
            figures[key] = ratio(best[(load, top)].items_per_s, best[(load, other)].items_per_s)
            spread[key] = [ratio(a.items_per_s, b.items_per_s)
                           for a, b in zip(runs[(load, top)], runs[(load, other)], strict=True)]
        figures[f"{load}: otelproc 1 process / otelcol passthrough"] = ratio(
            best[(load, "otelproc (1 process)")].items_per_s, best[(load, "otelcol passthrough")].items_per_s)
    added = {load: round(h[top].percentile_ms(0.99) - h["otelcol passthrough"].percentile_ms(0.99), 2)
             for load, h in half.items()}

    proc = processor()
    inproc = {load: round(in_process(proc, WORKLOADS[load][0], bodies(load, offset=100))) for load in WORKLOADS}
    short = [k for k, t in TARGETS.items() if figures[k] < t]
    if any(v >= P99_TARGET_MS for k, v in added.items() if k.startswith("traces")):
        short.append("added p99")
    profiles = {}
    if short:
        for load in ("traces 5% PII", "traces every span dirty"):
            profiles[load] = profile(proc, Signal.TRACES, bodies(load, offset=200)[:8])

    print(f"real-shaped requests: {N} items each, {DISTINCT} distinct per workload, best of {ROUNDS} x {SECONDS:.0f}s "
          f"over gRPC loopback; otelproc figures from '{top}'")
    print(f"  {'workload':26} " + " ".join(f"{p:>28}" for p in paths))
    for load in WORKLOADS:
        print(f"  {load:26} " + " ".join(f"{best[(load, p)].items_per_s:>22,.0f} it/s" for p in paths))
    print("  ratios (best round; every round in brackets):")
    for key, value in figures.items():
        rounds = spread.get(key)
        print(f"    {key:68} {value:6.3f}x" + (f"  [{', '.join(f'{x:.3f}' for x in rounds)}]" if rounds else ""))
    print(f"  p99 added by the otelproc hop at half its max rate ({top} vs otelcol passthrough, same rate):")
    for load, h in half.items():
        print(f"    {load:26} {added[load]:7.2f} ms  (otelproc p99 {h[top].percentile_ms(0.99):.2f} ms, "
              f"otelcol {h['otelcol passthrough'].percentile_ms(0.99):.2f} ms, "
              f"{h[top].calls / h[top].seconds:.0f} req/s)")
    print("  in-process, one core: " + ", ".join(f"{load} {v:,} it/s" for load, v in inproc.items()))
    for key, target in TARGETS.items():
        print(f"  target {key}: {figures[key]:.3f} (>= {target}: {'met' if figures[key] >= target else 'NOT met'})")
    for load in ("traces 5% PII", "traces every span dirty"):
        print(f"  target added p99, {load}: {added[load]:.2f} ms (< {P99_TARGET_MS}: "
              f"{'met' if added[load] < P99_TARGET_MS else 'NOT met'})")
    for load, rows in profiles.items():
        print(f"  profile, {load}, in-process (share of time; calls per request):")
        for row in rows:
            print(f"    {row}")
    result = {
        "rates": {f"{load}: {path}": best[(load, path)].summary() for load in WORKLOADS for path in paths},
        "figures": figures, "rounds": spread, "targets": TARGETS, "added_p99_ms": added,
        "half_rate": {load: {p: r.summary() for p, r in h.items()} for load, h in half.items()},
        "in_process_items_per_s": inproc, "profiles": profiles, "otelproc": top,
    }
    print(f"  -> {write_results('realshape', result)}")
    return result


if __name__ == "__main__":
    main()
