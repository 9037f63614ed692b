"""``obs``: observability for FastAPI services (services/obs/README.md).

One call wires a service::

    from services import obs

    app = FastAPI()
    o = obs.init(app, obs.ObsSettings(), service_name="divan-api")   # metrics_prefix defaults to "divan"
    redis = o.use_redis(redis_client)        # traced; readiness: PING < 200 ms; divan_redis_up / _latency_seconds
    engine = o.use_database(engine)          # traced; readiness: SELECT 1 < 300 ms, alembic >= HEALTH_MIN_MIGRATION
    http = o.use_httpx(httpx.AsyncClient())  # traced
    o.meter.create_counter("divan_chat_send_total")
    o.logger.info("sent", extra={"room_kind": "dm"})
    with o.job("lb_snapshot"): ...           # divan_jobs_runs_total{name,result}, divan_jobs_duration_seconds{name}

``init(app, settings=None, *, service_name, metrics_prefix=None)`` does:

- OTel providers for traces, metrics and logs, exporting OTLP gRPC to
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` (nothing leaves the process when unset);
- FastAPI auto-instrumentation (Redis, SQLAlchemy, HTTPX per client via ``use_*``);
- JSON logs with a fixed field set, correlated with trace_id/span_id,
  through the OTel logs bridge; INFO sampled at ``LOG_SAMPLING_RATE_INFO``;
- middleware: X-Request-Id, ``traceparent`` response header,
  ``<prefix>_http_requests_total`` and ``<prefix>_http_request_duration_seconds``;
- ``/health/live``, ``/health/ready``, ``/health/startup``;
- ``/metrics``, ``/ops/rollover``, ``/ops/trace/test`` behind the admin token
  unless ``OBS_METRICS_PUBLIC=true``.

Spans and logs pass the PII policy (``pii``) and ``db.statement``
sanitising (``sanitize``) before any exporter sees them.
"""

from services.obs.context import set_user
from services.obs.core import Obs, default_metrics_prefix, get_obs, init
from services.obs.settings import ObsSettings
from services.obs.sockets import instrument_socketio

__all__ = ["Obs", "ObsSettings", "default_metrics_prefix", "get_obs", "init", "instrument_socketio", "set_user"]
