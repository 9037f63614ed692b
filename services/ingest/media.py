"""Media uploads: content-addressed files plus a SQL row, deduped twice.

An upload that names a message already holding a file, or whose bytes (by
SHA-256) are already stored, is answered with the stored document instead of
a second copy (per client). Files live under ``<root>/<sha[:2]>/<sha>``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from services.ingest.ingestion import digest
from services.ingest.models import MediaDocument
from services.ingest.schemas import MediaResult
from services.ingest.store import IngestStore
from services.ingest.telemetry import IngestMetrics

MEDIA_KINDS = frozenset({"image", "video", "audio", "document", "sticker"})


class MediaRefused(Exception):
    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


class FileStorage:
    """Write-once files named by their digest."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, sha256: str, data: bytes) -> Path:
        path = self.root / sha256[:2] / sha256
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so that a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


@dataclass(frozen=True)
class Upload:
    client_id: str
    message_id: str | None
    kind: str
    mimetype: str
    data: bytes


class MediaUploads:
    def __init__(self, store: IngestStore, storage: FileStorage, metrics: IngestMetrics, *, max_bytes: int,
                 log: logging.Logger) -> None:
        self._log = log
        self._store = store
        self._storage = storage
        self._metrics = metrics
        self._max_bytes = max_bytes

    def refuse(self, client_id: str, status_code: int, reason: str) -> MediaRefused:
        """Count a refused upload (``media_failed``, recent failures) and return the error to raise."""
        self._metrics.failure(status_code, reason, ("media_failed",), client_id=client_id)
        self._log.warning("media upload refused", extra={"ingest.client_id": client_id, "ingest.reason": reason,
                                                         "http.response.status_code": status_code})
        return MediaRefused(status_code, reason)

    def upload(self, upload: Upload) -> MediaResult:
        if not upload.data:
            raise self.refuse(upload.client_id, 400, "media_empty")
        if len(upload.data) > self._max_bytes:
            raise self.refuse(upload.client_id, 413, "media_too_large")
        if upload.kind not in MEDIA_KINDS:
            raise self.refuse(upload.client_id, 422, "media_kind_unknown")
        sha = hashlib.sha256(upload.data).hexdigest()
        ref = digest(upload.client_id, upload.message_id) if upload.message_id else None
        with self._store.transaction() as session:
            existing = (self._store.media_by_ref(session, upload.client_id, ref) if ref else None) \
                or self._store.media_by_sha(session, upload.client_id, sha)
            if existing is not None:
                self._metrics.add("media_deduped")
                return MediaResult(status="deduped", document_id=existing.id, sha256=existing.sha256,
                                   size_bytes=existing.size_bytes)
            try:
                path = self._storage.put(sha, upload.data)
            except OSError:
                raise self.refuse(upload.client_id, 507, "media_store_failed") from None
            new = MediaDocument(
                client_id=upload.client_id, sha256=sha, message_ref=ref, mimetype=upload.mimetype,
                kind=upload.kind, size_bytes=len(upload.data), storage_path=str(path),
            )
            doc = self._store.add_media(session, new)
            status = "queued" if doc is new else "deduped"
        self._metrics.add("media_uploaded" if status == "queued" else "media_deduped")
        return MediaResult(status=status, document_id=doc.id, sha256=sha, size_bytes=doc.size_bytes)
