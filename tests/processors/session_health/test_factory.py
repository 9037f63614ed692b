"""The factory: its type and signals, the token rule, and wiring into a pipeline config."""

from __future__ import annotations

import pytest

from processors.api import CreateSettings, Signal
from processors.config import ConfigError, parse_config
from processors.pipeline import build_service
from processors.registry import Registry
from processors.session_health.config import SessionHealthConfig
from processors.session_health.connector import SessionHealthConnector
from processors.session_health.factory import FACTORY, create
from processors.session_health.store import MemoryStore, RedisStore
from processors.telemetry import SelfTelemetry

TOKEN_ENV = "SESSION_HEALTH_ADMIN_TOKEN"


def settings() -> CreateSettings:
    return CreateSettings(component_id="session_health", telemetry=SelfTelemetry())


def test_factory_shape() -> None:
    assert FACTORY.type == "session_health"
    assert FACTORY.signals == frozenset({Signal.LOGS})
    assert FACTORY.emits == frozenset({Signal.METRICS, Signal.LOGS})
    assert Registry().get("connectors", "session_health") is FACTORY


def test_api_without_a_token_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ConfigError) as err:
        create(SessionHealthConfig(), settings())
    assert err.value.path == "api.admin_token_env"
    assert TOKEN_ENV in err.value.problem


def test_an_empty_token_counts_as_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "  ")
    with pytest.raises(ConfigError):
        create(SessionHealthConfig(), settings())


def test_token_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    conn = create(SessionHealthConfig.model_validate({"api": {"admin_token_env": "MY_TOKEN"}}), settings())
    assert isinstance(conn, SessionHealthConnector)
    assert conn.api is not None and conn.api._token == b"s3cret"


def test_public_api_or_no_api_needs_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    public = create(SessionHealthConfig.model_validate({"api": {"public": True}}), settings())
    assert public.api is not None and public.api._token is None
    headless = create(SessionHealthConfig.model_validate({"api": {"enabled": False}}), settings())
    assert headless.api is None


def test_store_choice() -> None:
    memory = create(SessionHealthConfig.model_validate({"api": {"enabled": False}}), settings())
    assert isinstance(memory.store, MemoryStore)
    redis = create(SessionHealthConfig.model_validate(
        {"api": {"enabled": False}, "store": "redis://127.0.0.1:1/0"}), settings())
    assert isinstance(redis.store, RedisStore)  # built, not connected: start() connects


PIPELINES = """
receivers:
  otlp: {grpc: {endpoint: "127.0.0.1:0"}}
connectors:
  session_health: {api: {enabled: false}}
exporters:
  otlp: {endpoint: "127.0.0.1:1"}
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [otlp, session_health]}
    metrics: {receivers: [otlp, session_health], exporters: [otlp]}
    logs/alerts: {receivers: [session_health], exporters: [otlp]}
"""


def test_wired_as_logs_exporter_and_metrics_and_logs_receiver() -> None:
    service = build_service(parse_config(PIPELINES))
    conn = service.connectors["session_health"]
    assert isinstance(conn, SessionHealthConnector)
    assert set(conn._consumers) == {Signal.METRICS, Signal.LOGS}
    assert ("session_health", conn) in service.pipelines["logs"].exporters


def test_cannot_export_metrics_into_it() -> None:
    bad = PIPELINES.replace("metrics: {receivers: [otlp, session_health], exporters: [otlp]}",
                            "metrics: {receivers: [otlp], exporters: [session_health]}")
    with pytest.raises(ConfigError) as err:
        build_service(parse_config(bad))
    assert err.value.path == "service.pipelines.metrics.exporters[0]"


def test_token_error_names_the_component_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ConfigError) as err:
        build_service(parse_config(PIPELINES.replace("{api: {enabled: false}}", "{}")))
    assert err.value.path == "connectors.session_health.api.admin_token_env"
