"""The WhatsApp ingest service: ``create_app(settings=None)``.

Wiring only: settings, obs, backing stores, the domain objects and the
routers. Migrations run at startup (lifespan), so a fresh database works.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from opentelemetry.sdk.metrics.export import MetricReader

from services import obs
from services.common import faults, stores
from services.common.docs import docs_routes
from services.ingest import db
from services.ingest.collectors import CollectorFleet
from services.ingest.dedupe import DedupeSet
from services.ingest.deps import IngestContext
from services.ingest.ingestion import Ingestor
from services.ingest.media import FileStorage, MediaUploads
from services.ingest.ratelimit import SlidingWindowLimiter
from services.ingest.replay import SeenSignatures
from services.ingest.routers import diagnostics, ingest, media, metrics
from services.ingest.settings import IngestSettings, get_settings
from services.ingest.store import IngestStore
from services.ingest.telemetry import IngestMetrics
from services.obs.ops import admin_guard

METRICS_PREFIX = "whatsapp_ingest"
# The service's GET /metrics is JSON; obs's Prometheus view of this app moves here.
PROMETHEUS_VIEW = "/metrics/prometheus"


def _obs_settings(given: obs.ObsSettings | None) -> obs.ObsSettings:
    base = given if given is not None else obs.ObsSettings()
    if base.OBS_METRICS_PATH == "/metrics":
        base = base.model_copy(update={"OBS_METRICS_PATH": PROMETHEUS_VIEW})
    return base


def create_app(settings: IngestSettings | None = None, *, obs_settings: obs.ObsSettings | None = None,
               metric_readers: Sequence[MetricReader] = ()) -> FastAPI:
    settings = settings if settings is not None else get_settings()
    redis_client = stores.redis_client(settings.REDIS_URL)
    stores.require_redis(redis_client, settings.REDIS_URL, service=settings.SERVICE_NAME)
    engine = db.make_engine(settings.DATABASE_URL)
    media_dir = settings.WHATSAPP_MEDIA_DIR
    owned_media_dir = media_dir is None
    if media_dir is None:
        media_dir = Path(tempfile.mkdtemp(prefix="ingest-media-"))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(db.MIGRATIONS.upgrade, engine)
        try:
            yield
        finally:
            redis_client.close()
            stores.dispose_engine(engine)
            if owned_media_dir:
                import shutil

                shutil.rmtree(media_dir, ignore_errors=True)

    app = FastAPI(title="WhatsApp ingest", lifespan=lifespan, **docs_routes(settings))
    for module in (ingest, media, metrics, diagnostics):
        app.include_router(module.router)
    faults.install(app)  # test-only, off by default; inside obs, so its metrics see the faults

    o = obs.init(app, _obs_settings(obs_settings), service_name=settings.SERVICE_NAME, metrics_prefix=METRICS_PREFIX,
                 extra_metric_readers=metric_readers)
    o.use_redis(redis_client)
    o.use_database(engine, migrations=False)
    o.add_readiness_check("migrations", db.MIGRATIONS.readiness_check(engine, db.HEAD))
    log = o.get_logger("ingest")

    store = IngestStore(engine)
    ingest_metrics = IngestMetrics(o.meter)
    app.state.ingest = IngestContext(
        settings=settings,
        metrics=ingest_metrics,
        store=store,
        ingestor=Ingestor(store, DedupeSet(redis_client, prefix=settings.REDIS_KEY_PREFIX, ttl_s=settings.DEDUPE_TTL_S),
                          ingest_metrics, log=log),
        media=MediaUploads(store, FileStorage(media_dir), ingest_metrics, max_bytes=settings.WHATSAPP_MEDIA_MAX_BYTES,
                           log=log),
        limiter=SlidingWindowLimiter(redis_client, prefix=settings.REDIS_KEY_PREFIX,
                                     limit=settings.WHATSAPP_INGEST_RATE_LIMIT_PER_MINUTE),
        signatures=SeenSignatures(redis_client, prefix=settings.REDIS_KEY_PREFIX,
                                  max_age_s=settings.WHATSAPP_SIGNATURE_MAX_AGE_S),
        log=log,
        admin_guard=admin_guard(o.settings),
        collectors=CollectorFleet(o.meter, max_clients=settings.WHATSAPP_COLLECTOR_MAX_CLIENTS,
                                  ttl_s=settings.WHATSAPP_COLLECTOR_TTL_S),
        version=o.settings.COMMIT,
    )
    return app
