"""The SQL store of the session service: the (simulated) credentials of each session."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {"pk": "pk_%(table_name)s", "ix": "ix_%(column_0_label)s"}


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SessionCredentials(Base):
    __tablename__ = "wa_session_credentials"

    session_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(128))
    blob: Mapped[str] = mapped_column(Text)
    # SHA-256 of ``blob`` at write time: a mismatch on read is a validation failure.
    checksum: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
