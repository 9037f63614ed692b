"""The otlp receiver's gRPC keepalive keys: a connection older than
max_connection_age is closed by the server and the client dials a new one
(which is how one Collector's load moves between worker processes)."""

from __future__ import annotations

import asyncio

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from processors.config import ConfigError, parse_config
from processors.pipeline import build_service
from processors.receivers.otlp import KeepaliveServerParameters
from tests.processors.conftest import grpc_port, serving


def _yaml(keepalive: str = "") -> str:
    grpc_extra = f", keepalive: {{server_parameters: {{{keepalive}}}}}" if keepalive else ""
    return f"""
receivers:
  otlp:
    grpc: {{endpoint: "127.0.0.1:0"{grpc_extra}}}
exporters:
  debug: {{}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug]}}
"""


def _client_ports(server_port: int) -> set[int]:
    """Local ports of this process's established TCP connections to ``server_port`` (the client ends)."""
    return {c.laddr.port for c in psutil.Process().net_connections(kind="tcp")
            if c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == server_port}


async def _check(stub) -> None:
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def _ports_before_and_after(keepalive: str, wait_s: float) -> tuple[set[int], set[int]]:
    async with serving(_yaml(keepalive)) as rt:
        port = grpc_port(rt)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            await _check(stub)
            before = _client_ports(port)
            await asyncio.sleep(wait_s)
            await _check(stub)  # the same channel: it re-dials by itself if the server closed it
            after = _client_ports(port)
    return before, after


async def test_a_connection_past_max_connection_age_is_closed_and_made_again():
    before, after = await _ports_before_and_after('max_connection_age: "500ms", max_connection_age_grace: "200ms"', 2.0)
    assert len(before) == 1 and len(after) == 1
    assert before != after, "the client still uses its first connection after max_connection_age"


async def test_without_max_connection_age_the_connection_stays():
    before, after = await _ports_before_and_after("", 2.0)
    assert len(before) == 1 and before == after


def test_keepalive_durations_map_to_grpc_core_arguments_in_milliseconds():
    params = KeepaliveServerParameters.model_validate(
        {"max_connection_age": "30s", "max_connection_age_grace": "5s", "max_connection_idle": "1m",
         "time": "2h", "timeout": "250ms"})
    assert dict(params.grpc_options()) == {
        "grpc.max_connection_age_ms": 30_000, "grpc.max_connection_age_grace_ms": 5_000,
        "grpc.max_connection_idle_ms": 60_000, "grpc.keepalive_time_ms": 7_200_000,
        "grpc.keepalive_timeout_ms": 250,
    }
    assert KeepaliveServerParameters().grpc_options() == []


@pytest.mark.parametrize(("keepalive", "key", "words"), [
    ("max_connection_age: 30", "max_connection_age", "duration string"),
    ('max_connection_idle: "ten seconds"', "max_connection_idle", "not a duration"),
    ('timeout: "0s"', "timeout", "greater than 0"),
    ('max_age: "30s"', "max_age", "unknown key"),
])
def test_a_bad_keepalive_key_is_a_config_error_naming_its_path(keepalive, key, words):
    with pytest.raises(ConfigError) as err:
        build_service(parse_config(_yaml(keepalive)))
    assert err.value.path == f"receivers.otlp.grpc.keepalive.server_parameters.{key}"
    assert words in str(err.value)
