"""Request and response bodies of the ingest API (the collectors' contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MediaRef(BaseModel):
    """A media file uploaded beforehand through /integrations/whatsapp/media."""

    model_config = ConfigDict(extra="ignore")

    document_id: str = Field(max_length=36)
    mimetype: str | None = Field(None, max_length=128)
    kind: str | None = Field(None, max_length=32)
    caption: str | None = Field(None, max_length=4096)


class IngestMessage(BaseModel):
    # Collectors send extra fields of their own; they are ignored rather than refused.
    model_config = ConfigDict(extra="ignore")

    chat_title: str | None = Field(None, max_length=256)
    chat_id: str | None = Field(None, max_length=256)
    message_id: str | None = Field(None, max_length=256)
    text: str | None = Field(None, max_length=65536)
    sender_name: str | None = Field(None, max_length=128)
    observed_at: datetime | None = None
    is_outgoing: bool = False
    media: MediaRef | None = None


CLIENT_ID_PATTERN = r"^[A-Za-z0-9._:@-]+$"
# The collector's WhatsApp connection as its library names it (Baileys: open, connecting, close).
CONNECTION_STATUS_PATTERN = r"^[a-z][a-z_]{0,31}$"


class IngestBatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    client_id: str = Field(min_length=1, max_length=128, pattern=CLIENT_ID_PATTERN)
    messages: list[IngestMessage] = Field(max_length=10_000)
    connection_status: str | None = Field(None, pattern=CONNECTION_STATUS_PATTERN)


class Heartbeat(BaseModel):
    """A collector's report of its WhatsApp connection, sent whether or not it has messages."""

    model_config = ConfigDict(extra="ignore")

    client_id: str = Field(min_length=1, max_length=128, pattern=CLIENT_ID_PATTERN)
    connection_status: str = Field(pattern=CONNECTION_STATUS_PATTERN)


class HeartbeatResult(BaseModel):
    client_id: str
    connection_status: str
    connected: bool


Status = Literal["created", "deduped", "skipped", "error"]


class Decision(BaseModel):
    index: int
    status: Status
    reason: str | None = None
    whatsapp_message_id: str | None = None
    offers: int = 0
    media_document_id: str | None = None


class IngestResult(BaseModel):
    request_id: str
    accepted: int = 0
    created: int = 0
    deduped: int = 0
    skipped: int = 0
    extracted: int = 0
    errors: int = 0
    created_chats: int = 0
    decisions: list[Decision] = Field(default_factory=list)


class MediaResult(BaseModel):
    status: Literal["queued", "deduped"]
    document_id: str
    sha256: str
    size_bytes: int
