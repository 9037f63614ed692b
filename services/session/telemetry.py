"""The session events' own log path, and the service's event counter.

obs samples INFO logs locally (``LOG_SAMPLING_RATE_INFO``, 1:10 by default),
which would drop most ``wa.session.*`` events before the session-health
connector ever saw them; the log sampler keeps records that carry an event name (processors/log_sampling/README.md).
So events go through a logger of their own: the same obs handler (JSON line,
PII filter, OTel logs bridge on the app's logger provider) built with INFO
sampling at 1.0.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.metrics import Meter

from contracts.session_events import ALL_EVENTS
from services.obs import Obs
from services.obs.logging import ObsLogHandler

EVENTS_LOGGER_SUFFIX = "wa_session_events"
EVENTS_COUNTER = "wa_session_events_total"


def events_logger(o: Obs) -> logging.Logger:
    """The logger session events are emitted on, bridged to ``o``'s logger provider and never sampled."""
    logger = logging.getLogger(f"{o.service_name}.{EVENTS_LOGGER_SUFFIX}")
    for old in [h for h in logger.handlers if isinstance(h, ObsLogHandler)]:
        logger.removeHandler(old)
    unsampled = o.settings.model_copy(update={"LOG_SAMPLING_RATE_INFO": 1.0})
    logger.addHandler(ObsLogHandler(unsampled, o.service_name, o.logger_provider))
    logger.setLevel(logging.INFO)
    # Not through the service logger's handler as well: that one samples, and would print the record twice.
    logger.propagate = False
    return logger


class EventCounter(logging.Handler):
    """Counts every event by name in ``wa_session_events_total{event}`` (OTLP), beside the log records."""

    def __init__(self, meter: Meter) -> None:
        super().__init__()
        self._counter = meter.create_counter(EVENTS_COUNTER, unit="{event}",
                                             description="wa.session.* events emitted, by event name")
        # Every kind in the first export at 0, so that rate() and increase() work from the first scrape.
        for name in ALL_EVENTS:
            self._counter.add(0, {"event": name})

    def emit(self, record: logging.LogRecord) -> None:
        name: Any = record.__dict__.get("event.name")
        if isinstance(name, str):
            self._counter.add(1, {"event": name})
