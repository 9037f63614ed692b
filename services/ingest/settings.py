"""Settings of the WhatsApp ingest service, read from the environment.

Secrets (the ingest token, the HMAC secret) are ``SecretStr``: they print as
``**********`` and are never logged. Backing stores fall back to fakeredis and
a SQLite file when ``REDIS_URL`` / ``DATABASE_URL`` are unset.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.docs import DocsSettings
from services.common.store_settings import StoreSettings

_PLACEHOLDER = "changethis"


class IngestSettings(StoreSettings, DocsSettings):
    """One field per environment variable; required secrets have no default."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    SERVICE_NAME: str = Field("whatsapp-ingest", description="service.name of every signal")
    ENV: Literal["dev", "test", "staging", "prod"] = "dev"

    # --- auth -----------------------------------------------------------------
    WHATSAPP_INGEST_TOKEN: SecretStr = Field(
        description="bearer token (Authorization: Bearer or X-Ingest-Token); required, a missing one fails at startup"
    )
    WHATSAPP_HMAC_SECRET: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("WHATSAPP_HMAC_SECRET", "WHATSAPP_INGEST_HMAC_SECRET"),
        description="when set, every request must carry X-Signature over `timestamp.body` (fails closed)",
    )
    WHATSAPP_SIGNATURE_MAX_AGE_S: int = Field(300, gt=0, description="older X-Signature-Timestamp values are refused")

    # --- limits ---------------------------------------------------------------
    WHATSAPP_INGEST_RATE_LIMIT_PER_MINUTE: int = Field(
        120, ge=1, description="requests per client_id in any sliding 60 s window; more answer 429"
    )
    WHATSAPP_INGEST_MAX_BODY_BYTES: int = Field(1 << 20, gt=0, description="larger ingest bodies answer 413")
    WHATSAPP_INGEST_MAX_MESSAGES: int = Field(500, gt=0, description="messages per batch")
    WHATSAPP_MEDIA_MAX_BYTES: int = Field(16 << 20, gt=0, description="larger media uploads answer 413")
    WHATSAPP_MEDIA_DIR: Path | None = Field(None, description="content-addressed media store; unset: a temp dir")
    DEDUPE_TTL_S: int = Field(7 * 24 * 3600, gt=0, description="how long a message key stays in the Redis dedupe set")

    # --- collectors ------------------------------------------------------------
    WHATSAPP_COLLECTOR_MAX_CLIENTS: int = Field(
        100, ge=1, le=10_000,
        description="default 100: collectors tracked in the per-client_id metrics; reports from more are not tracked "
                    "(a heartbeat answers 422) and are counted",
    )
    WHATSAPP_COLLECTOR_TTL_S: int = Field(
        7 * 24 * 3600, gt=0, description="default 7 days: a collector not heard from for this long is forgotten")

    # --- backing stores (REDIS_URL, DATABASE_URL: StoreSettings) ----------------
    REDIS_KEY_PREFIX: str = Field("ingest:", description="namespace of every Redis key this service writes")

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> IngestSettings:
        for name in ("WHATSAPP_INGEST_TOKEN", "WHATSAPP_HMAC_SECRET"):
            value = getattr(self, name)
            if value is None or value.get_secret_value() != _PLACEHOLDER:
                continue
            message = f'The value of {name} is "{_PLACEHOLDER}", for security, please change it.'
            if self.ENV == "dev":
                warnings.warn(message, stacklevel=1)
            else:
                raise ValueError(message)
        return self


@lru_cache
def get_settings() -> IngestSettings:
    return IngestSettings()  # type: ignore[call-arg]  # required fields come from the environment
