"""``Obs``: what ``obs.init`` hands back, and the wiring ``init`` does."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI
from opentelemetry.metrics import Meter
from opentelemetry.sdk._logs.export import LogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Tracer

from services.obs import context, instrument
from services.obs.export import SanitizingSpanExporter
from services.obs.health import (
    Check,
    Probe,
    Readiness,
    Startup,
    StartupCheck,
    add_health_routes,
    database_check_name,
    migration_probe,
    redis_probe,
    sql_probe,
)
from services.obs.logging import setup_logger
from services.obs.metrics import JobMetrics, ProbeMetrics, RequestMetrics
from services.obs.middleware import ObsMiddleware
from services.obs.ops import RolloverHook, add_ops_routes
from services.obs.providers import Providers, build_providers
from services.obs.settings import ObsSettings

_MIN_ADMIN_TOKEN_LEN = 16
# At app shutdown, buffered telemetry gets this long to leave; a dead collector must not hold the process.
_SHUTDOWN_FLUSH_MS = 2_000


def default_metrics_prefix(service_name: str) -> str:
    """``divan-api`` -> ``divan``: the first word of the service name, as a Prometheus-safe token."""
    head = re.split(r"[-.\s]", service_name.strip().lower(), maxsplit=1)[0]
    return re.sub(r"[^a-z0-9_]", "_", head) or "app"


class Obs:
    """Observability of one FastAPI app: providers, instruments, checks.

    Attributes: ``settings``, ``service_name``, ``metrics_prefix``, ``meter``,
    ``tracer``, ``logger``, ``tracer_provider``, ``meter_provider``,
    ``logger_provider``, ``prometheus_registry``, ``request_metrics``, ``jobs``.
    """

    def __init__(self, settings: ObsSettings, service_name: str, metrics_prefix: str, providers: Providers) -> None:
        self.settings = settings
        self.service_name = service_name
        self.metrics_prefix = metrics_prefix
        self.providers = providers
        self.tracer_provider = providers.tracer_provider
        self.meter_provider = providers.meter_provider
        self.logger_provider = providers.logger_provider
        self.prometheus_registry = providers.prometheus_registry
        self.meter: Meter = self.meter_provider.get_meter(service_name)
        self.tracer: Tracer = self.tracer_provider.get_tracer(service_name)
        self.logger, self._log_handler = setup_logger(settings, service_name, self.logger_provider)
        self.request_metrics = RequestMetrics(self.meter, metrics_prefix)
        self.jobs = JobMetrics(self.meter, metrics_prefix)
        self.readiness = Readiness(ProbeMetrics(self.meter, metrics_prefix))
        self.startup = Startup()
        self.startup.add("config", self._config_problem)
        self.rollover_hooks: dict[str, RolloverHook] = {}
        self._probe_task: asyncio.Task[None] | None = None
        # The /health/* , /metrics and /ops/* app (set by init), served ahead of the app's own routes.
        self.endpoints: FastAPI | None = None
        self._shut = False

    # --- logging and request context -----------------------------------------
    def get_logger(self, name: str) -> logging.Logger:
        """A child of the service logger: same JSON output, sampling, PII policy and OTel bridge."""
        return self.logger.getChild(name)

    @staticmethod
    def set_user(user_id: str | int | None) -> None:
        """Tag the current request's logs and span with the user id (an opaque id, never an email)."""
        context.set_user(user_id)

    # --- dependencies: instrumentation plus readiness --------------------------
    def use_redis(self, client: Any, *, readiness: bool = True, name: str = "redis") -> Any:
        """Trace ``client`` (sync or asyncio, redis-py or fakeredis); readiness: PING within the Redis budget."""
        instrument.instrument_redis(client, self.tracer_provider, self.settings.OBS_INSTRUMENTATION)
        if readiness:
            self.add_readiness_check(name, redis_probe(client), budget_ms=self.settings.HEALTH_REDIS_BUDGET_MS,
                                     metered=True)
        return client

    def use_database(self, engine: Any, *, readiness: bool = True, migrations: bool = True,
                     min_migration: str | None = None) -> Any:
        """Trace ``engine`` (sync or async); readiness: ``SELECT 1`` within budget, Alembic revision >= minimum."""
        instrument.instrument_sqlalchemy(engine, self.tracer_provider, mode=self.settings.OBS_INSTRUMENTATION)
        if readiness:
            self.add_readiness_check(database_check_name(engine), sql_probe(engine),
                                     budget_ms=self.settings.HEALTH_POSTGRES_BUDGET_MS, metered=True)
        if migrations:
            self.add_readiness_check(
                "migrations", migration_probe(engine, min_migration or self.settings.HEALTH_MIN_MIGRATION),
            )
        return engine

    def use_httpx(self, client: Any) -> Any:
        """Trace outgoing requests of an ``httpx.Client`` or ``AsyncClient``."""
        return instrument.instrument_httpx(client, self.tracer_provider, self.meter_provider)

    def add_readiness_check(self, name: str, probe: Probe, *, budget_ms: float | None = None,
                            metered: bool = False) -> None:
        """A readiness probe: sync or async callable returning None or extra JSON fields (``ok`` False fails).

        ``metered``: also emit ``<prefix>_<name>_up`` and ``<prefix>_<name>_latency_seconds``.
        """
        self.readiness.add(Check(name, probe, budget_ms, metered))

    def add_startup_check(self, name: str, check: StartupCheck) -> None:
        """A boot check for ``/health/startup``: returns None when fine, else the problem (never a secret)."""
        self.startup.add(name, check)

    async def check_ready(self) -> tuple[bool, dict[str, Any]]:
        return await self.readiness.run()

    # --- jobs -----------------------------------------------------------------
    def job(self, name: str) -> contextlib.AbstractContextManager[None]:
        """``with obs.job("lb_snapshot"):`` counts ``<prefix>_jobs_runs_total`` and times ``_jobs_duration_seconds``."""
        return self.jobs.run(name)

    def add_rollover_hook(self, name: str, hook: RolloverHook) -> None:
        """A job ``POST /ops/rollover`` runs (sync or async); its return value is echoed in the reply."""
        self.rollover_hooks[name] = hook

    async def _run_hook(self, name: str, hook: RolloverHook) -> Any:
        with self.job(name), self.tracer.start_as_current_span(f"job {name}", attributes={"job.name": name}):
            result = hook()
            return await result if inspect.isawaitable(result) else result

    # --- test and extension hooks ----------------------------------------------
    def add_span_exporter(self, exporter: SpanExporter) -> None:
        """Export spans synchronously to ``exporter`` too (e.g. ``InMemorySpanExporter``), sanitised like OTLP."""
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(SanitizingSpanExporter(exporter)))

    def add_log_exporter(self, exporter: LogRecordExporter) -> None:
        """Export log records synchronously to ``exporter`` too, after the sanitising processor."""
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))

    # --- lifecycle --------------------------------------------------------------
    def _config_problem(self) -> str | None:
        s = self.settings
        strict = s.ENV in ("staging", "prod")
        if strict and s.enabled and s.OBS_TRACING_ENABLED and not s.OTEL_EXPORTER_OTLP_ENDPOINT:
            return "OTEL_EXPORTER_OTLP_ENDPOINT is required when tracing is enabled"
        token = s.OBS_ADMIN_TOKEN.get_secret_value() if s.OBS_ADMIN_TOKEN else ""
        if strict and not s.OBS_METRICS_PUBLIC and len(token) < _MIN_ADMIN_TOKEN_LEN:
            return f"OBS_ADMIN_TOKEN must be at least {_MIN_ADMIN_TOKEN_LEN} characters"
        return None

    async def _probe_loop(self) -> None:
        # Keeps the *_up gauges current between readiness calls.
        interval = self.settings.HEALTH_PROBE_INTERVAL_SECONDS
        while True:
            if self.readiness.checks:
                await self.readiness.run()
            await asyncio.sleep(interval)

    def start(self) -> None:
        if self._probe_task is None and self.settings.HEALTH_PROBE_INTERVAL_SECONDS > 0:
            self._probe_task = asyncio.get_running_loop().create_task(self._probe_loop())

    async def stop(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
            self._probe_task = None

    def force_flush(self, timeout_millis: int = 5_000) -> None:
        self.providers.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush and stop exporting; the app keeps serving with telemetry off. Idempotent."""
        if self._shut:
            return
        self._shut = True
        self.logger.removeHandler(self._log_handler)
        self.providers.shutdown()


def _wrap_lifespan(app: FastAPI, obs: Obs) -> None:
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        obs.start()
        try:
            async with inner(a) as state:
                yield state
        finally:
            await obs.stop()
            obs.force_flush(_SHUTDOWN_FLUSH_MS)

    app.router.lifespan_context = lifespan


def init(app: FastAPI, settings: ObsSettings | None = None, *, service_name: str, metrics_prefix: str | None = None,
         extra_metric_readers: Sequence[MetricReader] = ()) -> Obs:
    """Wire observability into ``app`` and return its ``Obs``; see the package docstring."""
    if getattr(app.state, "obs", None) is not None:
        raise RuntimeError("obs.init was already called on this app")
    settings = settings if settings is not None else ObsSettings()
    if settings.enabled and settings.OBS_INSTRUMENTATION == "lean":
        instrument.check_lean_supported()
    prefix = metrics_prefix or default_metrics_prefix(service_name)
    providers = build_providers(settings, service_name, extra_metric_readers=extra_metric_readers)
    obs = Obs(settings, service_name, prefix, providers)
    untraced = (*instrument.UNTRACED_PATHS, settings.OBS_METRICS_PATH)
    lean = settings.OBS_INSTRUMENTATION == "lean"
    instrument.turn_off_native_telemetry(app)
    if settings.enabled and not lean:
        instrument.instrument_fastapi(app, obs.tracer_provider, untraced,
                                      message_spans=settings.OBS_HTTP_MESSAGE_SPANS)
    # The health and admin endpoints live in an app of their own, which the middleware calls on an
    # exact path match: on the app's router they would be routes every other request is matched against.
    endpoints = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    instrument.turn_off_native_telemetry(endpoints)
    add_health_routes(endpoints.router, obs.readiness, obs.startup)
    add_ops_routes(endpoints.router, settings, obs.prometheus_registry, obs.tracer, obs.rollover_hooks,
                   obs._run_hook)
    lean_tracer = instrument.lean_tracer(obs.tracer_provider, "fastapi") if settings.enabled and lean else None
    app.add_middleware(ObsMiddleware, metrics=obs.request_metrics, logger=obs.logger, tracer=lean_tracer,
                       # The excluded-URLs variable, when set, decides alone (as in the upstream mode).
                       untraced_paths=frozenset(() if instrument.excluded_urls_from_env() else untraced),
                       log_sampler=obs._log_handler.sampler,
                       endpoints=endpoints)
    obs.endpoints = endpoints
    _wrap_lifespan(app, obs)
    app.state.obs = obs
    return obs


def get_obs(app: FastAPI) -> Obs:
    """The ``Obs`` that ``init`` attached to ``app``."""
    obs = getattr(app.state, "obs", None)
    if obs is None:
        raise LookupError("obs.init has not been called on this app")
    return obs


