"""Settings of the outbound WhatsApp API service, read from the environment."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from services.common.docs import DocsSettings
from services.obs import ObsSettings


class OutboundSettings(ObsSettings, DocsSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # --- RabbitMQ --------------------------------------------------------------------
    AMQP_URL: SecretStr = Field(SecretStr("amqp://guest:guest@127.0.0.1:5672/"),
                                description="the broker; default amqp://guest:guest@127.0.0.1:5672/ (never logged)")
    OUTBOUND_QUEUE: str = Field("outbound-processed", min_length=1,
                                description="queue consumed; default outbound-processed")
    OUTBOUND_CONSUMER_ENABLED: bool = Field(True,
                                            description="false: declare the queues, consume nothing; default true")
    OUTBOUND_PREFETCH: int = Field(16, ge=1, le=1000, description="unacked messages in flight; default 16")
    # Comma-separated in the environment (NoDecode: not JSON).
    OUTBOUND_RETRY_DELAYS_MS: Annotated[tuple[int, ...], NoDecode] = Field(
        (1000, 5000, 30000), min_length=1,
        description="delay before the n-th retry (the last one repeats); default 1000, 5000, 30000 ms",
    )
    OUTBOUND_MAX_ATTEMPTS: int = Field(5, ge=1,
        description="deliveries tried before a retryable failure is dead-lettered; default 5")
    OUTBOUND_RECONNECT_INTERVAL_S: float = Field(1.0, gt=0,
                                                 description="seconds between reconnects to RabbitMQ; default 1")
    OUTBOUND_QUEUE_DEPTH_INTERVAL_S: float = Field(5.0, gt=0,
                                                   description="seconds between queue-depth reads; default 5")
    OUTBOUND_DEDUPE_SIZE: int = Field(100_000, ge=0, description="message ids remembered as delivered; default 100000")

    # --- the Meta Graph API and the tenant service -----------------------------------------
    META_API_URL: str = Field("https://graph.facebook.com",
                              description="Graph API base URL; default https://graph.facebook.com")
    META_API_VERSION: str = Field("v19.0", description="Graph API version in the path; default v19.0")
    META_API_TIMEOUT_S: float = Field(10.0, gt=0, description="per-request timeout; default 10 s")
    TENANT_SERVICE_URL: str = Field("http://127.0.0.1:8005",
                                    description="tenant service base URL; default http://127.0.0.1:8005")
    TENANT_SERVICE_TOKEN: SecretStr | None = Field(None,
                                                   description="bearer token for the tenant service; default none")
    TENANT_SERVICE_TIMEOUT_S: float = Field(2.0, gt=0, description="per-request timeout; default 2 s")
    CREDENTIAL_CACHE_TTL_S: float = Field(300.0, ge=0,
                                          description="seconds a tenant's credentials are cached; default 300")

    # --- per-tenant protection -------------------------------------------------------------
    BREAKER_FAILURE_THRESHOLD: int = Field(5, ge=1,
                                           description="consecutive failures that open a tenant's breaker; default 5")
    BREAKER_OPEN_SECONDS: float = Field(30.0, gt=0, description="seconds open before a half-open trial; default 30")
    RATE_LIMIT_PER_SECOND: float = Field(20.0, gt=0, description="tokens a tenant's bucket gains a second; default 20")
    RATE_LIMIT_BURST: int = Field(40, ge=1, description="a tenant's bucket size; default 40")
    RATE_LIMIT_MAX_WAIT_S: float = Field(2.0, ge=0,
                                         description="longest wait for a token before requeueing; default 2 s")

    @field_validator("META_API_URL", "TENANT_SERVICE_URL")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"{v!r} is not an http:// or https:// URL")
        return v.rstrip("/")

    @field_validator("OUTBOUND_RETRY_DELAYS_MS", mode="before")
    @classmethod
    def _csv(cls, v: object) -> object:
        return tuple(int(x) for x in v.split(",") if x.strip()) if isinstance(v, str) else v

    def config_problem(self) -> str | None:
        if not self.AMQP_URL.get_secret_value().startswith(("amqp://", "amqps://")):
            return "AMQP_URL must be an amqp:// or amqps:// URL"
        return None


@lru_cache
def get_settings() -> OutboundSettings:
    return OutboundSettings()
