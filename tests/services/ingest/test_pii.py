"""No request body, token, signature, email or exact coordinate in any span,
OTel log record or JSON log line of the ingest service, before any redaction
processor: what leaves the process is clean already."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.services.ingest.conftest import HMAC_SECRET, TOKEN, MakeIngest, signed_headers
from tests.support.otel import REDIS, SQL, roles_of

EMAIL = "jane.doe@example.com"
LAT, LON = "-23.550520", "-46.633308"
TEXT = f"Selling Pixel 8 - $520, ask {EMAIL}, pickup at {LAT}, {LON}"
LEAKED_TOKEN = "leaked-token-value-123456"


def _flatten(ingest: Any) -> str:
    parts: list[str] = []
    for span in ingest.spans.get_finished_spans():
        parts.append(span.name)
        parts.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
        for event in span.events:
            parts.extend(f"{k}={v}" for k, v in (event.attributes or {}).items())
    for data in ingest.logs.get_finished_logs():
        record = data.log_record
        parts.append(str(record.body))
        parts.extend(f"{k}={v}" for k, v in (record.attributes or {}).items())
    return "\n".join(parts)


def test_nothing_sensitive_leaves_the_process(make_ingest: MakeIngest, pg_url: str, redis_url: str,
                                              capfd: pytest.CaptureFixture[str]) -> None:
    ingest = make_ingest(DATABASE_URL=pg_url, REDIS_URL=redis_url, WHATSAPP_HMAC_SECRET=HMAC_SECRET,
                         WHATSAPP_INGEST_RATE_LIMIT_PER_MINUTE=2, obs_overrides={"OBS_LOG_JSON_STDOUT": True})
    body = json.dumps({"client_id": "c1", "messages": [
        {"chat_title": "Deals", "text": TEXT, "sender_name": "Sara"}]}).encode()
    headers = signed_headers(body)

    ok = ingest.client.post("/integrations/whatsapp/ingest", content=body, headers=headers)
    bad_token = ingest.client.post("/integrations/whatsapp/ingest", content=body,
                                   headers={**headers, "Authorization": f"Bearer {LEAKED_TOKEN}"})
    bad_signature = ingest.client.post("/integrations/whatsapp/ingest", content=body,
                                       headers={**headers, "X-Signature": "ab" * 32})
    ingest.client.post("/integrations/whatsapp/ingest", content=body, headers=signed_headers(body))
    limited = ingest.client.post("/integrations/whatsapp/ingest", content=body, headers=signed_headers(body))
    assert [r.status_code for r in (ok, bad_token, bad_signature, limited)] == [200, 401, 403, 429]

    exported = _flatten(ingest)
    printed = capfd.readouterr().err
    # The capture is not vacuous: SQL, Redis and server spans, and the service's own log lines, are in it.
    assert {SQL, REDIS} <= roles_of(ingest.spans.get_finished_spans())
    assert "db.statement=INSERT INTO whatsapp_messages" in exported
    assert "ingest request refused" in exported and "ingest request refused" in printed

    for secret in (TOKEN, LEAKED_TOKEN, HMAC_SECRET, headers["X-Signature"], EMAIL, LAT, LON, "Selling Pixel",
                   "pickup at"):
        assert secret not in exported, secret
        assert secret not in printed, secret
