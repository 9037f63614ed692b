"""Factory of the ``session_health`` connector (logs in; metrics and logs out)."""

from __future__ import annotations

import os

from processors.api import CreateSettings, Signal
from processors.config import ConfigError
from processors.registry import Factory
from processors.session_health.config import SessionHealthConfig
from processors.session_health.connector import SessionHealthConnector
from processors.session_health.store import open_store

TYPE = "session_health"


def default_config() -> SessionHealthConfig:
    return SessionHealthConfig()


def create(config: SessionHealthConfig, settings: CreateSettings) -> SessionHealthConnector:
    token = os.environ.get(config.api.admin_token_env, "").strip() or None
    if config.api.enabled and not config.api.public and token is None:
        # Fails closed: an API without a token would expose every session to anyone on the network.
        raise ConfigError(
            "api.admin_token_env",
            f"environment variable {config.api.admin_token_env} is unset or empty; set it, "
            "or set api.public: true to serve the API without a token",
        )
    store = open_store(config.store, config.store_key_prefix, config.max_sessions)
    return SessionHealthConnector(config, settings, store=store, admin_token=token)


FACTORY = Factory(
    type=TYPE,
    config_model=SessionHealthConfig,
    create=create,
    signals=frozenset({Signal.LOGS}),
    emits=frozenset({Signal.METRICS, Signal.LOGS}),
    stability="alpha",
)
