"""One ingest batch: skip empty messages, dedupe, store, extract offers, count.

Totals are counted only once the batch's transaction has committed, so that a
failed write never shows up as ``created``; Redis dedupe claims of a failed
batch are released so that the client's retry is not taken for a repeat.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from services.ingest.dedupe import DedupeSet
from services.ingest.extraction import extract_offers
from services.ingest.models import Message
from services.ingest.schemas import Decision, IngestBatch, IngestMessage, IngestResult
from services.ingest.store import IngestStore
from services.ingest.telemetry import IngestMetrics

_SEP = "\x1f"


def digest(*parts: str | None) -> str:
    return hashlib.sha256(_SEP.join(p or "" for p in parts).encode()).hexdigest()


def chat_key(client_id: str, message: IngestMessage) -> str:
    return digest(client_id, message.chat_id or message.chat_title or "")


def message_key(client_id: str, chat: str, message: IngestMessage) -> str:
    """The message id when the collector has one; otherwise what makes a repost the same message."""
    if message.message_id:
        return digest(client_id, chat, "id", message.message_id)
    observed = message.observed_at.isoformat() if message.observed_at else ""
    return digest(client_id, chat, "content", message.sender_name, observed, message.text)


@dataclass
class _Counted:
    """A decision plus what it adds to the chat's counters after commit."""

    decision: Decision
    chat_id: str
    chat_title: str | None
    totals: tuple[str, ...]


class Ingestor:
    def __init__(self, store: IngestStore, dedupe: DedupeSet, metrics: IngestMetrics, *,
                 log: logging.Logger) -> None:
        self._log = log
        self._store = store
        self._dedupe = dedupe
        self._metrics = metrics

    def ingest(self, batch: IngestBatch, *, request_id: str) -> IngestResult:
        client_id = batch.client_id
        counted: list[_Counted] = []
        claimed: list[str] = []
        created_chats = 0
        try:
            with self._store.transaction() as session:
                for index, msg in enumerate(batch.messages):
                    chat = chat_key(client_id, msg)
                    label = msg.chat_id or chat[:16]
                    if not (msg.text or "").strip() and msg.media is None:
                        counted.append(_Counted(Decision(index=index, status="skipped", reason="empty_text"),
                                                label, msg.chat_title, ("skipped",)))
                        continue
                    key = message_key(client_id, chat, msg)
                    if not self._dedupe.claim(client_id, key):
                        counted.append(_Counted(Decision(index=index, status="deduped", reason="seen_recently"),
                                                label, msg.chat_title, ("deduped",)))
                        continue
                    claimed.append(key)
                    media_id = None
                    if msg.media is not None:
                        doc = self._store.media_for_client(session, client_id, msg.media.document_id)
                        if doc is None:
                            self._dedupe.release(client_id, key)
                            claimed.remove(key)
                            counted.append(_Counted(Decision(index=index, status="error", reason="unknown_media"),
                                                    label, msg.chat_title, ("errors",)))
                            continue
                        media_id = doc.id
                    chat_row, new_chat = self._store.ensure_chat(
                        session, client_id=client_id, chat_key=chat, title=msg.chat_title)
                    created_chats += int(new_chat)
                    text = "\n".join(t for t in (msg.text, msg.media.caption if msg.media else None) if t)
                    extraction = extract_offers(text)
                    row = Message(
                        chat_id=chat_row.id, client_id=client_id, message_key=key, sender_name=msg.sender_name,
                        text=msg.text, is_outgoing=msg.is_outgoing, observed_at=msg.observed_at,
                        extraction_status=extraction.status, media_document_id=media_id,
                    )
                    if not self._store.add_message(session, row, extraction.offers):
                        counted.append(_Counted(Decision(index=index, status="deduped", reason="already_stored"),
                                                label, msg.chat_title, ("deduped",)))
                        continue
                    totals = ("created",) + {"extracted": ("extracted",), "error": ("errors",)}.get(
                        extraction.status, ())
                    counted.append(_Counted(
                        Decision(index=index, status="created", whatsapp_message_id=row.id,
                                 offers=len(extraction.offers), media_document_id=media_id,
                                 reason=extraction.errors[0] if extraction.status == "error" else None),
                        label, msg.chat_title, totals))
        except Exception:
            for key in claimed:
                self._dedupe.release(client_id, key)
            raise
        return self._count(batch, counted, created_chats, request_id)

    def _count(self, batch: IngestBatch, counted: list[_Counted], created_chats: int,
               request_id: str) -> IngestResult:
        result = IngestResult(request_id=request_id, created_chats=created_chats)
        for item in counted:
            for total in ("accepted", *item.totals):
                self._metrics.add_for_chat(total, client_id=batch.client_id, chat_id=item.chat_id,
                                           chat_title=item.chat_title)
                setattr(result, total, getattr(result, total) + 1)
            result.decisions.append(item.decision)
        self._log.info(
            "ingest batch stored",
            extra={"ingest.client_id": batch.client_id, "ingest.accepted": result.accepted,
                   "ingest.created": result.created, "ingest.deduped": result.deduped,
                   "ingest.extracted": result.extracted, "ingest.errors": result.errors},
        )
        return result
