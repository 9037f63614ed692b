"""Chats, messages, offers and media.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_chats",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("chat_key", sa.String(64), nullable=False),
        sa.Column("title", sa.String(256)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("client_id", "chat_key", name="uq_whatsapp_chats_client_id"),
    )
    op.create_table(
        "whatsapp_media",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("message_ref", sa.String(64)),
        sa.Column("mimetype", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("storage_path", sa.String(512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("client_id", "sha256", name="uq_whatsapp_media_client_id"),
    )
    op.create_index("ix_whatsapp_media_message_ref", "whatsapp_media", ["message_ref"])
    op.create_table(
        "whatsapp_messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("chat_id", sa.String(36), sa.ForeignKey("whatsapp_chats.id"), nullable=False),
        sa.Column("client_id", sa.String(128), nullable=False),
        sa.Column("message_key", sa.String(64), nullable=False),
        sa.Column("sender_name", sa.String(128)),
        sa.Column("text", sa.Text),
        sa.Column("is_outgoing", sa.Boolean, nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True)),
        sa.Column("extraction_status", sa.String(16), nullable=False),
        sa.Column("media_document_id", sa.String(36), sa.ForeignKey("whatsapp_media.id")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("client_id", "message_key", name="uq_whatsapp_messages_client_id"),
    )
    op.create_index("ix_whatsapp_messages_chat_id", "whatsapp_messages", ["chat_id"])
    op.create_table(
        "whatsapp_offers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("message_id", sa.String(36), sa.ForeignKey("whatsapp_messages.id"), nullable=False),
        sa.Column("product", sa.String(256), nullable=False),
        sa.Column("price", sa.Numeric(14, 2), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("quantity", sa.Integer),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_whatsapp_offers_message_id", "whatsapp_offers", ["message_id"])


def downgrade() -> None:
    op.drop_table("whatsapp_offers")
    op.drop_table("whatsapp_messages")
    op.drop_table("whatsapp_media")
    op.drop_table("whatsapp_chats")
