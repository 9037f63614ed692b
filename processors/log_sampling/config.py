"""The ``log_sampling`` processor's config: one field per YAML key.

Every field's description gives its default and how it fails. Validation
errors name the key path and quote the value, e.g.
``processors.log_sampling.info_ratio: Input should be less than or equal to 1 (got 1.5)``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from processors.config import ComponentConfig

SeverityName = Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
Randomness = Literal["hash", "trace_id"]
FallbackKey = Literal["record", "body_template", "body", "attribute"]

# Spellings people write for a level, beyond the six OTel short names.
_SEVERITY_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL", "ERR": "ERROR"}
_BUDGET = re.compile(r"^\s*(?P<n>[0-9]+(?:\.[0-9]*)?)\s*(?:/\s*(?P<unit>s|sec|second|m|min|minute))?\s*$")
_PER_MINUTE = {"m", "min", "minute"}
MAX_HASH_SEED = 2**32 - 1


def _severity_name(value: Any) -> Any:
    if isinstance(value, str):
        upper = value.strip().upper()
        return _SEVERITY_ALIASES.get(upper, upper)
    return value


class KeepRules(ComponentConfig):
    """Records any rule matches are kept whatever their severity, like WARN and above."""

    event_names: list[str] = Field(
        default_factory=list,
        description="Event names to keep (the record's event_name field or its `event.name` attribute); "
        "`*` matches any run of characters, e.g. `wa.session.*`. Default: none.",
    )
    attributes: dict[str, list[str | int | float | bool]] = Field(
        default_factory=dict,
        description="Attribute key -> values to keep; a record (or its resource) whose attribute equals one of "
        "the values is kept. Values compare by their string form (true, 42). Default: none.",
    )
    services: list[str] = Field(
        default_factory=list,
        description="`service.name` values whose records are all kept; `*` globbing as above. Default: none.",
    )

    @field_validator("event_names", "services")
    @classmethod
    def _non_empty_patterns(cls, patterns: list[str]) -> list[str]:
        for p in patterns:
            if not p.strip():
                raise ValueError("patterns must not be empty")
        return patterns

    @field_validator("attributes")
    @classmethod
    def _values_listed(cls, attrs: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in attrs.items():
            if not key:
                raise ValueError("attribute keys must not be empty")
            if not values:
                raise ValueError(f"attribute {key!r} lists no values to keep")
        return attrs


class SamplingConfig(ComponentConfig):
    """Keeps every record at or above a severity, and a trace-consistent fraction of the rest."""

    info_ratio: float = Field(
        default=0.1, gt=0.0, le=1.0,
        description="Fraction of records below keep_severity_at_least that are kept (INFO, DEBUG, TRACE by "
        "default). In adaptive mode, the most that is kept when a service is under its budget. Default 0.1.",
    )
    keep_severity_at_least: SeverityName = Field(
        default="WARN",
        description="Records at or above this level are never dropped. Default WARN.",
    )
    unspecified_severity: SeverityName = Field(
        default="INFO",
        description="The level of a record with no severity number and no readable severity text. "
        "Default INFO (sampled); set WARN to keep such records.",
    )
    keep: KeepRules = Field(default_factory=KeepRules, description="Keep rules. Default: none.")
    randomness: Randomness = Field(
        default="hash",
        description="Where a traced record's randomness comes from: `hash` (a seeded hash of the trace id) or "
        "`trace_id` (its low 56 bits, as in W3C Trace Context level 2 and OTel consistent sampling). "
        "Default hash.",
    )
    hash_seed: int = Field(
        default=0, ge=0, le=MAX_HASH_SEED,
        description="Seed of the hash (uint32). Every replica of one tier must share it; tiers that should "
        "decide independently need different seeds. Default 0.",
    )
    fallback_key: FallbackKey = Field(
        default="record",
        description="What decides a record with no trace id. `record` (default): the record itself, its "
        "timestamps, severity and body, so each record is decided on its own and every kind of message keeps "
        "about info_ratio of its records (a retried record gets the same decision). `body_template`: the body "
        "with numbers and hex ids removed, so all records of one message kind share one decision (a kind is "
        "kept or dropped whole). `body`: the body as is. `attribute`: fallback_attribute's value.",
    )
    fallback_attribute: str | None = Field(
        default=None, validate_default=True,
        description="The record attribute hashed when fallback_key is `attribute`; a record without it falls "
        "back to the body template. Required with fallback_key: attribute.",
    )
    per_service_budget: float | None = Field(
        default=None,
        description="Adaptive mode: the most sampled records per second kept for each `service.name`, as a "
        "number or `N/s` / `N/min`. Default none (a fixed info_ratio).",
    )
    rate_window_s: float = Field(
        default=1.0, gt=0.0, le=60.0,
        description="Adaptive mode: seconds over which each service's record rate is measured. Default 1.",
    )
    max_services: int = Field(
        default=1000, ge=1,
        description="Services tracked by name (rate meters and metric labels); the rest share `_other`. "
        "Default 1000.",
    )
    weight_attribute: str = Field(
        default="sampling.weight", min_length=1,
        description="Attribute that carries 1/ratio on records kept by sampling. Default sampling.weight.",
    )

    @field_validator("keep_severity_at_least", "unspecified_severity", mode="before")
    @classmethod
    def _normalise_severity(cls, value: Any) -> Any:
        return _severity_name(value)

    @field_validator("per_service_budget", mode="before")
    @classmethod
    def _parse_budget(cls, value: Any) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, (int, float)):
            rate = float(value)
        elif isinstance(value, str):
            m = _BUDGET.match(value)
            if m is None:
                raise ValueError("not a rate; expected a number, `N/s` or `N/min`")
            rate = float(m["n"]) / (60.0 if m["unit"] in _PER_MINUTE else 1.0)
        else:
            return value
        if rate <= 0:
            raise ValueError("must be above 0 records/s")
        return rate

    @field_validator("fallback_attribute")
    @classmethod
    def _fallback_attribute_named(cls, value: str | None, info: ValidationInfo) -> str | None:
        # fallback_key is declared first, so it is already in info.data when it was valid.
        if info.data.get("fallback_key") == "attribute" and not value:
            raise ValueError("required when fallback_key is attribute")
        return value

    @property
    def adaptive(self) -> bool:
        return self.per_service_budget is not None
