"""The SQL store of the ingest service: chats, messages, offers and media.

Keys that identify a message or a chat are SHA-256 digests (``message_key``,
``chat_key``), so that dedupe lookups never carry message text, and unique
constraints back the Redis dedupe set when it has been flushed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints, so that migrations are the same on PostgreSQL and SQLite.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _uuid() -> str:
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Chat(Base):
    __tablename__ = "whatsapp_chats"
    __table_args__ = (UniqueConstraint("client_id", "chat_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    client_id: Mapped[str] = mapped_column(String(128))
    chat_key: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class MediaDocument(Base):
    __tablename__ = "whatsapp_media"
    __table_args__ = (UniqueConstraint("client_id", "sha256"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    client_id: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str] = mapped_column(String(64))
    message_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    mimetype: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    storage_path: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Message(Base):
    __tablename__ = "whatsapp_messages"
    __table_args__ = (UniqueConstraint("client_id", "message_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    chat_id: Mapped[str] = mapped_column(ForeignKey("whatsapp_chats.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(128))
    message_key: Mapped[str] = mapped_column(String(64))
    sender_name: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str | None] = mapped_column(Text)
    is_outgoing: Mapped[bool] = mapped_column(Boolean, default=False)
    observed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extraction_status: Mapped[str] = mapped_column(String(16))
    media_document_id: Mapped[str | None] = mapped_column(ForeignKey("whatsapp_media.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class OfferRow(Base):
    __tablename__ = "whatsapp_offers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=_uuid)
    message_id: Mapped[str] = mapped_column(ForeignKey("whatsapp_messages.id"), index=True)
    product: Mapped[str] = mapped_column(String(256))
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
