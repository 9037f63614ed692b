"""Credentials and their checksums never leave the session service in a span or log."""

from __future__ import annotations

import json

import sqlalchemy

from tests.services.session.conftest import SessionService
from tests.support.otel import ADMIN


def test_credentials_stay_in_the_database(service: SessionService, pg_url: str) -> None:
    service.client.post("/api/whatsapp/sessions/s1/simulate/corruption", headers=ADMIN)
    engine = sqlalchemy.create_engine(pg_url)
    with engine.connect() as conn:
        blob, checksum = conn.execute(sqlalchemy.text(
            "SELECT blob, checksum FROM wa_session_credentials WHERE session_id = 's1'")).one()
    engine.dispose()
    noise_key = json.loads(blob)["noise_key"]

    parts = []
    for span in service.spans.get_finished_spans():
        parts += [span.name, *(f"{k}={v}" for k, v in (span.attributes or {}).items())]
    for data in service.logs.get_finished_logs():
        parts += [str(data.log_record.body), *(f"{k}={v}" for k, v in (data.log_record.attributes or {}).items())]
    exported = "\n".join(parts)

    assert "UPDATE wa_session_credentials" in exported or "INSERT INTO wa_session_credentials" in exported
    assert noise_key not in exported
    assert checksum not in exported
    assert ADMIN["Authorization"].split()[1] not in exported
