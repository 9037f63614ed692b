"""crosssell-api, the cross-sell recommendation API: ``create_app(settings=None)``.

At start-up it generates ``CROSSSELL_ACCOUNTS`` accounts, trains the model on
them (``model``) and scores every account, which sets the coverage and
high-confidence gauges. Routes:

- ``GET /api/v1/accounts``: account ids (``limit``, ``offset``);
- ``GET /api/v1/accounts/{account_id}/recommendations``: the products the
  account does not own, best first, with their confidence (404 for an unknown
  account); one timed prediction each;
- ``POST /api/v1/sync/{org}``: enqueue the Salesforce sync of an org on the
  Celery queue (202 with the task id; 503 when the broker is unreachable);
- ``GET /health``: the model and Redis; ``/health/live``, ``/health/ready``
  (Redis PING) from the obs SDK.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import redis
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import JSONResponse
from opentelemetry.sdk.metrics.export import MetricReader

from services import obs
from services.common.docs import docs_routes
from services.crosssell.metrics import CrossSellMetrics, RequestMetricsMiddleware
from services.crosssell.model import Recommender, generate
from services.crosssell.settings import CrossSellSettings, get_settings
from services.crosssell.worker import make_celery

SERVICE_NAME = "crosssell-api"


def create_app(settings: CrossSellSettings | None = None, *,
               extra_metric_readers: Sequence[MetricReader] = ()) -> FastAPI:
    settings = settings if settings is not None else get_settings()
    app = FastAPI(title=SERVICE_NAME, **docs_routes(settings))
    o = obs.init(app, settings, service_name=SERVICE_NAME, metrics_prefix="crosssell",
                 extra_metric_readers=extra_metric_readers)
    r = o.use_redis(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1))
    celery = make_celery(settings.REDIS_URL, settings.CELERY_QUEUE)
    celery.conf.broker_connection_timeout = 1

    started = time.perf_counter()
    recommender = Recommender(generate(settings.CROSSSELL_ACCOUNTS, settings.CROSSSELL_SEED))
    trained_s = time.perf_counter() - started
    metrics = CrossSellMetrics(o.meter, recommender.score_all(), high=settings.CROSSSELL_HIGH_CONFIDENCE,
                               low=settings.CROSSSELL_MIN_CONFIDENCE,
                               queue_length=lambda: {settings.CELERY_QUEUE: int(r.llen(settings.CELERY_QUEUE))})
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    log = o.get_logger("api")
    log.info("model trained", extra={"accounts": settings.CROSSSELL_ACCOUNTS,
                                     "train_accuracy": round(recommender.train_accuracy, 3)})

    @app.get("/api/v1/accounts")
    async def accounts(limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)) -> dict[str, Any]:
        ids = recommender.accounts.ids
        return {"total": len(ids), "accounts": ids[offset:offset + limit]}

    @app.get("/api/v1/accounts/{account_id}/recommendations")
    async def recommendations(account_id: str) -> dict[str, Any]:
        if account_id not in recommender.index:
            raise HTTPException(404, "unknown account")
        t0 = time.perf_counter()
        ranked = recommender.recommend(account_id)
        metrics.inference.record(time.perf_counter() - t0)
        best = ranked[0][1] if ranked else 0.0
        metrics.scored(recommender.index[account_id], best)
        shown = [(p, c) for p, c in ranked if c >= settings.CROSSSELL_MIN_CONFIDENCE]
        for product, _ in shown:
            metrics.recommendations.add(1, {"product": product})
        return {"account_id": account_id,
                "recommendations": [{"product": p, "confidence": round(c, 4),
                                     "high_confidence": c >= settings.CROSSSELL_HIGH_CONFIDENCE} for p, c in shown]}

    @app.post("/api/v1/sync/{org}", status_code=202)
    async def sync(org: str) -> dict[str, str]:
        if org not in settings.CROSSSELL_ORGS:
            raise HTTPException(404, "unknown org")
        try:
            # A PING first: kombu's publish waits out a broker outage by reconnecting, the caller should not.
            await asyncio.to_thread(r.ping)
            result = await asyncio.wait_for(asyncio.to_thread(
                celery.send_task, "crosssell.sync_org", args=[org], queue=settings.CELERY_QUEUE, retry=False), 5)
        except Exception as exc:  # noqa: BLE001 - the broker is unreachable: say so, never its URL
            log.warning("sync not enqueued", extra={"org": org, "error": type(exc).__name__})
            raise HTTPException(503, "task broker unavailable") from None
        return {"task_id": result.id, "org": org}

    @app.get("/health")
    async def health() -> JSONResponse:
        ok, body = await o.check_ready()
        body.update(model={"accounts": settings.CROSSSELL_ACCOUNTS, "train_seconds": round(trained_s, 3),
                           "train_accuracy": round(recommender.train_accuracy, 3)})
        return JSONResponse(body, status_code=200 if ok else 503)

    app.state.recommender = recommender
    return app
