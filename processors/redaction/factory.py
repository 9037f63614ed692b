"""The ``redaction`` processor's factory: type, default config, create."""

from __future__ import annotations

from processors.api import CreateSettings
from processors.redaction.config import RedactionConfig
from processors.redaction.redaction import RedactionProcessor
from processors.registry import Factory

TYPE = "redaction"


def default_config() -> RedactionConfig:
    return RedactionConfig()


def create(config: RedactionConfig, settings: CreateSettings) -> RedactionProcessor:
    # Compiles every rule and the scan database once. A pattern that fails raises a
    # ValueError naming its list; the pipeline builder prefixes "creating redaction processor".
    return RedactionProcessor(config, settings)


FACTORY = Factory(type=TYPE, config_model=RedactionConfig, create=create, stability="alpha")
