"""Fixtures: admin headers; a tracer whose finished spans are kept in memory; a three-node Redis Cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.services.obs.redis_cluster import redis_cluster as three_node_cluster

ADMIN_TOKEN = "a" * 24


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def traced() -> tuple[object, InMemorySpanExporter]:
    """(tracer, the exporter holding every span it finished)."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider.get_tracer("test"), spans


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A three-node Redis Cluster: what a cluster client and its pipelines talk to (the port of one node)."""
    with three_node_cluster(tmp_path_factory.mktemp("redis-cluster")) as ports:
        yield ports[0]
