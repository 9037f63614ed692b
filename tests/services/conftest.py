"""Fixtures the service tests share: a database of its own and Redis on the
session's real servers, and apps started with their telemetry held in memory."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.otel import ServiceApp, StartApp
from tests.support.servers import PostgresServer, RedisServer


@pytest.fixture
def pg_url(postgres_srv: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of its own on the shared PostgreSQL server, named after the test's service, dropped afterwards."""
    name = f"{request.path.parent.name}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_srv.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_srv.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(postgres_srv.dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def redis_url(redis_srv: RedisServer) -> str:
    return redis_srv.url


@pytest.fixture
def start_app() -> Iterator[StartApp]:
    """``start_app(app, kind=ServiceApp, **fields)``: export the app's spans and log records in
    memory, run its lifespan through a TestClient, and return ``kind(client, spans, logs, **fields)``.
    Every app started stops after the test, the last started first."""
    clients: list[TestClient] = []

    def start(app: FastAPI, kind: Callable[..., Any] = ServiceApp, **fields: Any) -> Any:
        spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
        app.state.obs.add_span_exporter(spans)
        app.state.obs.add_log_exporter(logs)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return kind(client, spans, logs, **fields)

    yield start
    for client in reversed(clients):
        client.__exit__(None, None, None)
