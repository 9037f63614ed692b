"""SQL operations of the ingest service, one short transaction per request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.extraction import Offer
from services.ingest.models import Chat, MediaDocument, Message, OfferRow


class IngestStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # --- chats and messages ---------------------------------------------------
    def ensure_chat(self, session: Session, *, client_id: str, chat_key: str, title: str | None) -> tuple[Chat, bool]:
        """The chat row and whether it was created now."""
        found = session.scalar(select(Chat).where(Chat.client_id == client_id, Chat.chat_key == chat_key))
        if found is not None:
            return found, False
        chat = Chat(client_id=client_id, chat_key=chat_key, title=title)
        try:
            with session.begin_nested():
                session.add(chat)
        except IntegrityError:  # another request created it meanwhile
            found = session.scalar(select(Chat).where(Chat.client_id == client_id, Chat.chat_key == chat_key))
            assert found is not None
            return found, False
        return chat, True

    def add_message(self, session: Session, message: Message, offers: list[Offer]) -> bool:
        """Store a message and its offers; False when (client_id, message_key) is already stored."""
        try:
            with session.begin_nested():
                session.add(message)
                session.flush()
                session.add_all(
                    OfferRow(message_id=message.id, product=o.product, price=o.price, currency=o.currency,
                             quantity=o.quantity)
                    for o in offers
                )
        except IntegrityError:
            return False
        return True

    # --- media ----------------------------------------------------------------
    def media_by_sha(self, session: Session, client_id: str, sha256: str) -> MediaDocument | None:
        return session.scalar(
            select(MediaDocument).where(MediaDocument.client_id == client_id, MediaDocument.sha256 == sha256)
        )

    def media_by_ref(self, session: Session, client_id: str, message_ref: str) -> MediaDocument | None:
        return session.scalar(
            select(MediaDocument).where(MediaDocument.client_id == client_id, MediaDocument.message_ref == message_ref)
        )

    def media_for_client(self, session: Session, client_id: str, document_id: str) -> MediaDocument | None:
        doc = session.get(MediaDocument, document_id)
        return doc if doc is not None and doc.client_id == client_id else None

    def add_media(self, session: Session, document: MediaDocument) -> MediaDocument:
        """Store a media row; on a concurrent upload of the same bytes, the row that won."""
        try:
            with session.begin_nested():
                session.add(document)
        except IntegrityError:
            winner = self.media_by_sha(session, document.client_id, document.sha256)
            assert winner is not None
            return winner
        return document

    # --- diagnostics ----------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        with self._sessions() as session:
            return {
                "chats": session.scalar(select(func.count()).select_from(Chat)) or 0,
                "messages": session.scalar(select(func.count()).select_from(Message)) or 0,
                "offers": session.scalar(select(func.count()).select_from(OfferRow)) or 0,
                "media": session.scalar(select(func.count()).select_from(MediaDocument)) or 0,
            }
