"""Settings of the WhatsApp session service, read from the environment."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.docs import DocsSettings
from services.common.store_settings import StoreSettings


def _replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class SessionSettings(StoreSettings, DocsSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    SERVICE_NAME: str = Field("whatsapp-session", description="service.name of every signal")
    ENV: Literal["dev", "test", "staging", "prod"] = "dev"
    SESSION_TENANT_ID: str = Field("default", min_length=1, max_length=128, description="tenant.id of new sessions")
    SESSION_REPLICA_ID: str = Field(default_factory=_replica_id, description="holder name in the Redis session lock")

    # --- the session-health API the backend proxy routes call ---------------------------
    SESSION_HEALTH_URL: str = Field("http://127.0.0.1:8890", description="base URL of the session-health API")
    SESSION_HEALTH_ADMIN_TOKEN: SecretStr | None = Field(
        None, description="bearer token forwarded to the session-health API (the variable its connector reads)"
    )
    SESSION_HEALTH_TIMEOUT_S: float = Field(2.0, gt=0, description="per-request timeout of the proxy")

    # --- the simulated sessions -------------------------------------------------------------
    SESSION_TICK_INTERVAL_S: float = Field(
        5.0, ge=0, description="seconds between live steps of every session (heartbeats, reconnects); 0: off"
    )
    SESSION_HEARTBEAT_INTERVAL_S: float = Field(20.0, gt=0, description="virtual seconds per step in scenarios")
    SESSION_MISSED_HEARTBEATS_LIMIT: int = Field(3, ge=1)
    SESSION_MAX_RECONNECT_ATTEMPTS: int = Field(10, ge=1)
    SESSION_BREAKER_THRESHOLD: int = Field(3, ge=1)
    SESSION_BREAKER_COOLDOWN_S: float = Field(30.0, ge=0)
    SESSION_LOCK_TTL_MS: int = Field(30_000, gt=0)

    # --- backing stores (REDIS_URL, DATABASE_URL: StoreSettings) --------------------------
    REDIS_KEY_PREFIX: str = Field("wa-session:", description="namespace of every Redis key this service writes")

    @field_validator("SESSION_HEALTH_URL")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"SESSION_HEALTH_URL: {v!r} is not an http:// or https:// URL")
        return v.rstrip("/")


@lru_cache
def get_settings() -> SessionSettings:
    return SessionSettings()
