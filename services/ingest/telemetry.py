"""The ingest totals, served as JSON and exported as OTLP counters.

``/metrics`` (JSON) reads the in-process totals, per-chat counters and the last
50 failures kept here. Each total is also an OTLP counter named
``pricebot_whatsapp_<total>_total`` (the Datadog gauges are
``pricebot.whatsapp.<total>``). As in obs, the OTLP name is already the
Prometheus name, which the Collector's exporter keeps as it is. Every counter
is registered with a zero, so that each name is in the scrape before its first
event. Failure counters carry a ``reason`` attribute from a fixed set; no
client or chat identifiers go into metric attributes.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.metrics import Counter, Meter

TOTALS = (
    "accepted", "created", "deduped", "extracted", "errors", "skipped",
    "media_uploaded", "media_deduped", "media_failed",
    "auth_failures", "forbidden", "rate_limited", "signature_failures", "replayed", "rejected",
)
CHAT_FIELDS = ("accepted", "created", "deduped", "extracted", "errors", "skipped")
RECENT_FAILURES_KEPT = 50
OTLP_PREFIX = "pricebot_whatsapp_"
_DESCRIPTIONS = {
    "accepted": "Messages accepted by the ingest endpoint",
    "created": "Messages stored for the first time",
    "deduped": "Messages dropped as repeats",
    "extracted": "Stored messages in which at least one offer was found",
    "errors": "Stored messages whose priced lines yielded no usable offer",
    "skipped": "Messages with neither text nor media",
    "media_uploaded": "Media files stored",
    "media_deduped": "Media uploads answered with an already stored file",
    "media_failed": "Media uploads refused (too large, empty, storage error)",
    "auth_failures": "Requests refused with 401 (missing or invalid token, missing signature)",
    "forbidden": "Requests refused with 403 (invalid or stale HMAC signature)",
    "rate_limited": "Requests refused with 429",
    "signature_failures": "Requests whose HMAC signature was missing, malformed, stale, wrong or already used",
    "replayed": "Requests refused with 409: a signature already seen within the signature window",
    "rejected": "Authenticated ingest requests refused for their body (413 too large, 422 invalid)",
}


def otlp_name(total: str) -> str:
    return f"{OTLP_PREFIX}{total}_total"


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Failure:
    """One refused request, as listed in ``recent_failures`` (newest first)."""

    at: str
    status_code: int
    reason: str
    client_id: str | None = None
    chat_title: str | None = None


@dataclass
class _ChatCounters:
    client_id: str
    chat_id: str
    chat_title: str | None
    last_event_at: datetime
    accepted: int = 0
    created: int = 0
    deduped: int = 0
    extracted: int = 0
    errors: int = 0
    skipped: int = 0

    def as_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["last_event_at"] = _iso(self.last_event_at)
        return row


class IngestMetrics:
    """Totals, per-chat counters and recent failures of one process, thread-safe."""

    def __init__(self, meter: Meter) -> None:
        self._lock = threading.Lock()
        self._totals = dict.fromkeys(TOTALS, 0)
        self._chats: dict[tuple[str, str], _ChatCounters] = {}
        self._failures: deque[Failure] = deque(maxlen=RECENT_FAILURES_KEPT)
        self._counters: dict[str, Counter] = {
            name: meter.create_counter(otlp_name(name), unit="{event}", description=_DESCRIPTIONS[name])
            for name in TOTALS
        }
        for counter in self._counters.values():
            counter.add(0)

    def add(self, total: str, amount: int = 1, *, reason: str | None = None) -> None:
        with self._lock:
            self._totals[total] += amount
        self._counters[total].add(amount, {"reason": reason} if reason else None)

    def add_for_chat(self, total: str, *, client_id: str, chat_id: str, chat_title: str | None) -> None:
        """A message-level total, also counted on its chat for /chat/tools/diagnostics."""
        now = _now()
        with self._lock:
            self._totals[total] += 1
            row = self._chats.get((client_id, chat_id))
            if row is None:
                row = self._chats[(client_id, chat_id)] = _ChatCounters(client_id, chat_id, chat_title, now)
            setattr(row, total, getattr(row, total) + 1)
            row.last_event_at = now
        self._counters[total].add(1)

    def failure(self, status_code: int, reason: str, totals: tuple[str, ...], *,
                client_id: str | None = None, chat_title: str | None = None) -> Failure:
        """Count a refused request under each of ``totals`` and keep it among the recent failures."""
        entry = Failure(_iso(_now()), status_code, reason, client_id, chat_title)
        with self._lock:
            for total in totals:
                self._totals[total] += 1
            self._failures.appendleft(entry)
        for total in totals:
            self._counters[total].add(1, {"reason": reason})
        return entry

    def totals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._totals)

    def recent_failures(self) -> list[Failure]:
        with self._lock:
            return list(self._failures)

    def chat_counters(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = [row.as_json() for row in self._chats.values()]
        return sorted(rows, key=lambda r: r["last_event_at"], reverse=True)

    def snapshot(self) -> dict[str, Any]:
        """The ``/metrics/whatsapp`` document."""
        with self._lock:
            totals = dict(self._totals)
            failures = [asdict(f) for f in self._failures]
        return {
            "generated_at": _iso(_now()),
            "totals": totals,
            "counters": self.chat_counters(),
            "recent_failures": failures,
        }
