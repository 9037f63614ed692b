"""Shared fixtures: real servers on free loopback ports, started once per session.

Tests that stop a server (readiness, no-loss) use the context managers in
``tests.support.servers`` directly, so that they own that instance.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.servers import PostgresServer, RedisServer, otelcol_path, postgres_server, redis_server


@pytest.fixture(scope="session")
def redis_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as srv:
        yield srv


@pytest.fixture(scope="session")
def postgres_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with postgres_server(tmp_path_factory.mktemp("pg")) as srv:
        yield srv


@pytest.fixture(scope="session")
def otelcol() -> str:
    """Path of the real bin/otelcol (built by `make collector`)."""
    return otelcol_path()
