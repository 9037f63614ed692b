"""divan-api settings: the obs flags plus the service's own."""

from __future__ import annotations

import warnings
from functools import lru_cache
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from services.common.docs import DocsSettings
from services.common.stores import sqlalchemy_url
from services.obs import ObsSettings

_DEFAULT_SECRET = "changethis"
_MIN_SECRET_LEN = 32


class Settings(ObsSettings, DocsSettings):
    REDIS_URL: str | None = Field(None, description="redis://...; unset: an in-process fakeredis")
    DATABASE_URL: str | None = Field(None, description="postgresql://...; unset: an in-memory SQLite")
    JWT_SECRET: SecretStr = Field(SecretStr(_DEFAULT_SECRET), description="signs user tokens")
    # divan's own migrations end at 0003 (0008 was the number in the codebase it was taken from).
    HEALTH_MIN_MIGRATION: str = "0003"
    DIVAN_AUTO_MIGRATE: bool = Field(True, description="run Alembic upgrade head when the app is built")
    DIVAN_CAMPUSES: tuple[str, ...] = Field(("main", "north", "south"), description="campus ids (metric label values)")
    PRESENCE_TTL_SECONDS: int = Field(90, gt=0)
    PRESENCE_MIN_INTERVAL_SECONDS: float = Field(5.0, ge=0, description="faster heartbeats are rejected (too_frequent)")

    @model_validator(mode="after")
    def _secret_not_default(self) -> Settings:
        if self.JWT_SECRET.get_secret_value() == _DEFAULT_SECRET:
            message = 'The value of JWT_SECRET is "changethis", for security, please change it'
            if self.ENV in ("dev", "test"):
                warnings.warn(message, stacklevel=1)
            else:
                raise ValueError(message)
        return self

    @property
    def sqlalchemy_url(self) -> str | None:
        """DATABASE_URL with the psycopg 3 driver named, as SQLAlchemy wants it."""
        url = self.DATABASE_URL
        return sqlalchemy_url(url) if url else url

    def config_problem(self) -> str | None:
        """Startup validation: store URLs and JWT secret length (values never echoed)."""
        if self.REDIS_URL and urlsplit(self.REDIS_URL).scheme not in ("redis", "rediss", "unix"):
            return "REDIS_URL must be a redis://, rediss:// or unix:// URL"
        if self.DATABASE_URL:
            scheme = urlsplit(self.DATABASE_URL).scheme
            if not scheme.startswith(("postgresql", "postgres", "sqlite")):
                return "DATABASE_URL must be a postgresql:// or sqlite:// URL"
        if self.ENV not in ("dev", "test") and len(self.JWT_SECRET.get_secret_value()) < _MIN_SECRET_LEN:
            return f"JWT_SECRET must be at least {_MIN_SECRET_LEN} characters"
        return None


@lru_cache
def get_settings() -> Settings:
    return Settings()
