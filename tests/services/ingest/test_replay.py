"""A signed request is accepted once: the same signature again within the signature
window is a 409, on real Redis (the signatures seen) and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC

import redis

from tests.services.ingest.conftest import HMAC_SECRET, Ingest, MakeIngest, batch, signed_headers

INGEST = "/integrations/whatsapp/ingest"


def _signed(make_ingest: MakeIngest, pg_url: str, redis_url: str, **settings: object) -> tuple[Ingest, str]:
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    app = make_ingest(DATABASE_URL=pg_url, REDIS_URL=redis_url, WHATSAPP_HMAC_SECRET=HMAC_SECRET,
                      REDIS_KEY_PREFIX=prefix, **settings)
    return app, prefix


def test_a_replayed_signature_is_409_and_counted(make_ingest: MakeIngest, pg_url: str, redis_url: str) -> None:
    app, _ = _signed(make_ingest, pg_url, redis_url)
    body = json.dumps(batch("collector-1")).encode()
    headers = signed_headers(body)

    first = app.client.post(INGEST, content=body, headers=headers)
    again = app.client.post(INGEST, content=body, headers=headers)

    assert first.status_code == 200 and first.json()["created"] == 1
    assert again.status_code == 409
    assert again.json() == {"detail": "Signature already used"}
    snap = app.snapshot()
    assert (snap["totals"]["replayed"], snap["totals"]["signature_failures"]) == (1, 1)
    assert snap["totals"]["accepted"] == 1
    assert (snap["recent_failures"][0]["status_code"], snap["recent_failures"][0]["reason"],
            snap["recent_failures"][0]["client_id"]) == (409, "replayed_signature", "collector-1")
    assert app.otlp_sums()["pricebot_whatsapp_replayed_total"] == 1


def test_the_same_body_signed_again_is_accepted(make_ingest: MakeIngest, pg_url: str, redis_url: str) -> None:
    from datetime import datetime, timedelta

    app, _ = _signed(make_ingest, pg_url, redis_url)
    body = json.dumps(batch("collector-1")).encode()

    first = app.client.post(INGEST, content=body, headers=signed_headers(body))
    resigned = app.client.post(INGEST, content=body,
                               headers=signed_headers(body, at=datetime.now(UTC) + timedelta(seconds=1)))

    assert first.status_code == 200
    assert resigned.status_code == 200 and resigned.json()["deduped"] == 1


def test_a_seen_signature_is_kept_for_the_rest_of_its_window(make_ingest: MakeIngest, pg_url: str,
                                                            redis_url: str) -> None:
    app, prefix = _signed(make_ingest, pg_url, redis_url, WHATSAPP_SIGNATURE_MAX_AGE_S=120)
    body = json.dumps(batch("collector-1")).encode()
    headers = signed_headers(body)

    assert app.client.post(INGEST, content=body, headers=headers).status_code == 200

    key = f"{prefix}signature:{hashlib.sha256(headers['X-Signature'].encode()).hexdigest()}"
    ttl = redis.Redis.from_url(redis_url).ttl(key)
    assert 100 < ttl <= 121, ttl


def test_a_request_refused_before_it_is_processed_leaves_its_signature_unused(
        make_ingest: MakeIngest, pg_url: str, redis_url: str) -> None:
    app, _ = _signed(make_ingest, pg_url, redis_url, WHATSAPP_INGEST_MAX_MESSAGES=1)
    body = json.dumps(batch("collector-1", "a - $1", "b - $2")).encode()
    headers = signed_headers(body)

    statuses = [app.client.post(INGEST, content=body, headers=headers).status_code for _ in range(2)]

    assert statuses == [413, 413]
    assert app.totals()["replayed"] == 0


def test_a_replayed_media_upload_is_409(make_ingest: MakeIngest, pg_url: str, redis_url: str) -> None:
    app, _ = _signed(make_ingest, pg_url, redis_url)
    data = b"\xff\xd8 a jpeg"
    headers = {**signed_headers(data), "Content-Type": "image/jpeg", "X-Client-Id": "c1"}

    first = app.client.post("/integrations/whatsapp/media", content=data, headers=headers)
    again = app.client.post("/integrations/whatsapp/media", content=data, headers=headers)

    assert first.status_code == 200, first.text
    assert again.status_code == 409 and again.json() == {"detail": "Signature already used"}
    assert app.totals()["replayed"] == 1
