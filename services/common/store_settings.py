"""The settings of a service's backing stores (see ``services.common.stores``)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings


class StoreSettings(BaseSettings):
    """REDIS_URL and DATABASE_URL; unset or blank, the service runs on fakeredis and a SQLite file."""

    REDIS_URL: str | None = Field(None, description="unset: fakeredis in process, same code path")
    DATABASE_URL: str | None = Field(None, description="unset: a SQLite file in a temp dir, same code path")

    @field_validator("REDIS_URL", "DATABASE_URL", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v
