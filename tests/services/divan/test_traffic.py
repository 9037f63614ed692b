"""The traffic driver reaches every route with the expected outcome and every domain metric moves."""

from __future__ import annotations

from services.divan.metrics import SEED_METRICS
from services.divan.traffic import drive_http
from tests.services.divan.conftest import ADMIN_TOKEN, Divan

# Metrics the HTTP driver cannot move: they come from Socket.IO (test_sockets.py) or a real PostgreSQL.
NOT_FROM_HTTP = {"divan_socketio_clients", "divan_socketio_events_total", "divan_postgres_up",
                 "divan_postgres_latency_seconds"}


def test_one_round_moves_every_http_metric(divan: Divan) -> None:
    seen = drive_http(divan.client, divan.state.settings.JWT_SECRET, admin_token=ADMIN_TOKEN, rounds=2)
    failures = {k: n for k, n in seen.items() if not k.endswith((" 200", " 201", " 202"))}
    assert failures == {"POST /presence/heartbeat 422": 2}  # the driver's deliberate unknown campus
    assert set(SEED_METRICS) - NOT_FROM_HTTP <= divan.cap.metric_names()
    assert divan.cap.total("divan_chat_send_total") == 2
