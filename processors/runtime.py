"""One running processor server: the built service, its self-metrics
endpoint, and a graceful drain on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from processors.config import RootConfig
from processors.pipeline import Service, build_service
from processors.receivers.otlp import OtlpReceiver
from processors.registry import Registry

log = logging.getLogger("otelproc")


class Runtime:
    def __init__(self, config: RootConfig, *, registry: Registry | None = None) -> None:
        self.config = config
        self.service: Service = build_service(config, registry=registry)  # raises ConfigError
        self._metrics_runner: web.AppRunner | None = None
        self.metrics_port: int | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await self._start_self_metrics()
        await self.service.start()
        log.info("otelproc: serving pipelines %s", ", ".join(self.service.pipelines))

    async def stop(self) -> None:
        """Drain receivers (in-flight requests finish and are acknowledged), then stop the rest."""
        grace = self.config.service.server.drain_timeout_s
        await asyncio.gather(*(r.drain(grace) for r in self.service.receivers.values() if isinstance(r, OtlpReceiver)))
        await self.service.shutdown()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
            self._metrics_runner = None

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        await self.start()
        await self._stopping.wait()
        log.info("otelproc: draining (up to %ss)", self.config.service.server.drain_timeout_s)
        await self.stop()
        log.info("otelproc: stopped")

    async def _start_self_metrics(self) -> None:
        address = self.config.service.telemetry.metrics.address
        if not address:
            return
        registry = self.service.telemetry.registry

        async def metrics(_: web.Request) -> web.Response:
            return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        self._metrics_runner = web.AppRunner(app, access_log=None)
        await self._metrics_runner.setup()
        host, port = address.rsplit(":", 1)
        site = web.TCPSite(self._metrics_runner, host.strip("[]"), int(port))
        await site.start()
        self.metrics_port = self._metrics_runner.addresses[0][1]
        log.info("otelproc: self-metrics on http://%s/metrics", address)
