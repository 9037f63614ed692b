"""The collectors' connection status and batches, as the ingest service
carries them: POST /integrations/whatsapp/heartbeat, a batch's
connection_status, and the per-collector OTLP series with their cap."""

from __future__ import annotations

import json
import time
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from services.ingest.collectors import (
    BATCHES_SUCCESS,
    CONNECTED,
    LAST_SEEN,
    UNTRACKED,
    CollectorFleet,
)
from tests.services.ingest.conftest import AUTH, Ingest, MakeIngest, batch, signed_headers

HEARTBEAT = "/integrations/whatsapp/heartbeat"


def beat(app: Ingest, client_id: str, status: str, headers: dict[str, str] | None = None) -> Any:
    raw = json.dumps({"client_id": client_id, "connection_status": status}).encode()
    return app.client.post(HEARTBEAT, content=raw,
                           headers={"Content-Type": "application/json", **(AUTH if headers is None else headers)})


def series(reader: InMemoryMetricReader, name: str) -> dict[tuple, float]:
    """{sorted attribute items: value} of one metric, as the reader collects it now."""
    out: dict[tuple, float] = {}
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    for p in metric.data.data_points:
                        out[tuple(sorted(p.attributes.items()))] = p.value
    return out


def cid(client_id: str) -> tuple:
    return (("client_id", client_id),)


def test_heartbeats_and_batches_become_per_collector_series(ingest: Ingest) -> None:
    before = time.time()
    assert beat(ingest, "collector-1", "open").json() == {
        "client_id": "collector-1", "connection_status": "open", "connected": True}
    assert beat(ingest, "collector-2", "connecting").status_code == 200
    assert ingest.post(batch("collector-1")).status_code == 200
    assert ingest.post(batch("collector-1")).status_code == 200
    connected = series(ingest.metrics, CONNECTED)
    assert connected == {cid("collector-1"): 1, cid("collector-2"): 0}
    assert series(ingest.metrics, BATCHES_SUCCESS) == {cid("collector-1"): 2, cid("collector-2"): 0}
    seen = series(ingest.metrics, LAST_SEEN)
    assert before <= seen[cid("collector-2")] <= seen[cid("collector-1")] <= time.time()

    # The connection closes; a batch without a status leaves the last reported one.
    assert beat(ingest, "collector-1", "close").json()["connected"] is False
    assert ingest.post(batch("collector-1", "iPhone 13 - $400")).status_code == 200
    assert series(ingest.metrics, CONNECTED)[cid("collector-1")] == 0
    # A batch may carry the status itself.
    assert ingest.post({**batch("collector-1", "Galaxy S23 - $300"), "connection_status": "open"}).status_code == 200
    assert series(ingest.metrics, CONNECTED)[cid("collector-1")] == 1
    assert series(ingest.metrics, BATCHES_SUCCESS)[cid("collector-1")] == 4


def test_a_refused_batch_is_no_success(ingest: Ingest) -> None:
    beat(ingest, "collector-1", "open")
    assert ingest.post(batch("collector-1"), headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert ingest.post({"client_id": "collector-1", "messages": "nope"}).status_code == 422
    assert series(ingest.metrics, BATCHES_SUCCESS) == {cid("collector-1"): 0}


def test_a_heartbeat_goes_through_the_ingest_auth_chain(ingest: Ingest) -> None:
    assert beat(ingest, "collector-1", "open", headers={}).status_code == 401
    assert beat(ingest, "collector-1", "open", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert ingest.totals()["auth_failures"] == 2
    for bad in ("Open", "", "x" * 40, "open; drop"):
        assert beat(ingest, "collector-1", bad).status_code == 422, bad
    assert beat(ingest, "bad id with spaces", "open").status_code == 422
    big = json.dumps({"client_id": "collector-1", "connection_status": "open", "pad": "x" * 5000})
    assert ingest.client.post(HEARTBEAT, content=big, headers={**AUTH, "Content-Type": "application/json"}
                              ).status_code == 413
    assert series(ingest.metrics, CONNECTED) == {}  # nothing refused was tracked


def test_with_hmac_a_heartbeat_is_signed_and_used_once(signed_ingest: Ingest) -> None:
    body = json.dumps({"client_id": "collector-1", "connection_status": "open"}).encode()
    assert signed_ingest.client.post(HEARTBEAT, content=body,
                                     headers={**AUTH, "Content-Type": "application/json"}).status_code == 401
    headers = signed_headers(body)
    assert signed_ingest.client.post(HEARTBEAT, content=body, headers=headers).status_code == 200
    # A replayed "open" must not keep a dead collector looking alive.
    assert signed_ingest.client.post(HEARTBEAT, content=body, headers=headers).status_code == 409
    assert signed_ingest.client.post(HEARTBEAT, content=body,
                                     headers=signed_headers(body, secret="other")).status_code == 403


def test_collectors_past_the_cap_are_refused_counted_and_their_batches_still_stored(
        make_ingest: MakeIngest, pg_url: str, redis_url: str) -> None:
    app = make_ingest(DATABASE_URL=pg_url, REDIS_URL=redis_url, WHATSAPP_COLLECTOR_MAX_CLIENTS=2)
    assert beat(app, "collector-1", "open").status_code == 200
    assert app.post(batch("collector-2")).status_code == 200
    refused = beat(app, "collector-3", "open")
    assert refused.status_code == 422 and refused.json() == {"detail": "Too many collectors"}
    assert app.post(batch("collector-3")).json()["created"] == 1  # the data is kept; only the series is not
    assert beat(app, "collector-1", "close").status_code == 200  # known ones carry on
    assert set(series(app.metrics, CONNECTED)) == {cid("collector-1"), cid("collector-2")}
    assert series(app.metrics, UNTRACKED) == {(("route", "heartbeat"),): 1, (("route", "ingest"),): 1}
    failure = app.snapshot()["recent_failures"][0]
    assert (failure["status_code"], failure["reason"], failure["client_id"]) == (
        422, "too_many_collectors", "collector-3")


def test_a_silent_collector_is_forgotten_after_the_ttl_and_frees_its_place() -> None:
    now = [1000.0]
    reader = InMemoryMetricReader()
    fleet = CollectorFleet(MeterProvider(metric_readers=[reader]).get_meter("t"), max_clients=1, ttl_s=60,
                           clock=lambda: now[0])
    assert fleet.report("a", "open", batch=False, route="heartbeat")
    assert not fleet.report("b", "open", batch=False, route="heartbeat")
    now[0] += 59
    assert series(reader, LAST_SEEN) == {cid("a"): 1000.0}
    now[0] += 2
    assert series(reader, CONNECTED) == {}  # gone from the export too
    assert fleet.report("b", "open", batch=True, route="ingest")
    assert series(reader, BATCHES_SUCCESS) == {cid("b"): 1}
