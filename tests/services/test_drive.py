"""The traffic driver moves every ingest total and runs session stories (in-process stores)."""

from __future__ import annotations

from collections import Counter

import pytest

from services.drive import IngestDriver, SessionDriver, main
from tests.services.ingest.conftest import (
    HMAC_SECRET,
    TOKEN,
    MakeIngest,
    make_ingest,  # noqa: F401 - the fixture, shared with tests/services/ingest
)
from tests.services.session.conftest import (
    MakeService,
    make_service,  # noqa: F401 - the fixture, shared with tests/services/session
)
from tests.support.otel import ADMIN, ADMIN_TOKEN
from tests.support.procs import free_port


def test_ingest_rounds_move_the_seed_totals(make_ingest: MakeIngest) -> None:  # noqa: F811
    app = make_ingest(WHATSAPP_HMAC_SECRET=HMAC_SECRET, WHATSAPP_INGEST_RATE_LIMIT_PER_MINUTE=5)
    driver = IngestDriver(app.client, token=TOKEN, hmac_secret=HMAC_SECRET)

    statuses: Counter[int] = Counter()
    for _ in range(3):
        statuses += driver.round(burst=3)

    totals = app.client.get("/metrics/whatsapp", headers=ADMIN).json()["totals"]
    for name in ("accepted", "created", "deduped", "extracted", "skipped", "media_uploaded", "media_deduped",
                 "auth_failures", "forbidden", "signature_failures", "rate_limited"):
        assert totals[name] > 0, name
    assert statuses[401] == 3 and statuses[403] == 3 and statuses[429] > 0


def test_session_rounds_run_stories_and_read_the_proxy(make_service: MakeService) -> None:  # noqa: F811
    svc = make_service(SESSION_HEALTH_URL=f"http://127.0.0.1:{free_port()}")
    driver = SessionDriver(svc.client, admin_token=ADMIN_TOKEN, sessions=2)

    statuses = driver.round() + driver.round()

    assert statuses[200] == 2 + 2  # two connects, two stories
    assert statuses[502] == 4  # no session-health API in this test: the proxy says so
    names = {e.event_name for e in svc.events()}
    assert {"wa.session.reconnect_success", "wa.session.circuit_breaker"} <= names


def test_main_refuses_to_run_without_a_target_or_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHATSAPP_INGEST_TOKEN", raising=False)
    assert main([]) == 2
    assert main(["--ingest-url", "http://127.0.0.1:9"]) == 2
