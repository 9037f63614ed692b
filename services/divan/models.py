"""Tables (SQLAlchemy Core). The schema itself is created by the Alembic migrations."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, ForeignKey, Integer, MetaData, String, Table, Text

metadata = MetaData()

invites = Table(
    "invites", metadata,
    Column("id", Integer, primary_key=True),
    Column("from_user", Integer, nullable=False),
    Column("to_user", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
friendships = Table(
    "friendships", metadata,
    Column("id", Integer, primary_key=True),
    Column("user_a", Integer, nullable=False),
    Column("user_b", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
messages = Table(
    "messages", metadata,
    Column("id", Integer, primary_key=True),
    Column("sender", Integer, nullable=False),
    Column("recipient", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("read_at", DateTime(timezone=True)),
)
rooms = Table(
    "rooms", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False),
    Column("created_by", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
room_members = Table(
    "room_members", metadata,
    Column("room_id", Integer, ForeignKey("rooms.id"), primary_key=True),
    Column("user_id", Integer, primary_key=True),
)
room_messages = Table(
    "room_messages", metadata,
    Column("id", Integer, primary_key=True),
    Column("room_id", Integer, ForeignKey("rooms.id"), nullable=False),
    Column("sender", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)
activities = Table(
    "activities", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("created_by", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
)
lb_snapshots = Table(
    "lb_snapshots", metadata,
    Column("id", Integer, primary_key=True),
    Column("period", String(16), nullable=False),
    Column("scope", String(64), nullable=False),
    Column("taken_at", DateTime(timezone=True), nullable=False),
    Column("entries", Text, nullable=False),
)
