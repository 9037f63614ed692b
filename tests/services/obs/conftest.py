"""Fixtures: a bare app wired by ``obs.init`` with in-memory exporters; admin headers."""

from __future__ import annotations

import pytest

ADMIN_TOKEN = "a" * 24


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
