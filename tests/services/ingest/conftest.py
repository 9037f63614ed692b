"""Fixtures: the ingest app on real Redis and PostgreSQL (a fresh database per
test, a Redis key prefix per test), with in-memory span, log and metric
exporters on its own obs providers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from tests.support.otel import ADMIN, ServiceApp, StartApp, obs_settings

TOKEN = "ingest-token-0123456789abcdef"
HMAC_SECRET = "hmac-secret-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def signed_headers(body: bytes, *, secret: str = HMAC_SECRET, at: datetime | None = None) -> dict[str, str]:
    timestamp = (at or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {**AUTH, "Content-Type": "application/json", "X-Signature": signature,
            "X-Signature-Timestamp": timestamp}


def batch(client_id: str = "collector-1", *texts: str, chat: str = "Deals Group", **fields: Any) -> dict[str, Any]:
    return {"client_id": client_id,
            "messages": [{"chat_title": chat, "text": t, **fields} for t in (texts or ("Pixel 8 128GB - $520",))]}


@dataclass
class Ingest(ServiceApp):
    """A started ingest app, what it exported, and its metrics as a reader sees them."""

    metrics: InMemoryMetricReader

    def post(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        raw = json.dumps(body, separators=(",", ":")).encode()
        return self.client.post("/integrations/whatsapp/ingest", content=raw,
                                headers={"Content-Type": "application/json", **(AUTH if headers is None else headers)})

    def snapshot(self) -> dict[str, Any]:
        response = self.client.get("/metrics/whatsapp", headers=ADMIN)
        assert response.status_code == 200, response.text
        return response.json()

    def totals(self) -> dict[str, int]:
        return self.snapshot()["totals"]

    def otlp_sums(self) -> dict[str, float]:
        """Each OTLP counter's total over its data points, as the metric reader sees it now."""
        sums: dict[str, float] = {}
        data = self.metrics.get_metrics_data()
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    sums[metric.name] = sum(p.value for p in metric.data.data_points if hasattr(p, "value"))
        return sums


MakeIngest = Callable[..., Ingest]


@pytest.fixture
def make_ingest(tmp_path: Any, start_app: StartApp) -> MakeIngest:
    """Build and start an ingest app: ``make_ingest(DATABASE_URL=..., **settings)``."""

    def make(*, obs_overrides: dict[str, Any] | None = None, **overrides: Any) -> Ingest:
        values: dict[str, Any] = {
            "WHATSAPP_INGEST_TOKEN": TOKEN, "WHATSAPP_HMAC_SECRET": None, "REDIS_URL": None, "DATABASE_URL": None,
            "REDIS_KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}:", "WHATSAPP_MEDIA_DIR": tmp_path / "media",
            "ENV": "test",
        }
        values.update(overrides)
        reader = InMemoryMetricReader()
        app = create_app(IngestSettings(**values), obs_settings=obs_settings(**(obs_overrides or {})),
                         metric_readers=[reader])
        return start_app(app, Ingest, metrics=reader)

    return make


@pytest.fixture
def ingest(make_ingest: MakeIngest, pg_url: str, redis_url: str) -> Ingest:
    """The app on the real PostgreSQL and Redis, no HMAC secret."""
    return make_ingest(DATABASE_URL=pg_url, REDIS_URL=redis_url)


@pytest.fixture
def signed_ingest(make_ingest: MakeIngest, pg_url: str, redis_url: str) -> Ingest:
    """The app on the real stores, with an HMAC secret: every request must be signed."""
    return make_ingest(DATABASE_URL=pg_url, REDIS_URL=redis_url, WHATSAPP_HMAC_SECRET=HMAC_SECRET)
