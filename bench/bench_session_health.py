"""Session-health API latency under load: 1,000 sessions, session events at
5,000/s folded by the connector, and HTTP requests from another process.

Figures: p50/p99 of /session/health and /session/observe (fleet and one
session), against a trivial aiohttp handler served by the same event loop in
the same run. Targets: health p99 < 5 ms, observe p99 < 10 ms.

    python -m bench.bench_session_health [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from bench.common import ratio, write_results
from processors.api import CreateSettings, Payload, Signal
from processors.session_health.config import SessionHealthConfig
from processors.session_health.connector import APPLIED_EVENTS, SessionHealthConnector
from processors.session_health.store import MemoryStore
from processors.telemetry import SelfTelemetry

SESSIONS = 1000
EVENTS_PER_S = 5000
TICK_S = 0.01  # one export request every 10 ms: 50 events each
TOKEN = "bench-token"
TARGETS_MS = {"health": 5.0, "observe": 10.0}
_MIX = ["heartbeat"] * 16 + ["heartbeat_missed", "reconnect_attempt", "reconnect_success", "credentials_written"]


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def event_batches(start: float, seconds: float, seed: int = 7) -> list[bytes]:
    """Serialised export requests, built before the run so that generating load costs the server nothing."""
    rnd = random.Random(seed)
    per_batch = int(EVENTS_PER_S * TICK_S)
    out = []
    n = 0
    for _ in range(int(seconds / TICK_S)):
        req = ExportLogsServiceRequest()
        rl = req.resource_logs.add()
        rl.resource.attributes.append(_kv("service.name", "session-service"))
        records = rl.scope_logs.add().log_records
        for _ in range(per_batch):
            sid = rnd.randrange(SESSIONS)
            kind = rnd.choice(_MIX)
            rec = records.add(time_unix_nano=int((start + n / EVENTS_PER_S) * 1e9), event_name=f"wa.session.{kind}")
            rec.attributes.extend([_kv("wa.session.id", f"session-{sid:04d}"), _kv("tenant.id", f"tenant-{sid % 20}"),
                                   _kv("wa.session.state", "connected")])
            if kind == "reconnect_success":
                rec.attributes.append(_kv("wa.reconnect.latency_ms", rnd.randrange(500, 30000)))
            n += 1
        out.append(req.SerializeToString())
    return out


async def produce(conn: SessionHealthConnector, batches: list[bytes], stop: asyncio.Event) -> int:
    """Export one batch per tick on a fixed schedule (catching up if the loop fell behind)."""
    t0 = time.perf_counter()
    sent = 0
    for i, raw in enumerate(batches):
        if stop.is_set():
            break
        delay = t0 + i * TICK_S - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await conn.export(Payload(Signal.LOGS, raw=raw))
        sent += 1
    return sent


async def _serialise(payload: Payload) -> None:
    payload.raw  # what the next hop's exporter costs at least: the request on the wire  # noqa: B018


CLIENT = r"""
import asyncio, json, sys, time
import aiohttp

async def main(spec):
    out = {}
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer " + spec["token"]}) as http:
        for name, url in spec["urls"].items():
            for _ in range(50):  # warm-up
                async with http.get(url) as r:
                    await r.read()
            lat = []
            end = time.perf_counter() + spec["seconds"]
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                async with http.get(url) as r:
                    await r.read()
                    assert r.status in (200, 503), (url, r.status)
                lat.append(time.perf_counter() - t0)
            out[name] = lat
    print(json.dumps(out))

asyncio.run(main(json.loads(sys.argv[1])))
"""


def pct(samples: list[float], q: float) -> float:
    data = sorted(samples)
    return data[min(len(data) - 1, int(q * len(data)))] * 1000 if data else 0.0


async def run(seconds_per_endpoint: float, evaluation_interval_s: float) -> dict[str, Any]:
    cfg = SessionHealthConfig.model_validate({"api": {"endpoint": "127.0.0.1:0"},
                                              "evaluation_interval_s": evaluation_interval_s})
    telemetry = SelfTelemetry()
    conn = SessionHealthConnector(cfg, CreateSettings("session_health", telemetry), store=MemoryStore(),
                                  admin_token=TOKEN)
    conn.attach(Signal.METRICS, _serialise)
    conn.attach(Signal.LOGS, _serialise)

    async def trivial(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    base_app = web.Application()
    base_app.router.add_get("/", trivial)
    base_runner = web.AppRunner(base_app, access_log=None)
    await base_runner.setup()
    await web.TCPSite(base_runner, "127.0.0.1", 0).start()
    base_port = base_runner.addresses[0][1]

    await conn.start()
    endpoints = {"baseline (trivial aiohttp handler)": f"http://127.0.0.1:{base_port}/"}
    api = f"http://127.0.0.1:{conn.api.port}"
    endpoints |= {
        "fleet /session/health": f"{api}/session/health",
        "fleet /session/observe": f"{api}/session/observe",
        "one /sessions/{id}/health": f"{api}/sessions/session-0042/health",
        "one /sessions/{id}/observe": f"{api}/sessions/session-0042/observe",
    }
    run_s = seconds_per_endpoint * len(endpoints) + 8  # + client start and warm-up
    now = time.time()
    # Every session exists before the measurement.
    prefill = ExportLogsServiceRequest()
    recs = prefill.resource_logs.add().scope_logs.add().log_records
    for sid in range(SESSIONS):
        rec = recs.add(time_unix_nano=int((now - 1) * 1e9), event_name="wa.session.state_change")
        rec.attributes.extend([_kv("wa.session.id", f"session-{sid:04d}"), _kv("tenant.id", f"tenant-{sid % 20}"),
                               _kv("wa.session.state", "connected")])
    await conn.export(Payload(Signal.LOGS, message=prefill))
    await conn.flush(everything=True)
    await conn.evaluate_now()
    batches = event_batches(now, run_s)

    stop = asyncio.Event()
    applied_before = telemetry.value(f"{APPLIED_EVENTS}_total", component="session_health")
    producer = asyncio.create_task(produce(conn, batches, stop))
    t0 = time.perf_counter()
    spec = {"urls": endpoints, "seconds": seconds_per_endpoint, "token": TOKEN}
    client = await asyncio.create_subprocess_exec(sys.executable, "-c", CLIENT, json.dumps(spec),
                                                  stdout=asyncio.subprocess.PIPE)
    out, _ = await client.communicate()
    elapsed = time.perf_counter() - t0
    stop.set()
    sent_batches = await producer
    await conn.flush(everything=True)
    applied = telemetry.value(f"{APPLIED_EVENTS}_total", component="session_health") - applied_before
    sessions = len(await conn.store.all())
    await conn.shutdown()
    await base_runner.cleanup()

    latencies: dict[str, list[float]] = json.loads(out)
    base = latencies["baseline (trivial aiohttp handler)"]
    rows = []
    for name, lat in latencies.items():
        kind = "observe" if "observe" in name else "health" if "health" in name else None
        rows.append({
            "endpoint": name, "requests": len(lat), "p50_ms": round(pct(lat, 0.50), 3),
            "p99_ms": round(pct(lat, 0.99), 3), "p99_vs_baseline": ratio(pct(lat, 0.99), pct(base, 0.99)),
            "target_p99_ms": TARGETS_MS.get(kind or ""), "meets_target": (
                pct(lat, 0.99) < TARGETS_MS[kind] if kind else None),
        })
    return {
        "sessions": sessions, "target_events_per_s": EVENTS_PER_S,
        "events_sent_per_s": round(sent_batches * EVENTS_PER_S * TICK_S / elapsed, 1),
        "events_folded_per_s": round(applied / elapsed, 1),
        "evaluation_interval_s": cfg.evaluation_interval_s, "reorder_window_s": cfg.reorder_window_s,
        "endpoints": rows,
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"session_health: {result['sessions']} sessions, events sent {result['events_sent_per_s']}/s "
          f"(target {result['target_events_per_s']}/s), folded {result['events_folded_per_s']}/s, "
          f"evaluated every {result['evaluation_interval_s']:g}s")
    print(f"{'endpoint':38} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99/base':>9} {'target':>7}  ok")
    for r in result["endpoints"]:
        target = f"<{r['target_p99_ms']:g}" if r["target_p99_ms"] else "-"
        ok = {True: "yes", False: "NO", None: ""}[r["meets_target"]]
        print(f"{r['endpoint']:38} {r['requests']:>8} {r['p50_ms']:>8.3f} {r['p99_ms']:>8.3f} "
              f"{r['p99_vs_baseline']:>9.2f} {target:>7}  {ok}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="session-health API latency under load")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of requests per endpoint")
    parser.add_argument("--evaluation-interval", type=float, default=SessionHealthConfig().evaluation_interval_s,
                        help="evaluation_interval_s of the connector (default: the shipped default)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.seconds, args.evaluation_interval))
    print_table(result)
    write_results("session_health", result)
    return result


if __name__ == "__main__":
    main()
