"""Every config flag of the obs SDK, read from the environment (listed in services/obs/README.md).

OTel knobs keep the SDK's own ``OTEL_*`` names. Those not declared here
(``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``, ``OTEL_TRACES_SAMPLER``,
``OTEL_RESOURCE_ATTRIBUTES`` ...) are read by the OpenTelemetry SDK itself,
since the providers are built without overriding them.
"""

from __future__ import annotations

import re
import warnings
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_MIGRATION_RE = re.compile(r"^\d{1,12}$")


class ObsSettings(BaseSettings):
    """Flags of ``obs.init``. Unknown environment variables are ignored; unknown keyword arguments are errors."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    # --- the obs flags ---------------------------------------------------------
    OBS_ENABLED: bool = Field(True, description="false: no OTel providers export; health and /metrics still served")
    OBS_METRICS_PUBLIC: bool = Field(False, description="true: /metrics and /ops/* need no admin token (dev only)")
    OBS_TRACING_ENABLED: bool = Field(True, description="false: spans are not recorded or exported")
    OTEL_EXPORTER_OTLP_ENDPOINT: str | None = Field(
        None, description="OTLP gRPC endpoint (grpc://, http:// or https://); unset: nothing leaves the process"
    )
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    LOG_SAMPLING_RATE_INFO: float = Field(0.1, ge=0.0, le=1.0, description="share of INFO/DEBUG logs kept locally")
    HEALTH_MIN_MIGRATION: str = Field("0008", description="lowest Alembic revision /health/ready accepts")

    # --- service identity (log fields `service`, `env`, `commit`) --------------
    ENV: Literal["dev", "test", "staging", "prod"] = Field("dev", validation_alias="ENV")
    COMMIT: str = Field("unknown", description="build commit, as logged in every record")
    OTEL_SERVICE_NAME: str | None = Field(None, description="overrides the service_name given to obs.init")

    # --- admin guard and local views ------------------------------------------
    OBS_ADMIN_TOKEN: SecretStr | None = Field(
        None, description="bearer token for /metrics and /ops/*; unset and not public: those answer 401 (fail closed)"
    )
    OBS_METRICS_PATH: str = Field("/metrics", description="where the admin Prometheus view is mounted")
    OBS_INSTRUMENTATION: Literal["opentelemetry", "lean"] = Field(
        "opentelemetry",
        description="where server, Redis and SQL spans come from: opentelemetry-instrumentation-{fastapi,redis,"
                    "sqlalchemy} (opentelemetry, the default), or the obs SDK's own spans (lean: the same spans "
                    "at a lower cost per request, an opt-in performance mode; services/obs/README.md)",
    )
    OBS_HTTP_MESSAGE_SPANS: bool = Field(
        False, description="true: the upstream ASGI instrumentation's per-message 'http send'/'http receive' "
                           "spans too (opentelemetry mode)",
    )
    OBS_LOG_JSON_STDOUT: bool = Field(True, description="write JSON log lines to stderr besides the OTel bridge")
    OBS_EXEMPLAR_INTERVAL_MS: int = Field(
        100, ge=0, description="at most one exemplar offer per metric series per this many ms; 0: every sampled "
                               "measurement, as the SDK does (services/obs/exemplars.py)",
    )

    # --- standard OTel knobs the SDK wiring uses explicitly --------------------
    OTEL_SDK_DISABLED: bool = Field(False, description="the OTel spec's off switch; same effect as OBS_ENABLED=false")
    OTEL_EXPORTER_OTLP_INSECURE: bool | None = Field(
        None, description="plaintext gRPC; unset: plaintext unless the endpoint is https://"
    )
    OTEL_METRIC_EXPORT_INTERVAL: int = Field(60_000, gt=0, description="ms between OTLP metric exports")
    OTEL_METRIC_EXPORT_TIMEOUT: int = Field(30_000, gt=0, description="ms before a metric export is abandoned")

    # --- readiness -------------------------------------------------------------
    HEALTH_REDIS_BUDGET_MS: float = Field(200.0, gt=0, description="Redis PING slower than this fails readiness")
    HEALTH_POSTGRES_BUDGET_MS: float = Field(300.0, gt=0, description="SELECT 1 slower than this fails readiness")
    HEALTH_PROBE_INTERVAL_SECONDS: float = Field(
        15.0, ge=0, description="background probe period feeding the *_up gauges; 0 turns it off"
    )

    @field_validator("OTEL_EXPORTER_OTLP_ENDPOINT", mode="before")
    @classmethod
    def _blank_is_unset(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("OTEL_EXPORTER_OTLP_ENDPOINT")
    @classmethod
    def _endpoint_scheme(cls, v: str | None) -> str | None:
        if v is None:
            return v
        scheme = v.split("://", 1)[0] if "://" in v else ""
        if scheme not in ("", "grpc", "http", "https"):
            raise ValueError(f"OTEL_EXPORTER_OTLP_ENDPOINT: scheme {scheme!r} is not grpc, http or https")
        return v

    @field_validator("HEALTH_MIN_MIGRATION")
    @classmethod
    def _migration_shape(cls, v: str) -> str:
        if not _MIGRATION_RE.match(v):
            raise ValueError(f"HEALTH_MIN_MIGRATION: {v!r} is not a numeric revision like '0008'")
        return v

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper_level(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _public_metrics_only_outside_prod(self) -> ObsSettings:
        if self.OBS_METRICS_PUBLIC and self.ENV == "prod":
            raise ValueError("OBS_METRICS_PUBLIC=true is for dev only; it is refused with ENV=prod")
        if self.OBS_METRICS_PUBLIC and self.ENV != "dev":
            warnings.warn(f"OBS_METRICS_PUBLIC=true with ENV={self.ENV}: /metrics and /ops/* are open", stacklevel=2)
        return self

    # --- derived ---------------------------------------------------------------
    @property
    def exporting(self) -> bool:
        """Whether OTLP leaves the process at all."""
        return self.enabled and self.OTEL_EXPORTER_OTLP_ENDPOINT is not None

    @property
    def enabled(self) -> bool:
        return self.OBS_ENABLED and not self.OTEL_SDK_DISABLED

    @property
    def otlp_target(self) -> tuple[str, bool]:
        """(host:port, insecure) for the gRPC exporters; ``grpc://`` means plaintext, like ``http://``."""
        endpoint = self.OTEL_EXPORTER_OTLP_ENDPOINT or ""
        scheme, _, rest = endpoint.rpartition("://")
        insecure = self.OTEL_EXPORTER_OTLP_INSECURE
        if insecure is None:
            insecure = scheme != "https"
        return rest.rstrip("/"), insecure
