"""The ``debug`` exporter: what passes through, written to the log, like the
Collector's debug exporter.

    exporters:
      debug: {verbosity: basic}   # basic | normal | detailed

- ``basic``: one line per request with its counts
  (``traces: 1 resources, 2 scopes, 5 spans``);
- ``normal``: the same line plus the item count of each ``service.name``;
- ``detailed``: the counts, then the whole request as one OTLP/JSON line.

Values are logged as they are at this point of the pipeline: put it after
the redaction processor, or use ``basic``, where nothing but counts is logged.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Literal

from pydantic import Field

from processors.api import CreateSettings, Exporter, Payload, Signal
from processors.config import ComponentConfig
from processors.registry import Factory
from processors.standalone import otlp_json

SERVICE_NAME = "service.name"
_UNKNOWN_SERVICE = "unknown_service"
# (resources, scopes, items) field names of each request type, and what an item is called.
_SHAPE = {
    Signal.TRACES: ("resource_spans", "scope_spans", "spans", "spans"),
    Signal.METRICS: ("resource_metrics", "scope_metrics", "metrics", "metrics"),
    Signal.LOGS: ("resource_logs", "scope_logs", "log_records", "log records"),
}


class DebugExporterConfig(ComponentConfig):
    verbosity: Literal["basic", "normal", "detailed"] = Field(
        default="basic",
        description="Default basic: counts only. normal: counts per service.name. detailed: the whole request.",
    )


class DebugExporter(Exporter):
    def __init__(self, config: DebugExporterConfig, settings: CreateSettings) -> None:
        self.config = config
        self.id = settings.component_id
        self.log = settings.logger.getChild(self.id)

    async def export(self, payload: Payload) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            return
        message = payload.message
        line = f"{self.id}: {summary(payload.signal, message)}"
        if self.config.verbosity == "normal":
            line += " (" + ", ".join(f"{name}={n}" for name, n in per_service(payload.signal, message).items()) + ")"
        self.log.info("%s", line)
        if self.config.verbosity == "detailed":
            self.log.info("%s: %s", self.id, otlp_json.encode(payload.signal, message))


def summary(signal: Signal, request: Any) -> str:
    """``traces: 1 resources, 2 scopes, 5 spans`` (metrics also count data points)."""
    resources_field, scopes_field, items_field, noun = _SHAPE[signal]
    resources = getattr(request, resources_field)
    scopes = [scope for resource in resources for scope in getattr(resource, scopes_field)]
    items = sum(len(getattr(scope, items_field)) for scope in scopes)
    text = f"{signal.value}: {len(resources)} resources, {len(scopes)} scopes, {items} {noun}"
    if signal is Signal.METRICS:
        points = sum(len(getattr(m, kind).data_points) for scope in scopes for m in scope.metrics
                     if (kind := m.WhichOneof("data")) is not None)
        text += f", {points} data points"
    return text


def per_service(signal: Signal, request: Any) -> dict[str, int]:
    """Items per ``service.name`` resource attribute, most first."""
    resources_field, scopes_field, items_field, _ = _SHAPE[signal]
    counts: Counter[str] = Counter()
    for resource in getattr(request, resources_field):
        name = next((kv.value.string_value for kv in resource.resource.attributes if kv.key == SERVICE_NAME),
                    _UNKNOWN_SERVICE)
        counts[name] += sum(len(getattr(scope, items_field)) for scope in getattr(resource, scopes_field))
    return dict(counts.most_common())


FACTORY = Factory(type="debug", config_model=DebugExporterConfig, create=DebugExporter, stability="development")
