"""Factory of the ``session_health`` connector (logs in; metrics and logs out)."""

from __future__ import annotations

from processors.api import CreateSettings, Signal
from processors.registry import Factory
from processors.session_health.config import SessionHealthConfig
from processors.session_health.connector import SessionHealthConnector

TYPE = "session_health"


def default_config() -> SessionHealthConfig:
    return SessionHealthConfig()


def create(config: SessionHealthConfig, settings: CreateSettings) -> SessionHealthConnector:
    # Reads the API's admin token from the environment (a ConfigError naming api.admin_token_env when
    # the API needs one and it is unset) before it opens the store.
    return SessionHealthConnector(config, settings)


FACTORY = Factory(
    type=TYPE,
    config_model=SessionHealthConfig,
    create=create,
    signals=frozenset({Signal.LOGS}),
    emits=frozenset({Signal.METRICS, Signal.LOGS}),
    stability="alpha",
)
