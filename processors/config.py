"""The pipeline config: the Collector's own shape (receivers, processors,
exporters, connectors, service.pipelines) with ``${env:VAR}`` expansion.

Loading fails fast with ``ConfigError``, whose message names the YAML key path
and what was expected, e.g. ``processors.log_sampling.info_ratio: Input should
be less than or equal to 1 (got 1.5)``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from processors.api import Signal


class ConfigError(ValueError):
    """A config problem, with the key path where it was found."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


class ComponentConfig(BaseModel):
    """Base of every component config: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Values under keys like these are never quoted back in an error message: it may be a secret.
_SECRET_KEY = re.compile(r"(key|token|secret|password|passwd|credential|auth)", re.IGNORECASE)


def format_validation_error(prefix: str, exc: ValidationError) -> ConfigError:
    """The first pydantic error, as a ConfigError under ``prefix``, quoting the bad value
    unless the key looks like it holds a secret."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    path = ".".join(p for p in (prefix, loc) if p)
    msg = err["msg"]
    secret = any(_SECRET_KEY.search(str(p)) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif "input" in err and not isinstance(err["input"], dict) and not secret:
        msg = f"{msg} (got {err['input']!r})"
    return ConfigError(path, msg)


def validate_component(model: type[ComponentConfig], raw: Any, path: str) -> ComponentConfig:
    """Build a component config from its YAML mapping, errors under ``path``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path, f"expected a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise format_validation_error(path, exc) from None


# --- the service section ---------------------------------------------------

class PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receivers: list[str] = Field(min_length=1)
    processors: list[str] = Field(default_factory=list)
    exporters: list[str] = Field(min_length=1)


class MetricsTelemetry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str | None = Field(default=None, description="host:port of the self-metrics endpoint; none when unset")


class TelemetrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: MetricsTelemetry = Field(default_factory=MetricsTelemetry)


class ServerSpec(BaseModel):
    """How the server drains (not a Collector key: our own)."""

    model_config = ConfigDict(extra="forbid")
    drain_timeout_s: float = Field(default=10.0, gt=0, description="Seconds to finish in-flight requests on SIGTERM")
    offload_min_bytes: int = Field(
        default=256 * 1024, ge=0,
        description="Requests of at least this many bytes are processed on a worker thread, so that the event loop "
                    "keeps answering health checks and other requests meanwhile (default 262144; 0 = every request)",
    )
    offload_workers: int = Field(
        default=2, ge=1, le=64,
        description="Worker threads for those requests; more wait their turn (default 2)",
    )


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipelines: dict[str, PipelineSpec] = Field(min_length=1)
    telemetry: TelemetrySpec = Field(default_factory=TelemetrySpec)
    server: ServerSpec = Field(default_factory=ServerSpec)

    @field_validator("pipelines")
    @classmethod
    def _pipeline_names(cls, pipelines: dict[str, PipelineSpec]) -> dict[str, PipelineSpec]:
        for name in pipelines:
            signal = name.split("/", 1)[0]
            if signal not in {s.value for s in Signal}:
                raise ValueError(f"pipeline {name!r} must be named traces, metrics or logs (optionally /name)")
        return pipelines


class RootConfig(BaseModel):
    """The whole file. Component bodies stay raw here; their factories validate them."""

    model_config = ConfigDict(extra="forbid")
    receivers: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    processors: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    exporters: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    connectors: dict[str, dict[str, Any] | None] = Field(default_factory=dict)
    service: ServiceSpec


def pipeline_signal(name: str) -> Signal:
    return Signal(name.split("/", 1)[0])


def component_type(component_id: str) -> str:
    """``otlp/processed`` -> ``otlp``."""
    return component_id.split("/", 1)[0]


# --- loading ---------------------------------------------------------------

_ENV_REF = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(node: Any, path: str = "", environ: dict[str, str] | None = None) -> Any:
    """Expand ``${env:VAR}`` / ``${env:VAR:-default}`` in every string.

    A value that is exactly one reference takes the YAML type of what it
    expands to (``${env:RATIO}`` = ``0.5`` becomes a float), as in the Collector.
    An unset variable with no default is an error naming the key path.
    """
    env = os.environ if environ is None else environ
    if isinstance(node, dict):
        return {k: expand_env(v, f"{path}.{k}" if path else str(k), env) for k, v in node.items()}
    if isinstance(node, list):
        return [expand_env(v, f"{path}[{i}]", env) for i, v in enumerate(node)]
    if not isinstance(node, str) or "${" not in node:
        return node

    def value_of(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(path, f"environment variable {name} is not set")

    whole = _ENV_REF.fullmatch(node)
    if whole:
        value = value_of(whole)
        try:
            return yaml.safe_load(value) if value != "" else ""
        except yaml.YAMLError:
            return value  # not a YAML scalar: the text itself, as the Collector does
    return _ENV_REF.sub(value_of, node)


def parse_config(text: str, *, environ: dict[str, str] | None = None) -> RootConfig:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("", f"not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError("", "not valid YAML: nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError("", "the config must be a mapping with receivers, processors, exporters and service")
    data = expand_env(data, environ=environ)
    try:
        return RootConfig.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error("", exc) from None


def load_config(path: str | Path, *, environ: dict[str, str] | None = None) -> RootConfig:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError("", f"cannot read config {p}: {exc.strerror}") from None
    return parse_config(text, environ=environ)
