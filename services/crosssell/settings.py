"""Settings of the cross-sell platform (API and Celery worker), read from the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.common.docs import DocsSettings
from services.obs import ObsSettings


class CrossSellSettings(ObsSettings, DocsSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    REDIS_URL: str = Field("redis://127.0.0.1:6379/0",
                           description="Celery broker and result store; default redis://127.0.0.1:6379/0")
    CELERY_QUEUE: str = Field("crosssell", min_length=1,
                              description="the Celery queue the worker consumes; default crosssell")
    CROSSSELL_ACCOUNTS: int = Field(2000, ge=50, le=200_000,
                                    description="generated accounts the model trains on; default 2000")
    CROSSSELL_SEED: int = Field(7, description="seed of the generated account data; default 7")
    CROSSSELL_HIGH_CONFIDENCE: float = Field(0.6, gt=0, lt=1,
                                             description="confidence of a high-confidence recommendation; default 0.6")
    CROSSSELL_MIN_CONFIDENCE: float = Field(0.2, ge=0, lt=1,
                                            description="below it no recommendation is made; default 0.2")
    SALESFORCE_URL: str = Field("http://127.0.0.1:8007",
                                description="Salesforce (stand-in) base URL; default http://127.0.0.1:8007")
    CROSSSELL_ORGS: tuple[str, ...] = Field(("org-east", "org-west"),
                                            description="Salesforce orgs synced; default org-east, org-west")

    @field_validator("SALESFORCE_URL")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"SALESFORCE_URL: {v!r} is not an http:// or https:// URL")
        return v.rstrip("/")


@lru_cache
def get_settings() -> CrossSellSettings:
    return CrossSellSettings()
