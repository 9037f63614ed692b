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


def pipeline_yaml(redaction: str = "{}") -> str:
    """An otelproc config with the redaction processor (``redaction``: its YAML block, indented by
    four spaces after the first line) on every signal, between the otlp receiver and exporter that
    ``tests.support.pipeline.collector_pipeline`` wires to the Collector."""
    return f"""
receivers:
  otlp:
    grpc: {{endpoint: "${{env:OTELPROC_RECEIVER_ENDPOINT}}"}}
processors:
  redaction: {redaction}
exporters:
  otlp: {{endpoint: "${{env:OTELPROC_NEXT_HOP}}"}}
service:
  pipelines:
    traces: {{receivers: [otlp], processors: [redaction], exporters: [otlp]}}
    metrics: {{receivers: [otlp], processors: [redaction], exporters: [otlp]}}
    logs: {{receivers: [otlp], processors: [redaction], exporters: [otlp]}}
  telemetry:
    metrics: {{address: "${{env:OTELPROC_METRICS_ADDRESS}}"}}
"""


def build(raw: dict | None = None, telemetry: SelfTelemetry | None = None) -> RedactionProcessor:
    config = validate_component(RedactionConfig, raw or {}, "processors.redaction")
    return FACTORY.create(config, CreateSettings("redaction", telemetry or SelfTelemetry()))


@pytest.fixture
def make_processor() -> Callable[..., RedactionProcessor]:
    return build
