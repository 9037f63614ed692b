"""Configuration of the ``session_health`` connector.

Every alert threshold is a key under ``thresholds.warning`` or
``thresholds.critical``, with the defaults listed in the README's
Configuration section. Units are in the key names (seconds, hours, minutes).
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, field_validator, model_validator

from processors.config import ComponentConfig
from processors.session_health.events import MAX_SESSION_ID_BYTES, MAX_SESSIONS, MAX_TENANT_ID_BYTES

DEFAULT_ADMIN_TOKEN_ENV = "SESSION_HEALTH_ADMIN_TOKEN"
_ENDPOINT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):(\d{1,5})$")


class WarningThresholds(ComponentConfig):
    """Warning level (README, Configuration). A session reaching any of these is `warning`."""

    heartbeat_age_s: float = Field(default=60, gt=0, description="Default 60. Seconds without a heartbeat.")
    reconnect_attempts: int = Field(default=3, ge=1, description="Default 3. Attempts in the current reconnect.")
    credential_age_h: float = Field(default=24, gt=0, description="Default 24. Hours since credentials were written.")
    reconnect_latency_s: float = Field(default=30, gt=0,
                                       description="Default 30. Seconds the current reconnect has taken.")
    missed_heartbeats: int = Field(default=3, ge=1, description="Default 3. Consecutive missed heartbeats.")
    validation_failures: int = Field(default=1, ge=1,
                                     description="Default 1. Checksum failures since the last good write.")


class CriticalThresholds(ComponentConfig):
    """Critical level (README, Configuration). A session reaching any of these is `critical`."""

    heartbeat_age_s: float = Field(default=300, gt=0, description="Default 300.")
    reconnect_attempts: int = Field(default=7, ge=1, description="Default 7 (near the maximum of 10).")
    credential_age_h: float = Field(default=168, gt=0, description="Default 168 (7 days).")
    reconnect_latency_s: float = Field(default=120, gt=0, description="Default 120.")
    missed_heartbeats: int = Field(default=10, ge=1, description="Default 10.")
    circuit_breaker_open: bool = Field(default=True, description="Default true: an open breaker is critical.")
    corruption: bool = Field(default=True, description="Default true: detected corruption is critical.")
    disconnected_min: float = Field(default=30, gt=0, description="Default 30. Minutes out of `connected`.")


# Keys present at both levels: the critical value must not be below the warning one.
_PAIRED = ("heartbeat_age_s", "reconnect_attempts", "credential_age_h", "reconnect_latency_s", "missed_heartbeats")


class Thresholds(ComponentConfig):
    warning: WarningThresholds = Field(default_factory=WarningThresholds)
    critical: CriticalThresholds = Field(default_factory=CriticalThresholds)

    @model_validator(mode="after")
    def _critical_not_below_warning(self) -> Self:
        for key in _PAIRED:
            warn, crit = getattr(self.warning, key), getattr(self.critical, key)
            if crit < warn:
                raise ValueError(f"critical.{key} ({crit:g}) is below warning.{key} ({warn:g})")
        return self


class ApiConfig(ComponentConfig):
    enabled: bool = Field(default=True, description="Default true. Serve the HTTP API (README, HTTP API).")
    endpoint: str = Field(default="0.0.0.0:8890", description="Default 0.0.0.0:8890. host:port to listen on.")
    admin_token_env: str = Field(
        default=DEFAULT_ADMIN_TOKEN_ENV,
        description="Name of the environment variable holding the admin token. Fails closed: with the API "
        "enabled, an unset or empty variable refuses to start unless `public` is true.",
    )
    public: bool = Field(default=False, description="Default false. True serves every endpoint without a token.")

    @field_validator("endpoint")
    @classmethod
    def _endpoint_shape(cls, value: str) -> str:
        match = _ENDPOINT.match(value)
        if not match or not 0 <= int(match.group(2)) <= 65535:
            raise ValueError(f"{value!r} is not host:port")
        return value

    @field_validator("admin_token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{value!r} is not an environment variable name")
        return value

    @property
    def host(self) -> str:
        return self.endpoint.rsplit(":", 1)[0].strip("[]") or "0.0.0.0"

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])


class SessionHealthConfig(ComponentConfig):
    thresholds: Thresholds = Field(default_factory=Thresholds)
    store: str = Field(
        default="memory",
        description='Default "memory" (one replica). "redis://host:port/db" shares one fleet view between replicas.',
    )
    store_key_prefix: str = Field(
        default="session_health", min_length=1, description="Default session_health. Prefix of every Redis key."
    )
    api: ApiConfig = Field(default_factory=ApiConfig)
    evaluation_interval_s: float = Field(
        default=5.0, gt=0, le=3600, description="Default 5. Seconds between evaluations (alerts, metrics, fleet view)."
    )
    reorder_window_s: float = Field(
        default=1.0, ge=0, le=60,
        description="Default 1. Seconds events wait after arrival so that a session's events delivered out of "
        "order (the Collector sends batches concurrently) are folded in timestamp order. 0 folds at once.",
    )
    max_reconnect_attempts: int = Field(default=10, ge=1, description="Default 10. Reported as reconnect.maxAttempts.")
    session_ttl_h: float = Field(
        default=24, gt=0, description="Default 24. Hours after its last event that a session is forgotten."
    )
    # Senders choose the ids: without these bounds, memory, Redis and /session/metrics grow with whatever they send.
    max_sessions: int = Field(
        default=MAX_SESSIONS, ge=1, le=1_000_000,
        description=f"Default {MAX_SESSIONS}. Sessions kept; a new session past it evicts the one heard from least "
        "recently (counted on otelproc_session_health_evicted_sessions_total).",
    )
    max_session_id_bytes: int = Field(
        default=MAX_SESSION_ID_BYTES, ge=1, le=4096,
        description=f"Default {MAX_SESSION_ID_BYTES}. Longest wa.session.id, in UTF-8 bytes; an event with a "
        "longer one is ignored (reason session_id_too_long).",
    )
    max_tenant_id_bytes: int = Field(
        default=MAX_TENANT_ID_BYTES, ge=1, le=4096,
        description=f"Default {MAX_TENANT_ID_BYTES}. Longest tenant.id, in UTF-8 bytes; an event with a "
        "longer one is ignored (reason tenant_id_too_long).",
    )

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        if value != "memory" and not re.match(r"^rediss?://", value):
            raise ValueError(f'{value!r} is neither "memory" nor a redis:// or rediss:// URL')
        return value

    @model_validator(mode="after")
    def _attempts_within_max(self) -> Self:
        crit = self.thresholds.critical.reconnect_attempts
        if crit > self.max_reconnect_attempts:
            raise ValueError(
                f"thresholds.critical.reconnect_attempts ({crit}) is above max_reconnect_attempts "
                f"({self.max_reconnect_attempts})"
            )
        return self
