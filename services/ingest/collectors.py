"""What the ingest service knows of each WhatsApp message collector: its last
reported connection status, when it last reported, and its accepted batches.

Collectors report with ``POST /integrations/whatsapp/heartbeat`` and, when
they like, a ``connection_status`` on each batch. Each known collector is
exported through OTLP (observable instruments, read at every export):

- ``pricebot_whatsapp_collector_connected{client_id}``: 1 when the last report
  said ``open``, else 0;
- ``pricebot_whatsapp_collector_last_seen_timestamp_seconds{client_id}``: Unix
  time of its last report (heartbeat or accepted batch);
- ``pricebot_whatsapp_collector_batches_success_total{client_id}``: batches
  accepted from it, from 0 when it was first seen.

``client_id`` is a label, so the number of collectors tracked is capped
(``max_clients``); a report from a new client past the cap is not tracked and
is counted on ``pricebot_whatsapp_collector_untracked_total{route}``.
Collectors not heard from for ``ttl_s`` are forgotten, freeing their place.
The state is per process: with several replicas, the rules take each
collector's values from the replica that heard from it last.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from opentelemetry.metrics import CallbackOptions, Meter, Observation

OPEN = "open"
CONNECTED = "pricebot_whatsapp_collector_connected"
LAST_SEEN = "pricebot_whatsapp_collector_last_seen_timestamp_seconds"
BATCHES_SUCCESS = "pricebot_whatsapp_collector_batches_success_total"
UNTRACKED = "pricebot_whatsapp_collector_untracked_total"


@dataclass
class Collector:
    client_id: str
    connection_status: str | None  # None until the collector says
    last_seen: float
    batches_success: int = 0

    @property
    def connected(self) -> int:
        return int(self.connection_status == OPEN)


class CollectorFleet:
    """The collectors heard from, at most ``max_clients`` of them; thread-safe."""

    def __init__(self, meter: Meter, *, max_clients: int, ttl_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, Collector] = {}
        self._max = max_clients
        self._ttl = ttl_s
        self._clock = clock
        # No unit: "1" would make the Collector's exporter append _ratio.
        meter.create_observable_gauge(CONNECTED, [self._observe_connected],
                                      description="1 when the collector's last report said its connection was open")
        meter.create_observable_gauge(LAST_SEEN, [self._observe_last_seen], unit="s",
                                      description="Unix time of the collector's last heartbeat or accepted batch")
        meter.create_observable_counter(BATCHES_SUCCESS, [self._observe_batches], unit="{batch}",
                                        description="Batches accepted from the collector since it was first seen")
        self._untracked = meter.create_counter(
            UNTRACKED, unit="{report}",
            description="Heartbeats and batches from collectors past the tracked-collector cap, by route")
        for route in ("heartbeat", "ingest"):
            self._untracked.add(0, {"route": route})

    def report(self, client_id: str, connection_status: str | None, *, batch: bool, route: str) -> bool:
        """Record a report; False (and counted) when ``client_id`` is new and the cap is reached."""
        now = self._clock()
        with self._lock:
            self._forget(now)
            c = self._clients.get(client_id)
            if c is None:
                if len(self._clients) >= self._max:
                    tracked = False
                else:
                    c = self._clients[client_id] = Collector(client_id, None, now)
                    tracked = True
            else:
                tracked = True
            if c is not None:
                c.last_seen = now
                if connection_status is not None:
                    c.connection_status = connection_status
                c.batches_success += int(batch)
        if not tracked:
            self._untracked.add(1, {"route": route})
        return tracked

    def knows(self, client_id: str) -> bool:
        with self._lock:
            return client_id in self._clients

    def full(self) -> bool:
        with self._lock:
            self._forget(self._clock())
            return len(self._clients) >= self._max

    def snapshot(self) -> list[Collector]:
        with self._lock:
            self._forget(self._clock())
            return [Collector(c.client_id, c.connection_status, c.last_seen, c.batches_success)
                    for c in self._clients.values()]

    def _forget(self, now: float) -> None:
        cutoff = now - self._ttl
        for client_id in [k for k, c in self._clients.items() if c.last_seen < cutoff]:
            del self._clients[client_id]

    def _observations(self, value: Callable[[Collector], float]) -> Iterable[Observation]:
        return [Observation(value(c), {"client_id": c.client_id}) for c in self.snapshot()]

    def _observe_connected(self, _: CallbackOptions) -> Iterable[Observation]:
        return self._observations(lambda c: c.connected)

    def _observe_last_seen(self, _: CallbackOptions) -> Iterable[Observation]:
        return self._observations(lambda c: c.last_seen)

    def _observe_batches(self, _: CallbackOptions) -> Iterable[Observation]:
        return self._observations(lambda c: c.batches_success)
