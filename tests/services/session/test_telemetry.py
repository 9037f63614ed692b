"""The session service's event counter: every event kind is exported from the start."""

from __future__ import annotations

import logging

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from contracts.session_events import ALL_EVENTS
from services.session.telemetry import EVENTS_COUNTER, EventCounter


def _points(reader: InMemoryMetricReader) -> dict[str, int]:
    data = reader.get_metrics_data()
    return {dp.attributes["event"]: dp.value
            for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if m.name == EVENTS_COUNTER for dp in m.data.data_points}


def test_every_event_kind_is_at_zero_before_its_first_event_and_counts_after():
    reader = InMemoryMetricReader()
    counter = EventCounter(MeterProvider(metric_readers=[reader]).get_meter("test"))
    assert _points(reader) == {name: 0 for name in ALL_EVENTS}
    record = logging.LogRecord("wa", logging.INFO, __file__, 1, "event", None, None)
    record.__dict__["event.name"] = ALL_EVENTS[0]
    counter.emit(record)
    points = _points(reader)
    assert points[ALL_EVENTS[0]] == 1 and sum(points.values()) == 1
