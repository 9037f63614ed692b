"""``otelproc serve`` with several worker processes on one SO_REUSEPORT
listener: a SIGKILLed worker is restarted and the Collector's retry loses
nothing, SIGTERM drains every worker, the self-metrics add up across workers,
and the session-health API keeps one fleet view."""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.logs.v1 import (
    logs_service_pb2,
    logs_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from prometheus_client.parser import text_string_to_metric_families

from processors.api import Signal
from tests.processors.session_health.helpers import logs_request, record
from tests.support.otlp import numbered_logs, numbered_spans
from tests.support.pipeline import PASSTHROUGH, Collector, collector_pipeline
from tests.support.procs import REPO, Proc, free_port, wait_for_port

pytestmark = pytest.mark.e2e

OTELPROC = [sys.executable, "-m", "processors.cli"]
PER_REQUEST = 50
# Channels to one address share one connection unless each has its own subchannel pool.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def with_server(config_yaml: str, **server: object) -> str:
    """``config_yaml`` with ``service.server`` set to ``server``."""
    body = ", ".join(f"{k}: {v}" for k, v in server.items())
    shipped = re.search(r"\n  server:\n(    .*\n)+", config_yaml)  # the shipped configs' own block
    if shipped:
        return config_yaml.replace(shipped.group(), f"\n  server: {{{body}}}\n", 1)
    assert "\nservice:\n" in config_yaml
    return config_yaml.replace("\nservice:\n", f"\nservice:\n  server: {{{body}}}\n", 1)


def worker_pids(supervisor_pid: int) -> dict[int, int]:
    """Worker index -> pid of the supervisor's live worker processes."""
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        zombie = stat.rsplit(")", 1)[1].split()[0] == "Z"
        if ppid == supervisor_pid and not zombie and b"processors.workers" in argv and b"--index" in argv:
            out[int(argv[argv.index(b"--index") + 1])] = int(entry.name)
    return out


def wait_serving(supervisor: Proc, metrics_url: str, n: int = 2) -> None:
    """Until ``n`` workers report that they serve (they bind their listener one after the other)."""
    def serving() -> bool:
        try:
            return total(samples(metrics_url), "otelproc_workers", state="running") == n
        except OSError:
            return False
    wait_until(lambda: serving() and len(worker_pids(supervisor.pid)) == n, 30, f"{n} workers serving")


def samples(url: str) -> dict[tuple[str, frozenset], float]:
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def total(got: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in got.items() if n == name and want <= ls)


def per_worker(got: dict[tuple[str, frozenset], float], signal_: str) -> dict[str, float]:
    return {dict(ls)["worker"]: v for (n, ls), v in got.items()
            if n == "otelproc_worker_received_items_total" and dict(ls).get("signal") == signal_}


def span_request(i: int) -> trace_service_pb2.ExportTraceServiceRequest:
    return numbered_spans(i, PER_REQUEST, "workers")


def log_request(i: int) -> logs_service_pb2.ExportLogsServiceRequest:
    return numbered_logs(i, PER_REQUEST, "workers")


def span_ids(reqs) -> list[bytes]:
    return [sp.span_id for r in reqs for rs in r.resource_spans for ss in rs.scope_spans for sp in ss.spans]


def log_bodies(reqs) -> list[str]:
    return [lr.body.string_value
            for r in reqs for rl in r.resource_logs for sl in rl.scope_logs for lr in sl.log_records]


class Producer(threading.Thread):
    """Sends ``requests`` trace and log requests to the ingress Collector, retrying what it refuses."""

    def __init__(self, endpoint: str, requests: int, pace_s: float = 0.03) -> None:
        super().__init__(daemon=True)
        self.endpoint, self.requests, self.pace_s = endpoint, requests, pace_s
        self.sent = 0
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            with grpc.insecure_channel(self.endpoint) as ch:
                traces = trace_service_pb2_grpc.TraceServiceStub(ch)
                logs = logs_service_pb2_grpc.LogsServiceStub(ch)
                for i in range(self.requests):
                    for call, req in ((traces.Export, span_request(i)), (logs.Export, log_request(i))):
                        deadline = time.monotonic() + 60
                        while True:
                            try:
                                call(req, timeout=5)
                                break
                            except grpc.RpcError:
                                if time.monotonic() > deadline:
                                    raise
                                time.sleep(0.2)
                    self.sent += 1
                    time.sleep(self.pace_s)
        except Exception as exc:  # noqa: BLE001 - surfaced by the test
            self.error = exc


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.05)


# --- SIGKILL mid-load ----------------------------------------------------------


def test_a_worker_killed_mid_load_is_restarted_and_the_collector_retry_loses_nothing(otelcol, tmp_path):
    requests = 120  # 6,000 spans and 6,000 log records
    config = with_server(PASSTHROUGH, workers=2)
    with collector_pipeline(tmp_path, config, split_egress=True) as p:
        sup = p.processors.proc
        metrics = p.processors_metrics_url
        wait_serving(sup, metrics)
        before = worker_pids(sup.pid)
        producer = Producer(p.otlp_grpc_endpoint, requests)
        producer.start()
        wait_until(lambda: producer.sent >= requests // 4 or not producer.is_alive(), 60, "a quarter sent")
        # The worker the Collector's connection is on is the one serving now: that one is killed.
        first = per_worker(samples(metrics), "traces")
        time.sleep(0.3)
        second = per_worker(samples(metrics), "traces")
        serving = max(second, key=lambda w: second[w] - first.get(w, 0.0))
        assert second[serving] > first.get(serving, 0.0), f"no worker is receiving: {first} -> {second}"
        victim = int(serving)
        sent_at_kill = producer.sent
        os.kill(before[victim], signal.SIGKILL)
        wait_until(lambda: worker_pids(sup.pid).get(victim) not in (None, before[victim]), 30,
                   f"worker {victim} restarted")
        producer.join(180)
        assert producer.error is None, producer.error
        assert sent_at_kill < requests, "the kill came after the load"

        n = requests * PER_REQUEST
        p.wait_for(Signal.TRACES, lambda r: len(set(span_ids(r))) >= n, timeout=90)
        p.wait_for(Signal.LOGS, lambda r: len(set(log_bodies(r))) >= n, timeout=90)
        spans, bodies = span_ids(p.read(Signal.TRACES)), log_bodies(p.read(Signal.LOGS))
        lost = (n - len(set(spans)), n - len(set(bodies)))
        duplicated = (len(spans) - len(set(spans)), len(bodies) - len(set(bodies)))
        print(f"\nworker {victim} SIGKILLed after {sent_at_kill}/{requests} requests: sent {n} spans + {n} logs; "
              f"lost {lost}; duplicated {duplicated}")
        assert lost == (0, 0)
        assert set(spans) == {(k + 1).to_bytes(8, "big") for k in range(n)}
        assert sup.alive(), "the supervisor went down with its worker"
        got = samples(metrics)
        print(f"items received by worker: {per_worker(got, 'traces')} (traces), {per_worker(got, 'logs')} (logs)")
        assert total(got, "otelproc_worker_restarts_total", worker=str(victim)) == 1
        assert total(got, "otelproc_worker_restarts_total") == 1
        assert total(got, "otelproc_workers", state="running") == 2


# --- helpers for direct senders ---------------------------------------------------------------

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


def send_once(port: int, method: str, raw: bytes) -> None:
    """One request on a connection of its own: SO_REUSEPORT spreads connections, not requests."""
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=OWN_CONNECTION) as ch:
        ch.unary_unary(method, request_serializer=None, response_deserializer=None)(raw, timeout=10)


def serve(tmp_path: Path, config_yaml: str, env: dict[str, str]) -> Proc:
    cfg = tmp_path / "processors.yaml"
    cfg.write_text(config_yaml)
    return Proc([*OTELPROC, "serve", "--config", str(cfg)], log=tmp_path / "otelproc.log", env=env, cwd=REPO)


@pytest.fixture
def egress(otelcol, tmp_path):
    """The next hop: an otelcol whose otlp/processed receiver writes the file sinks."""
    col = Collector(tmp_path / "otelcol")
    col.workdir.mkdir()
    col.start()
    yield col
    col.stop()


def passthrough_env(col: Collector) -> tuple[dict[str, str], int, int]:
    port, metrics_port = free_port(), free_port()
    env = {"OTELPROC_RECEIVER_ENDPOINT": f"127.0.0.1:{port}", "OTELPROC_NEXT_HOP": f"127.0.0.1:{col.processed_port}",
           "OTELPROC_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}"}
    return env, port, metrics_port


def sink_span_ids(col: Collector) -> list[bytes]:
    from tests.support.pipeline import read_sink

    return span_ids([r for path in col.sink_paths(Signal.TRACES) for r in read_sink(path, Signal.TRACES)])


# --- SIGTERM -------------------------------------------------------------------------------------


def test_sigterm_drains_every_worker_and_exits_0_within_the_drain_timeout(egress, tmp_path):
    drain_s = 5
    env, port, metrics_port = passthrough_env(egress)
    proc = serve(tmp_path, with_server(PASSTHROUGH, workers=2, drain_timeout_s=drain_s), env)
    try:
        wait_for_port(port, proc=proc.popen)
        wait_serving(proc, f"http://127.0.0.1:{metrics_port}/metrics")
        acked: list[int] = []
        refused: list[int] = []
        lock = threading.Lock()

        def sender(first: int) -> None:
            # A fresh connection every few requests, so that both workers have requests in flight.
            for batch in range(first, first + 1000, 5):
                try:
                    with grpc.insecure_channel(f"127.0.0.1:{port}", options=OWN_CONNECTION) as ch:
                        call = ch.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
                        for i in range(batch, batch + 5):
                            call(span_request(i).SerializeToString(), timeout=10)
                            with lock:
                                acked.append(i)
                except grpc.RpcError:
                    with lock:
                        refused.append(batch)
                    return

        threads = [threading.Thread(target=sender, args=(k * 1000,), daemon=True) for k in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: len(acked) >= 100, 60, "100 requests acknowledged")
        served = per_worker(samples(f"http://127.0.0.1:{metrics_port}/metrics"), "traces")
        assert len(served) == 2 and all(v > 0 for v in served.values()), served
        t0 = time.monotonic()
        proc.send(signal.SIGTERM)
        code = proc.popen.wait(drain_s + 10)
        elapsed = time.monotonic() - t0
        for t in threads:
            t.join(30)
        with lock:
            acked_now = list(acked)
        assert code == 0, proc.output()[-3000:]
        assert elapsed < drain_s, f"took {elapsed:.1f}s to drain"
        out = proc.output()
        for w in (0, 1):
            assert f"[worker {w}]: otelproc: draining" in out and f"[worker {w}]: otelproc: stopped" in out
        assert worker_pids(proc.pid) == {}
        expected = {(i * PER_REQUEST + j + 1).to_bytes(8, "big") for i in acked_now for j in range(PER_REQUEST)}
        wait_until(lambda: expected <= set(sink_span_ids(egress)), 30, "every acknowledged span in the sink")
        print(f"\nSIGTERM with {len(acked_now)} requests acknowledged ({served} items by worker), "
              f"{len(refused)} senders refused after it; drained and exited 0 in {elapsed:.2f}s")
    finally:
        proc.stop()


# --- self-metrics ----------------------------------------------------------------------------------


def test_self_metrics_add_up_across_workers_and_keep_a_dead_workers_counts(egress, tmp_path):
    env, port, metrics_port = passthrough_env(egress)
    config = with_server(PASSTHROUGH, workers=2).replace(
        "logs: {receivers: [otlp], exporters: [otlp]}",
        "logs: {receivers: [otlp], processors: [log_sampling], exporters: [otlp]}",
    ).replace("exporters:\n  otlp:", "processors:\n  log_sampling: {info_ratio: 0.5}\nexporters:\n  otlp:", 1)
    proc = serve(tmp_path, config, env)
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_for_port(port, proc=proc.popen)
        wait_serving(proc, f"http://127.0.0.1:{metrics_port}/metrics")
        sent = 0
        while sent < 200 and (sent < 20 or len([v for v in per_worker(samples(url), "traces").values() if v]) < 2):
            send_once(port, TRACE_EXPORT, span_request(sent).SerializeToString())
            sent += 1
        send_once(port, LOGS_EXPORT, log_request(0).SerializeToString())
        got = samples(url)
        by_worker = per_worker(got, "traces")
        print(f"\n{sent} requests on {sent} connections: items by worker {by_worker}")
        assert set(by_worker) == {"0", "1"} and all(v > 0 for v in by_worker.values()), by_worker
        n = sent * PER_REQUEST
        assert total(got, "otelproc_received_items_total", signal="traces") == n
        assert total(got, "otelproc_exported_items_total", signal="traces") == n
        assert sum(by_worker.values()) == n
        assert total(got, "otelproc_processing_duration_seconds_count", signal="logs") == 1
        ratios = [ls for (name, ls) in got if name == "otelproc_log_sampling_ratio"]
        assert ratios and all("pid" not in dict(ls) for ls in ratios), ratios  # one series, as with one process

        pids = worker_pids(proc.pid)
        os.kill(pids[1], signal.SIGKILL)
        wait_until(lambda: worker_pids(proc.pid).get(1) not in (None, pids[1]), 30, "worker 1 restarted")
        after = samples(url)
        # The dead worker's counts stay in the totals: the series never go back.
        assert total(after, "otelproc_received_items_total", signal="traces") == n
        assert per_worker(after, "traces") == by_worker
        assert total(after, "otelproc_worker_restarts_total", worker="1") == 1
    finally:
        proc.stop()


# --- session health ------------------------------------------------------------------------------

SESSION_YAML = """
receivers:
  otlp:
    grpc: {endpoint: "${env:OTELPROC_RECEIVER_ENDPOINT}"}
connectors:
  session_health:
    store: "${env:SESSION_HEALTH_STORE}"
    store_key_prefix: "${env:SESSION_HEALTH_PREFIX}"
    evaluation_interval_s: 0.25
    reorder_window_s: 0
    api: {endpoint: "127.0.0.1:${env:SESSION_HEALTH_PORT}"}
exporters:
  otlp: {endpoint: "${env:OTELPROC_NEXT_HOP}", compression: gzip}
service:
  server: {workers: 2}
  pipelines:
    logs: {receivers: [otlp], exporters: [otlp, session_health]}
    metrics: {receivers: [otlp, session_health], exporters: [otlp]}
    logs/alerts: {receivers: [session_health], exporters: [otlp]}
  telemetry:
    metrics: {address: "${env:OTELPROC_METRICS_ADDRESS}"}
"""
TOKEN = "workers-admin-token"


def listeners(port: int) -> set[int]:
    """PIDs holding a listening TCP socket on ``port`` (from /proc/net/tcp and each process's fds)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A":  # LISTEN
                    inodes.add(cols[9])
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    pids.add(int(entry.name))
        except OSError:
            continue
    return pids


def get_json(url: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_one_worker_serves_the_session_api_and_it_sees_the_sessions_every_worker_received(
        store, egress, tmp_path, request):
    store_url = "memory" if store == "memory" else request.getfixturevalue("redis_srv").url
    env, port, metrics_port = passthrough_env(egress)
    api_port = free_port()
    env.update(SESSION_HEALTH_STORE=store_url, SESSION_HEALTH_PREFIX=f"workers-{tmp_path.name}",
               SESSION_HEALTH_PORT=str(api_port), SESSION_HEALTH_ADMIN_TOKEN=TOKEN)
    proc = serve(tmp_path, SESSION_YAML, env)
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_for_port(port, proc=proc.popen)
        wait_serving(proc, url)
        pids = worker_pids(proc.pid)
        assert listeners(api_port) == {pids[0]}, "the session-health API is served by worker 0 alone"
        now = time.time()
        sessions = [f"w{i}@s.whatsapp.net" for i in range(40)]
        for sid in sessions:  # each on a connection of its own: both workers get some
            req = logs_request(record("state_change", ts=now, session=sid, tenant="acme"),
                               record("heartbeat", ts=now + 0.001, session=sid, tenant="acme"))
            send_once(port, LOGS_EXPORT, req.SerializeToString())
        by_worker = per_worker(samples(url), "logs")
        assert set(by_worker) == {"0", "1"} and all(v > 0 for v in by_worker.values()), by_worker

        def listed() -> set[str]:
            return {row["sessionId"] for row in get_json(f"http://127.0.0.1:{api_port}/sessions")["sessions"]}

        wait_until(lambda: listed() == set(sessions), 20, "every session in the fleet view")
        one = get_json(f"http://127.0.0.1:{api_port}/sessions/{sessions[-1]}/health")
        assert one["state"] == "connected" and one["connected"] is True, one
        got = samples(url)
        assert total(got, "otelproc_session_health_applied_events_total") == 2 * len(sessions)
        print(f"\n{store} store: {len(sessions)} sessions, log records by worker {by_worker}, "
              f"all in the API of worker 0")
    finally:
        proc.stop()


# --- primary-only exporters ---------------------------------------------------------------------

FILE_YAML = """
receivers:
  otlp:
    grpc: {endpoint: "${env:OTELPROC_RECEIVER_ENDPOINT}"}
exporters:
  file: {path: "${env:SINK_DIR}"}
service:
  server: {workers: 2, drain_timeout_s: 5}
  pipelines:
    traces: {receivers: [otlp], exporters: [file]}
  telemetry:
    metrics: {address: "${env:OTELPROC_METRICS_ADDRESS}"}
"""


def test_the_file_exporter_writes_from_worker_0_alone_what_every_worker_received(tmp_path):
    """One writer per file: worker 1 forwards to worker 0, and SIGTERM still lands what was acknowledged."""
    from tests.support.pipeline import read_sink

    port, metrics_port, sinks = free_port(), free_port(), tmp_path / "sinks"
    env = {"OTELPROC_RECEIVER_ENDPOINT": f"127.0.0.1:{port}", "OTELPROC_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}",
           "SINK_DIR": str(sinks)}
    proc = serve(tmp_path, FILE_YAML, env)
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_for_port(port, proc=proc.popen)
        wait_serving(proc, url)
        pids = worker_pids(proc.pid)
        acked: list[int] = []
        lock = threading.Lock()

        def sender(first: int) -> None:
            for i in range(first, first + 400):
                try:
                    send_once(port, TRACE_EXPORT, span_request(i).SerializeToString())
                except grpc.RpcError:
                    return
                with lock:
                    acked.append(i)

        threads = [threading.Thread(target=sender, args=(k * 400,), daemon=True) for k in range(3)]
        for t in threads:
            t.start()
        wait_until(lambda: len(acked) >= 60, 60, "60 requests acknowledged")
        by_worker = per_worker(samples(url), "traces")
        assert set(by_worker) == {"0", "1"} and all(v > 0 for v in by_worker.values()), by_worker
        writers = {pid for pid in pids.values() if any(
            os.readlink(fd).startswith(str(sinks)) for fd in Path(f"/proc/{pid}/fd").iterdir()
            if os.path.islink(fd))}
        assert writers == {pids[0]}, "only worker 0 holds the sink files open"
        proc.send(signal.SIGTERM)
        code = proc.popen.wait(20)
        for t in threads:
            t.join(30)
        assert code == 0, proc.output()[-3000:]
        ids = span_ids(read_sink(sinks / "traces.jsonl", Signal.TRACES))
        with lock:
            expected = {(i * PER_REQUEST + j + 1).to_bytes(8, "big") for i in acked for j in range(PER_REQUEST)}
        assert expected <= set(ids), f"{len(expected - set(ids))} acknowledged spans missing from the file"
        assert len(ids) == len(set(ids)), "a span written twice"
        print(f"\nfile exporter in worker 0: {len(acked)} requests acknowledged, items by worker {by_worker}, "
              f"{len(ids)} spans in the file, none twice")
    finally:
        proc.stop()


# --- health -----------------------------------------------------------------------------------------


def test_every_worker_answers_the_grpc_health_check_for_itself(egress, tmp_path):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    env, port, metrics_port = passthrough_env(egress)
    proc = serve(tmp_path, with_server(PASSTHROUGH, workers=2), env)
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_for_port(port, proc=proc.popen)
        wait_serving(proc, url)
        answered: dict[str, int] = {}
        for i in range(60):
            if len(answered) == 2:
                break
            before = per_worker(samples(url), "traces")
            with grpc.insecure_channel(f"127.0.0.1:{port}", options=OWN_CONNECTION) as ch:
                status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5).status
                # The export on the same connection tells which worker that is.
                ch.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)(
                    span_request(i).SerializeToString(), timeout=10)
            after = per_worker(samples(url), "traces")
            (worker,) = [w for w in after if after[w] != before.get(w, 0.0)]
            assert status == health_pb2.HealthCheckResponse.SERVING, (worker, status)
            answered[worker] = answered.get(worker, 0) + 1
        assert set(answered) == {"0", "1"}, answered
    finally:
        proc.stop()


# --- connection age ------------------------------------------------------------------------------


def test_max_connection_age_spreads_one_clients_connection_over_the_workers(egress, tmp_path):
    """One channel (as a Collector holds one connection per endpoint) reaches every worker once the
    receiver's max_connection_age rotates its connection: each new connection is handed out afresh."""
    keepalive = ("      keepalive: {server_parameters: {max_connection_age: 300ms, max_connection_age_grace: 1s}}\n")
    anchor = "      endpoint: ${env:OTELPROC_RECEIVER_ENDPOINT:-127.0.0.1:24317}\n"
    assert anchor in PASSTHROUGH
    config = with_server(PASSTHROUGH.replace(anchor, anchor + keepalive), workers=2)
    env, port, metrics_port = passthrough_env(egress)
    proc = serve(tmp_path, config, env)
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        wait_for_port(port, proc=proc.popen)
        wait_serving(proc, url)
        deadline = time.monotonic() + 20
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=OWN_CONNECTION) as ch:
            export = ch.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
            i = 0
            while time.monotonic() < deadline:
                export(span_request(i).SerializeToString(), timeout=10, wait_for_ready=True)
                i += 1
                counts = per_worker(samples(url), "traces")
                if len([w for w, n in counts.items() if n > 0]) == 2:
                    break
                time.sleep(0.1)
        counts = per_worker(samples(url), "traces")
        assert {w for w, n in counts.items() if n > 0} == {"0", "1"}, (counts, i)
    finally:
        proc.stop()
