"""/docs, /redoc and /openapi.json: off unless DOCS_ENABLED=true, on every service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.services.divan.conftest import divan_settings, start_divan
from tests.services.ingest.conftest import (
    MakeIngest,
    make_ingest,  # noqa: F401 - the fixture, shared with tests/services/ingest
)
from tests.services.session.conftest import (
    MakeService,
    make_service,  # noqa: F401 - the fixture, shared with tests/services/session
)

DOCS_PATHS = ("/docs", "/redoc", "/openapi.json")


def _statuses(client: Any) -> list[int]:
    return [client.get(path).status_code for path in DOCS_PATHS]


@pytest.fixture
def clients(make_ingest: MakeIngest, make_service: MakeService) -> Callable[..., dict[str, Any]]:  # noqa: F811
    def build(**settings: Any) -> dict[str, Any]:
        divan = start_divan(divan_settings(**settings))
        return {"ingest": make_ingest(**settings).client, "session": make_service(**settings).client,
                "divan": (next(divan).client, divan)}

    return build


def test_docs_are_off_by_default(clients: Callable[..., dict[str, Any]]) -> None:
    built = clients()
    divan_client, divan = built.pop("divan")
    try:
        for name, client in {**built, "divan": divan_client}.items():
            assert _statuses(client) == [404, 404, 404], name
    finally:
        divan.close()


def test_docs_enabled_serves_them(clients: Callable[..., dict[str, Any]]) -> None:
    built = clients(DOCS_ENABLED=True)
    divan_client, divan = built.pop("divan")
    try:
        for name, client in {**built, "divan": divan_client}.items():
            assert _statuses(client) == [200, 200, 200], name
            assert client.get("/openapi.json").json()["paths"], name
    finally:
        divan.close()
