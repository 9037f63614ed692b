"""Keep rules, compiled once: by event name, by attribute value, by service."""

from __future__ import annotations

import re
from typing import Any

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from contracts.anyvalue import scalar_text
from processors.log_sampling.config import KeepRules

EVENT_NAME_ATTRIBUTE = "event.name"


def glob_pattern(globs: list[str]) -> re.Pattern[str] | None:
    """One regex for a list of globs where `*` is any run of characters and nothing else is special."""
    if not globs:
        return None
    parts = (".*".join(re.escape(piece) for piece in g.split("*")) for g in globs)
    return re.compile("(?:" + "|".join(parts) + r")\Z")


def _config_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class KeepMatcher:
    """Answers whether a resource, or one record, is named by a keep rule."""

    def __init__(self, rules: KeepRules) -> None:
        self._events = glob_pattern(rules.event_names)
        self._services = glob_pattern(rules.services)
        self._attributes = {k: frozenset(_config_text(v) for v in vs) for k, vs in rules.attributes.items()}
        # Scanning record attributes is the costly part: only do it when some rule needs it.
        self.checks_records = bool(self._events or self._attributes)

    def should_keep_resource(self, resource: Resource, service: str) -> bool:
        if self._services is not None and self._services.match(service):
            return True
        return bool(self._attributes) and self._attributes_match(resource.attributes)

    def should_keep_record(self, record: LogRecord) -> bool:
        events = self._events
        if events is not None and record.event_name and events.match(record.event_name):
            return True
        if not self._attributes and (events is None or record.event_name):
            return False
        for kv in record.attributes:
            key = kv.key
            if (events is not None and key == EVENT_NAME_ATTRIBUTE and not record.event_name
                    and events.match(kv.value.string_value)):
                return True
            wanted = self._attributes.get(key)
            if wanted is not None and scalar_text(kv.value) in wanted:
                return True
        return False

    def _attributes_match(self, attributes: Any) -> bool:
        for kv in attributes:
            wanted = self._attributes.get(kv.key)
            if wanted is not None and scalar_text(kv.value) in wanted:
                return True
        return False
