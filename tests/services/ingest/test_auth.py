"""The auth chain of POST /integrations/whatsapp/ingest, on real Redis and PostgreSQL:
each refusal answers its status and is counted under the seed's totals, once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.services.ingest.conftest import AUTH, TOKEN, Ingest, MakeIngest, batch, signed_headers

FAILURE_TOTALS = ("auth_failures", "forbidden", "rate_limited", "signature_failures", "media_failed")


def _failures(totals: dict[str, int]) -> dict[str, int]:
    return {k: totals[k] for k in FAILURE_TOTALS}


def test_missing_token_is_401_counted_once_and_stores_nothing(ingest: Ingest) -> None:
    response = ingest.post(batch("collector-7"), headers={})

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid ingest token"}
    snap = ingest.snapshot()
    assert _failures(snap["totals"]) == {"auth_failures": 1, "forbidden": 0, "rate_limited": 0,
                                         "signature_failures": 0, "media_failed": 0}
    assert snap["totals"]["accepted"] == 0
    assert snap["recent_failures"][0]["status_code"] == 401
    assert snap["recent_failures"][0]["reason"] == "missing_token"
    assert snap["recent_failures"][0]["client_id"] == "collector-7"


def test_wrong_token_is_401_in_either_header(ingest: Ingest) -> None:
    assert ingest.post(batch(), headers={"Authorization": "Bearer not-the-token"}).status_code == 401
    assert ingest.post(batch(), headers={"X-Ingest-Token": "not-the-token"}).status_code == 401
    assert ingest.post(batch(), headers={"X-Ingest-Token": TOKEN}).status_code == 200

    snap = ingest.snapshot()
    assert snap["totals"]["auth_failures"] == 2
    assert [f["reason"] for f in snap["recent_failures"]] == ["invalid_token", "invalid_token"]


def test_signed_request_is_accepted(signed_ingest: Ingest) -> None:
    body = json.dumps(batch()).encode()
    response = signed_ingest.client.post("/integrations/whatsapp/ingest", content=body, headers=signed_headers(body))

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    assert _failures(signed_ingest.totals()) == dict.fromkeys(FAILURE_TOTALS, 0)


def test_signature_problems_split_into_401_and_403(signed_ingest: Ingest) -> None:
    body = json.dumps(batch()).encode()
    post = lambda headers, content=body: signed_ingest.client.post(  # noqa: E731
        "/integrations/whatsapp/ingest", content=content, headers=headers)
    good = signed_headers(body)

    missing = post({**AUTH, "Content-Type": "application/json"})
    wrong_secret = post(signed_headers(body, secret="another-secret"))
    tampered = post(good, content=body.replace(b"520", b"5"))
    stale = post(signed_headers(body, at=datetime.now(UTC) - timedelta(hours=1)))
    malformed = post({**good, "X-Signature": "deadbeef"})

    assert [r.status_code for r in (missing, wrong_secret, tampered, stale, malformed)] == [401, 403, 403, 403, 403]
    assert missing.json() == {"detail": "Signature required"}
    assert wrong_secret.json() == {"detail": "Invalid signature"}
    totals = signed_ingest.totals()
    # Every problem is a signature failure; a missing one is a 401, the rest are 403s.
    assert _failures(totals) == {"auth_failures": 1, "forbidden": 4, "rate_limited": 0,
                                 "signature_failures": 5, "media_failed": 0}
    reasons = [f["reason"] for f in signed_ingest.snapshot()["recent_failures"]]
    assert reasons == ["malformed_signature", "stale_signature", "invalid_signature", "invalid_signature",
                       "missing_signature"]


def test_token_is_checked_before_the_signature(signed_ingest: Ingest) -> None:
    body = json.dumps(batch()).encode()
    headers = {**signed_headers(body), "Authorization": "Bearer wrong"}

    assert signed_ingest.client.post("/integrations/whatsapp/ingest", content=body, headers=headers).status_code == 401
    assert _failures(signed_ingest.totals())["signature_failures"] == 0


def test_rate_limit_is_429_per_client_and_counted(make_ingest: MakeIngest, pg_url: str, redis_url: str) -> None:
    app = make_ingest(DATABASE_URL=pg_url, REDIS_URL=redis_url, WHATSAPP_INGEST_RATE_LIMIT_PER_MINUTE=3)

    statuses = [app.post(batch("busy", f"Item {i} - $1{i}")).status_code for i in range(5)]
    other = app.post(batch("quiet"))
    unauthenticated = app.post(batch("busy"), headers={})

    assert statuses == [200, 200, 200, 429, 429]
    assert other.status_code == 200
    assert unauthenticated.status_code == 401
    refused = app.post(batch("busy"))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json() == {"detail": "Rate limit exceeded"}
    totals = app.totals()
    assert totals["rate_limited"] == 3
    assert totals["auth_failures"] == 1
    assert totals["accepted"] == 4  # 3 of "busy", 1 of "quiet"


def test_every_failure_total_is_also_an_otlp_counter(signed_ingest: Ingest) -> None:
    body = json.dumps(batch()).encode()
    signed_ingest.client.post("/integrations/whatsapp/ingest", content=body, headers={})
    signed_ingest.client.post("/integrations/whatsapp/ingest", content=body, headers=signed_headers(body, secret="x"))
    signed_ingest.client.post("/integrations/whatsapp/ingest", content=body, headers=signed_headers(body))

    totals = signed_ingest.totals()
    sums = signed_ingest.otlp_sums()
    for name, value in totals.items():
        assert sums[f"pricebot_whatsapp_{name}_total"] == value, name
    assert totals["auth_failures"] == 1 and totals["forbidden"] == 1 and totals["created"] == 1
