"""In-process processor servers on free loopback ports."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from processors.config import parse_config
from processors.registry import Registry
from processors.runtime import Runtime


def passthrough_yaml(next_hop: str, *, extra: str = "", grpc_extra: str = "", exporter: str = "otlp") -> str:
    return f"""
receivers:
  otlp:
    grpc: {{endpoint: "127.0.0.1:0"{grpc_extra}}}
exporters:
  otlp: {{endpoint: "{next_hop}", timeout_s: 5}}
{extra}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [{exporter}]}}
    metrics: {{receivers: [otlp], exporters: [{exporter}]}}
    logs: {{receivers: [otlp], exporters: [{exporter}]}}
"""


@contextlib.asynccontextmanager
async def serving(yaml_text: str, registry: Registry | None = None) -> AsyncIterator[Runtime]:
    rt = Runtime(parse_config(yaml_text), registry=registry)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


def grpc_port(rt: Runtime) -> int:
    return rt.service.receivers["otlp"].grpc_port


@pytest.fixture
def closed_port() -> str:
    """An address where nothing listens: a next hop that is down."""
    from tests.support.procs import free_port

    return f"127.0.0.1:{free_port()}"
