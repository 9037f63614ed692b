"""GET /metrics, /metrics/whatsapp, /metadata and /chat/tools/diagnostics: the seed's JSON."""

from __future__ import annotations

from services.ingest.telemetry import RECENT_FAILURES_KEPT, TOTALS
from tests.services.ingest.conftest import Ingest, MakeIngest, batch
from tests.support.otel import ADMIN


def test_recent_failures_keeps_exactly_the_last_50_newest_first(ingest: Ingest) -> None:
    sent = 53
    for i in range(sent):
        assert ingest.post(batch(f"client-{i}"), headers={"Authorization": "Bearer wrong"}).status_code == 401

    snap = ingest.snapshot()
    kept = snap["recent_failures"]
    assert RECENT_FAILURES_KEPT == 50
    assert len(kept) == 50
    assert [f["client_id"] for f in kept] == [f"client-{i}" for i in range(sent - 1, sent - 51, -1)]
    assert all(f["status_code"] == 401 and f["reason"] == "invalid_token" for f in kept)
    # The totals count every failure; only the list is capped.
    assert snap["totals"]["auth_failures"] == sent


def test_metrics_wraps_the_whatsapp_document(ingest: Ingest) -> None:
    ingest.post(batch("c1", "Pixel 8 - $520", "   ", "Pixel 8 - $520"))

    wrapped = ingest.client.get("/metrics", headers=ADMIN).json()
    bare = ingest.client.get("/metrics/whatsapp", headers=ADMIN).json()

    assert set(wrapped) == {"whatsapp"}
    for doc in (wrapped["whatsapp"], bare):
        assert set(doc) == {"generated_at", "totals", "counters", "recent_failures"}
        assert set(doc["totals"]) == set(TOTALS)
    assert wrapped["whatsapp"]["totals"] == bare["totals"]
    totals = bare["totals"]
    assert (totals["accepted"], totals["created"], totals["deduped"], totals["skipped"]) == (3, 1, 1, 1)
    assert bare["counters"] == wrapped["whatsapp"]["counters"]
    (chat,) = bare["counters"]
    assert (chat["client_id"], chat["chat_title"], chat["accepted"], chat["created"]) == ("c1", "Deals Group", 3, 1)


def test_metric_views_need_the_admin_token(ingest: Ingest) -> None:
    for path in ("/metrics", "/metrics/whatsapp", "/chat/tools/diagnostics", "/metrics/prometheus"):
        assert ingest.client.get(path).status_code == 401, path
        assert ingest.client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 403, path
        assert ingest.client.get(path, headers=ADMIN).status_code == 200, path


def test_metric_views_open_with_obs_metrics_public(make_ingest: MakeIngest) -> None:
    app = make_ingest(obs_overrides={"OBS_METRICS_PUBLIC": True, "ENV": "dev"})

    assert app.client.get("/metrics").status_code == 200
    assert app.client.get("/chat/tools/diagnostics").status_code == 200


def test_prometheus_view_moves_off_the_seed_json_path(ingest: Ingest) -> None:
    ingest.post(batch())

    text = ingest.client.get("/metrics/prometheus", headers=ADMIN).text
    assert "pricebot_whatsapp_created_total" in text
    assert ingest.client.get("/metrics", headers=ADMIN).headers["content-type"].startswith("application/json")


def test_metadata_tags_the_instance(ingest: Ingest) -> None:
    body = ingest.client.get("/metadata").json()

    assert body["service"] == "whatsapp-ingest"
    assert body["environment"] == "test"
    assert body["endpoints"]["diagnostics"] == "/chat/tools/diagnostics"


def test_diagnostics_has_per_chat_counters_and_store_counts(ingest: Ingest) -> None:
    ingest.post(batch("diag-client", "Pixel 8 - $520", "hello there", chat="Chat A"))
    ingest.post(batch("diag-client", "Galaxy S23 - $610", chat="Chat B"))
    ingest.post(batch("diag-client", "$15", chat="Chat B"))

    body = ingest.client.get("/chat/tools/diagnostics", headers=ADMIN).json()

    by_title = {e["chat_title"]: e for e in body["whatsapp_metrics"]}
    assert set(by_title) == {"Chat A", "Chat B"}
    assert {k: by_title["Chat A"][k] for k in ("accepted", "created", "extracted", "errors")} == \
        {"accepted": 2, "created": 2, "extracted": 1, "errors": 0}
    assert {k: by_title["Chat B"][k] for k in ("accepted", "created", "extracted", "errors")} == \
        {"accepted": 2, "created": 2, "extracted": 1, "errors": 1}
    assert all(e["client_id"] == "diag-client" and e["last_event_at"].endswith("Z") for e in body["whatsapp_metrics"])
    assert body["counts"] == {"chats": 2, "messages": 4, "offers": 2, "media": 0}
