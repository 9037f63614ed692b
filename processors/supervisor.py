"""``otelproc serve`` with ``service.server.workers`` > 1: the parent process.

It starts N worker processes (``python -m processors.workers``, a fresh
interpreter each: grpc is not fork-safe once it has channels or servers, so
nothing is forked from a process that has any), watches them, restarts one
that dies (after a backoff that doubles while it keeps dying, counted in
``otelproc_worker_restarts_total{worker}``), and on SIGTERM/SIGINT drains
them: each worker finishes and acknowledges its in-flight requests.

Every worker drains at once. Worker 0 keeps taking what the others forward
to it (processors/workers.py) until they have all exited (SIGUSR1 tells it),
within the same ``drain_timeout_s``. A worker that has not exited
``drain_timeout_s`` (plus a margin) after its signal is killed, and the
supervisor then exits 1; it exits 0 when every worker drained and exited 0.

The self-metrics endpoint (``service.telemetry.metrics.address``) is served
here, once, for all workers: prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR`` set in each worker) sums counters and
histograms across workers, those of dead workers included, so totals never go
back; gauges are combined by ``GAUGE_MODES``; the samples of scrape-time
collectors are fetched from each live worker and summed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from processors.config import ConfigError, RootConfig
from processors.workers import Role

if TYPE_CHECKING:
    from processors.pipeline import Service

log = logging.getLogger("otelproc.supervisor")

RESTARTS = "otelproc_worker_restarts"
WORKERS = "otelproc_workers"
# How a gauge's per-worker values combine (prometheus_client's multiprocess modes); unlisted gauges: max.
GAUGE_MODES: dict[str, str] = {
    "otelproc_log_sampling_ratio": "max",  # the ratio in force: the same in every worker
}
DRAIN_MARGIN_S = 5.0  # beyond drain_timeout_s: interpreter and component shutdown after the drain
BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 10.0
STABLE_S = 10.0  # a worker up this long starts its backoff afresh when it dies
START_TIMEOUT_S = 60.0


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen | None = None
    ready_fd: int | None = None
    ready: bool = False
    started_at: float = 0.0
    failures: int = 0  # consecutive deaths
    restart_at: float | None = None


def ephemeral_listeners(service: Service) -> list[str]:
    """Key paths of receiver endpoints on port 0: each worker would get a port of its own there."""
    from processors.receivers.otlp import OtlpReceiver

    paths = []
    for rid, receiver in service.receivers.items():
        if isinstance(receiver, OtlpReceiver):
            for proto in ("grpc", "http"):
                cfg = getattr(receiver.config, proto)
                if cfg is not None and cfg.endpoint.rsplit(":", 1)[-1] == "0":
                    paths.append(f"receivers.{rid}.{proto}.endpoint")
    return paths


def worker_count(config: RootConfig, service: Service) -> int:
    """``service.server.workers``; unset, the CPU count, or 1 when a receiver listens on port 0 (tests, tools).
    Set explicitly above 1 with a port 0 listener, a ConfigError naming that endpoint."""
    count = config.service.server.worker_count()
    ephemeral = ephemeral_listeners(service) if count > 1 else []
    if ephemeral and config.service.server.workers is None:
        return 1
    if ephemeral:
        raise ConfigError(ephemeral[0], f"port 0 would give each of the {count} workers (service.server.workers) "
                                        "a port of its own; name a port, or set service.server.workers: 1")
    return count


class Supervisor:
    def __init__(self, config: RootConfig, config_text: str, *, count: int, log_level: str = "INFO") -> None:
        self.config = config
        self.config_text = config_text
        self.count = count
        self.log_level = log_level
        self.rundir = Path(tempfile.mkdtemp(prefix="otelproc-"))  # mode 0700
        self.multiproc_dir = self.rundir / "metrics"
        self.multiproc_dir.mkdir()
        self.workers = [Worker(i) for i in range(count)]
        self.registry = CollectorRegistry()
        self._restarts = Counter(RESTARTS, "Worker processes restarted after they died", ["worker"],
                                 registry=self.registry)
        self._running = Gauge(WORKERS, "Worker processes, by state", ["state"], registry=self.registry)
        for w in self.workers:
            self._restarts.labels(str(w.index))
        self._stopping = asyncio.Event()
        self._metrics_runner: web.AppRunner | None = None
        self.metrics_port: int | None = None

    # --- processes ---------------------------------------------------------

    def _spawn(self, w: Worker) -> None:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(self.multiproc_dir)}
        argv = [sys.executable, "-m", "processors.workers", "--index", str(w.index), "--count", str(self.count),
                "--rundir", str(self.rundir), "--ready-fd", str(write_fd), "--parent", str(os.getpid()),
                "--log-level", self.log_level]
        try:
            w.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env, pass_fds=(write_fd,))
        finally:
            os.close(write_fd)
        w.proc.stdin.write(self.config_text.encode())
        w.proc.stdin.close()
        w.ready_fd, w.ready, w.started_at, w.restart_at = read_fd, False, time.monotonic(), None
        log.info("worker %d started (pid %d)", w.index, w.proc.pid)

    def _check_ready(self, w: Worker) -> None:
        if w.ready or w.ready_fd is None:
            return
        try:
            got = os.read(w.ready_fd, 1)
        except BlockingIOError:
            return
        if got:
            w.ready = True
        os.close(w.ready_fd)
        w.ready_fd = None

    async def _start(self, w: Worker) -> int | None:
        """Start a worker and wait until it serves; its exit code if it died first."""
        self._spawn(w)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not w.ready:
            self._check_ready(w)
            if w.proc.poll() is not None and not w.ready:
                return w.proc.returncode or 1
            if time.monotonic() > deadline or self._stopping.is_set():
                return None if self._stopping.is_set() else 1
            await asyncio.sleep(0.02)
        return None

    def _reap(self, w: Worker) -> None:
        """A worker died unasked: count it and schedule its restart."""
        code = w.proc.returncode
        with contextlib.suppress(OSError):
            mark_process_dead(w.proc.pid, str(self.multiproc_dir))
        if w.ready_fd is not None:
            os.close(w.ready_fd)
            w.ready_fd = None
        if time.monotonic() - w.started_at >= STABLE_S:
            w.failures = 0
        w.failures += 1
        delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (w.failures - 1))
        w.restart_at = time.monotonic() + delay
        w.proc = None
        self._restarts.labels(str(w.index)).inc()
        log.warning("worker %d exited with %s; restarting in %.1fs", w.index, code, delay)

    async def _watch(self) -> None:
        while not self._stopping.is_set():
            now = time.monotonic()
            for w in self.workers:
                if w.proc is not None:
                    self._check_ready(w)
                    if w.proc.poll() is not None:
                        self._reap(w)
                elif w.restart_at is not None and now >= w.restart_at:
                    self._spawn(w)
            self._running.labels("running").set(sum(1 for w in self.workers if w.proc is not None and w.ready))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 0.05)

    async def _drain(self, group: list[Worker]) -> bool:
        """SIGTERM ``group`` and wait for each to exit; False if one had to be killed or exited non-zero.

        A worker still starting is signalled once it serves: before that its interpreter would just die.
        """
        grace = self.config.service.server.drain_timeout_s + DRAIN_MARGIN_S
        started = time.monotonic()
        deadlines: dict[int, float] = {}
        ok = True
        told_primary = False
        while True:
            now = time.monotonic()
            waiting = False
            primary = self.workers[0]
            others_gone = all(w.proc is None or w.proc.poll() is not None for w in self.workers[1:])
            if (not told_primary and others_gone and primary.index in deadlines and primary.proc is not None
                    and primary.proc.poll() is None):
                with contextlib.suppress(ProcessLookupError):
                    primary.proc.send_signal(signal.SIGUSR1)  # nothing more will be forwarded to it
                told_primary = True
            for w in group:
                if w.proc is None or w.proc.poll() is not None:
                    continue
                self._check_ready(w)
                if w.index not in deadlines and (w.ready or now - started > START_TIMEOUT_S):
                    with contextlib.suppress(ProcessLookupError):
                        w.proc.send_signal(signal.SIGTERM)
                    deadlines[w.index] = now + grace
                if w.index in deadlines and now > deadlines[w.index]:
                    log.error("worker %d did not drain within %.0fs; killed", w.index, grace)
                    w.proc.kill()
                    w.proc.wait()
                    ok = False
                    continue
                waiting = True
            if not waiting:
                break
            await asyncio.sleep(0.02)
        for w in group:
            if w.proc is not None and w.proc.returncode != 0:
                log.error("worker %d exited with %d while draining", w.index, w.proc.returncode)
                ok = False
        return ok

    # --- lifecycle ---------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        try:
            await self._start_self_metrics()
            # Worker 0 first: the others forward to it.
            for w in self.workers:
                code = await self._start(w)
                if code is not None:
                    if w.proc.poll() is None:  # it never said it serves
                        w.proc.kill()
                        w.proc.wait()
                    log.error("worker %d exited with %d on start; stopping", w.index, code)
                    await self._drain([other for other in self.workers if other is not w])
                    return code
                if self._stopping.is_set():
                    break
            log.info("otelproc: %d workers serving", self.count)
            await self._watch()
            log.info("otelproc: draining %d workers (up to %ss)", self.count,
                     self.config.service.server.drain_timeout_s)
            ok = await self._drain(self.workers)
            log.info("otelproc: stopped")
            return 0 if ok else 1
        finally:
            for w in self.workers:
                if w.ready_fd is not None:
                    os.close(w.ready_fd)
            if self._metrics_runner is not None:
                await self._metrics_runner.cleanup()
            shutil.rmtree(self.rundir, ignore_errors=True)

    # --- self-metrics ------------------------------------------------------

    async def _start_self_metrics(self) -> None:
        address = self.config.service.telemetry.metrics.address
        if not address:
            return
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._metrics_runner = web.AppRunner(app, access_log=None)
        await self._metrics_runner.setup()
        host, port = address.rsplit(":", 1)
        await web.TCPSite(self._metrics_runner, host.strip("[]"), int(port)).start()
        self.metrics_port = self._metrics_runner.addresses[0][1]
        log.info("otelproc: self-metrics of %d workers on http://%s/metrics", self.count, address)

    async def _metrics(self, _: web.Request) -> web.Response:
        texts = await asyncio.gather(*(self._scrape_worker(w) for w in self.workers))
        families = [*collapse_gauges(MultiProcessCollector(None, str(self.multiproc_dir)).collect()),
                    *merge_families(t for t in texts if t), *self.registry.collect()]
        return web.Response(body=generate_latest(_Static(families)), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _scrape_worker(self, w: Worker) -> str | None:
        if w.proc is None or not w.ready:
            return None
        path = Role(w.index, self.count, self.rundir).metrics_socket()
        try:
            async with (aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path))) as session,
                        session.get("http://worker/metrics", timeout=aiohttp.ClientTimeout(total=2)) as r):
                return await r.text()
        except (TimeoutError, aiohttp.ClientError, OSError):
            return None  # dying or restarting: its scrape-time samples are gone with it


class _Static:
    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def collapse_gauges(families: Iterable[Metric]) -> Iterator[Metric]:
    """Multiprocess gauges in mode ``all`` carry a ``pid`` label per worker: combine them by ``GAUGE_MODES``
    so the label set is the same as with one process."""
    for family in families:
        if family.type != "gauge" or not any("pid" in s.labels for s in family.samples):
            yield family
            continue
        mode = GAUGE_MODES.get(family.name, "max")
        combined: dict[tuple, list[float]] = defaultdict(list)
        for s in family.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "pid"))
            combined[(s.name, labels)].append(s.value)
        family.samples = [Sample(name, dict(labels), _combine(mode, values)) for (name, labels), values
                          in sorted(combined.items())]
        yield family


def _combine(mode: str, values: list[float]) -> float:
    if mode == "sum":
        return sum(values)
    if mode == "min":
        return min(values)
    return max(values)


def merge_families(texts: Iterable[str]) -> Iterator[Metric]:
    """The exposition texts of several workers as one: samples with the same name and labels summed."""
    merged: dict[str, object] = {}
    values: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
    for text in texts:
        for family in text_string_to_metric_families(text):
            merged.setdefault(family.name, family)
            for s in family.samples:
                values[family.name][(s.name, tuple(sorted(s.labels.items())))] += s.value
    for name, family in merged.items():
        family.samples = [Sample(sname, dict(labels), v) for (sname, labels), v in values[name].items()]
        yield family
