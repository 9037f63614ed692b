"""Redaction processors built the way the pipeline builds them, each with its own self-telemetry."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from processors.api import CreateSettings
from processors.config import validate_component
from processors.redaction.config import RedactionConfig
from processors.redaction.factory import FACTORY
from processors.redaction.redaction import RedactionProcessor
from processors.telemetry import SelfTelemetry

HMAC_KEY = "test-hmac-key-0123456789abcdef"


def build(raw: dict | None = None, telemetry: SelfTelemetry | None = None) -> RedactionProcessor:
    config = validate_component(RedactionConfig, raw or {}, "processors.redaction")
    return FACTORY.create(config, CreateSettings("redaction", telemetry or SelfTelemetry()))


@pytest.fixture
def make_processor() -> Callable[..., RedactionProcessor]:
    return build
