"""One pipeline and one standalone mode per test module, shared by its tests
(each test sends under a service name of its own and compares only that)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.interop.support import Setup, pipeline_setup, standalone_setup


@pytest.fixture(scope="module", params=["pipeline", "standalone"])
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    factory = pipeline_setup if request.param == "pipeline" else standalone_setup
    with factory(tmp_path_factory.mktemp(request.param)) as s:
        yield s
