"""One running processor server: the built service, its self-metrics
endpoint, and a graceful drain on SIGTERM/SIGINT.

As one of several worker processes (``role``, see processors/workers.py) it
builds forwarders for the primary-only components unless it is the primary,
the primary also serves the forwarded requests on a Unix socket, and the
self-metrics go to the supervisor instead of a TCP endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import grpc
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric

from processors import interpreter
from processors.config import RootConfig, component_type
from processors.pipeline import Service, build_service
from processors.registry import Registry
from processors.telemetry import SelfRegistry, SelfTelemetry

if TYPE_CHECKING:
    from processors.workers import Role

log = logging.getLogger("otelproc")


class _Families:
    """The samples of some collectors, as one collector (``generate_latest`` takes anything with ``collect``)."""

    def __init__(self, collectors: list) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


class Runtime:
    def __init__(self, config: RootConfig, *, registry: Registry | None = None, role: Role | None = None,
                 service: Service | None = None) -> None:
        """``service``: the config's, built already (a single process); else built here."""
        self.config = config
        self.role = role
        telemetry = None
        if role is not None:
            from processors.workers import worker_registry

            registry = worker_registry(role, registry)
            telemetry = SelfTelemetry(worker=str(role.index))
        if service is None:
            service = build_service(config, registry=registry, telemetry=telemetry)  # raises ConfigError
        self.service: Service = service
        self._metrics_runner: web.AppRunner | None = None
        self._forward_server: grpc.aio.Server | None = None
        self.metrics_port: int | None = None
        self._stopping = asyncio.Event()
        # Set (SIGUSR1 from the supervisor) once every other worker has exited: nothing more will be forwarded.
        self.others_stopped = asyncio.Event()

    async def start(self) -> None:
        await self._start_self_metrics()
        await self.service.start()
        if self.role is not None and self.role.primary and self.role.count > 1:
            await self._start_forward_server()
        log.info("otelproc: serving pipelines %s", ", ".join(self.service.pipelines))

    async def stop(self) -> None:
        """Drain receivers (in-flight requests finish and are acknowledged), then stop the rest."""
        grace = self.config.service.server.drain_timeout_s
        deadline = asyncio.get_running_loop().time() + grace
        await asyncio.gather(*(r.drain(grace) for r in self.service.receivers.values()))
        if self._forward_server is not None:
            # The other workers drain meanwhile and may still forward what they had in flight: serve it
            # until they have all exited, within the same drain timeout.
            remaining = deadline - asyncio.get_running_loop().time()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.others_stopped.wait(), max(0.0, remaining))
            await self._forward_server.stop(1.0)
            self._forward_server = None
        await self.service.shutdown()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
            self._metrics_runner = None

    async def run_until_signalled(self, on_ready: Callable[[], None] | None = None,
                                  stop_requested: Callable[[], bool] | None = None) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        if self.role is not None:
            loop.add_signal_handler(signal.SIGUSR1, self.others_stopped.set)
        if stop_requested is not None and stop_requested():  # signalled before the handlers above
            self._stopping.set()
        await self.start()
        interpreter.tune_for_serving()  # this process serves until it exits: cli serve, or one worker
        if on_ready is not None:
            on_ready()
        await self._stopping.wait()
        log.info("otelproc: draining (up to %ss)", self.config.service.server.drain_timeout_s)
        await self.stop()
        log.info("otelproc: stopped")
        return 0

    async def _start_forward_server(self) -> None:
        from processors.workers import SINGLETONS, build_forward_server

        types = {t for kind_types in SINGLETONS.values() for t in kind_types}
        targets = {cid: comp for cid, comp in {**self.service.exporters, **self.service.connectors}.items()
                   if component_type(cid) in types}
        self._forward_server = build_forward_server(self.role.forward_socket, targets, self.service.offload)
        await self._forward_server.start()

    async def _start_self_metrics(self) -> None:
        registry = self.service.telemetry.registry
        if self.role is not None:
            # Counters, gauges and histograms reach the supervisor through the multiprocess files; only the
            # scrape-time collectors are served, on a socket of the supervisor's run directory.
            custom = registry.custom if isinstance(registry, SelfRegistry) else []
            await self._serve_metrics(_Families(custom), unix=str(self.role.metrics_socket()))
            return
        address = self.config.service.telemetry.metrics.address
        if not address:
            return
        host, port = address.rsplit(":", 1)
        await self._serve_metrics(registry, host=host.strip("[]"), port=int(port))
        self.metrics_port = self._metrics_runner.addresses[0][1]
        log.info("otelproc: self-metrics on http://%s/metrics", address)

    async def _serve_metrics(self, registry: CollectorRegistry | _Families, *, host: str | None = None,
                             port: int | None = None, unix: str | None = None) -> None:
        async def metrics(_: web.Request) -> web.Response:
            return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        self._metrics_runner = web.AppRunner(app, access_log=None)
        await self._metrics_runner.setup()
        site = web.UnixSite(self._metrics_runner, unix) if unix else web.TCPSite(self._metrics_runner, host, port)
        await site.start()
