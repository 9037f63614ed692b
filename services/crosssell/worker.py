"""The cross-sell Celery worker: the Salesforce sync job, on a real Redis broker.

    celery -A services.crosssell.worker_main worker -Q crosssell --concurrency 1

``crosssell.sync_org(org)`` pages through the org's Accounts in Salesforce (a
local stand-in here) and counts them in ``sync_records_processed_total{org}``,
exported as OTLP with ``service.name`` ``crosssell-worker``. The API enqueues
it (``POST /api/v1/sync/{org}``) and reads the queue's length from Redis.
"""

from __future__ import annotations

import functools
from typing import Any

import httpx
from celery import Celery
from celery.signals import worker_process_shutdown

from services.crosssell.settings import CrossSellSettings, get_settings
from services.obs.providers import build_providers

WORKER_NAME = "crosssell-worker"


def make_celery(redis_url: str, queue: str) -> Celery:
    app = Celery("crosssell", broker=redis_url, backend=redis_url)
    app.conf.update(task_default_queue=queue, task_acks_late=True, worker_prefetch_multiplier=1,
                    broker_connection_retry_on_startup=True, result_expires=3600)
    return app


def create_worker(settings: CrossSellSettings | None = None) -> Celery:
    """The worker's Celery app with the sync task registered."""
    settings = settings if settings is not None else get_settings()
    app = make_celery(settings.REDIS_URL, settings.CELERY_QUEUE)

    @functools.cache
    def counter() -> Any:
        providers = build_providers(settings, WORKER_NAME)
        worker_process_shutdown.connect(lambda **_: providers.shutdown(), weak=False)
        meter = providers.meter_provider.get_meter(WORKER_NAME)
        return meter.create_counter("sync_records_processed_total", unit="{record}",
                                    description="Records synced from Salesforce by org")

    @app.task(name="crosssell.sync_org", bind=True, max_retries=3, default_retry_delay=2)
    def sync_org(self: Any, org: str) -> int:
        counted = 0
        try:
            with httpx.Client(base_url=settings.SALESFORCE_URL, timeout=10) as http:
                body = http.get(f"/{org}/services/data/v59.0/query",
                                params={"q": "SELECT Id, Name FROM Account"}).json()
                while True:
                    n = len(body["records"])
                    counter().add(n, {"org": org})
                    counted += n
                    if body.get("done", True):
                        break
                    body = http.get(body["nextRecordsUrl"]).json()
        except httpx.HTTPError as exc:
            raise self.retry(exc=exc) from None
        return counted

    return app
