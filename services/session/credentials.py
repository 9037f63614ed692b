"""Session credentials in SQL, with a checksum that makes damage visible.

The credentials are simulated (random key material in a JSON document) but
handled like real ones: never logged, rotated on each authentication, and
checked on every read. A checksum mismatch is a validation failure; a blob
that no longer decodes is corruption. Either way the session re-pairs.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from services.session.models import SessionCredentials


class CredentialsInvalid(Exception):
    """Stored credentials failed their checksum."""


class CredentialsCorrupt(Exception):
    """Stored credentials no longer decode."""


@dataclass(frozen=True)
class Credentials:
    session_id: str
    version: int
    written_at: datetime


def _checksum(blob: str) -> str:
    return hashlib.sha256(blob.encode()).hexdigest()


class CredentialStore:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def load(self, session_id: str) -> Credentials | None:
        """The stored credentials, None when there are none; raises when they are damaged."""
        with self._sessions() as session:
            row = session.get(SessionCredentials, session_id)
            if row is None:
                return None
            if _checksum(row.blob) != row.checksum:
                raise CredentialsInvalid(session_id)
            try:
                keys = json.loads(row.blob)
            except ValueError:
                raise CredentialsCorrupt(session_id) from None
            if not isinstance(keys, dict) or "noise_key" not in keys:
                raise CredentialsCorrupt(session_id)
            return Credentials(session_id, row.version, row.written_at)

    def write(self, session_id: str, tenant_id: str) -> Credentials:
        """Fresh key material for ``session_id``; returns the new version."""
        blob = json.dumps({"noise_key": secrets.token_hex(32), "registration_id": secrets.randbelow(1 << 14)})
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            row = session.get(SessionCredentials, session_id)
            if row is None:
                row = SessionCredentials(session_id=session_id, tenant_id=tenant_id, version=0)
                session.add(row)
            row.blob, row.checksum, row.version, row.written_at = blob, _checksum(blob), row.version + 1, now
            version = row.version
        return Credentials(session_id, version, now)

    def damage(self, session_id: str, *, keep_checksum: bool) -> None:
        """Simulate damage: bytes changed behind the checksum's back, or a blob that no longer parses.

        ``keep_checksum=False`` rewrites the checksum to match garbage, which only decoding can catch.
        """
        with self._sessions.begin() as session:
            row = session.scalar(select(SessionCredentials).where(SessionCredentials.session_id == session_id))
            if row is None:
                return
            row.blob = row.blob[: len(row.blob) // 2]
            if not keep_checksum:
                row.checksum = _checksum(row.blob)
