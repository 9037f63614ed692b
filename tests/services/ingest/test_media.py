"""POST /integrations/whatsapp/media: content-addressed files, deduped, counted."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.services.ingest.conftest import AUTH, Ingest, MakeIngest


def _upload(app: Ingest, data: bytes, *, client: str = "c1", message_id: str | None = None,
            headers: dict[str, str] | None = None) -> object:
    h = {**AUTH, "X-Client-Id": client, "Content-Type": "image/jpeg", **(headers or {})}
    if message_id:
        h["X-Message-Id"] = message_id
    return app.client.post("/integrations/whatsapp/media", content=data, headers=h)


def test_an_upload_is_stored_once_by_content(ingest: Ingest, tmp_path: Path) -> None:
    data = b"\xff\xd8jpeg bytes"
    first = _upload(ingest, data).json()
    again = _upload(ingest, data).json()
    other_client = _upload(ingest, data, client="c2").json()

    sha = hashlib.sha256(data).hexdigest()
    assert first["status"] == "queued" and first["sha256"] == sha and first["size_bytes"] == len(data)
    assert again == {**first, "status": "deduped"}
    assert other_client["status"] == "queued" and other_client["document_id"] != first["document_id"]
    assert (tmp_path / "media" / sha[:2] / sha).read_bytes() == data
    totals = ingest.totals()
    assert (totals["media_uploaded"], totals["media_deduped"], totals["media_failed"]) == (2, 1, 0)


def test_a_second_file_for_the_same_message_is_deduped(ingest: Ingest) -> None:
    first = _upload(ingest, b"one", message_id="wamid.1").json()
    second = _upload(ingest, b"two", message_id="wamid.1").json()

    assert second["status"] == "deduped" and second["document_id"] == first["document_id"]


def test_refused_uploads_count_as_media_failures(make_ingest: MakeIngest, pg_url: str, redis_url: str) -> None:
    app = make_ingest(DATABASE_URL=pg_url, REDIS_URL=redis_url, WHATSAPP_MEDIA_MAX_BYTES=128)

    too_large = _upload(app, b"x" * 256)
    empty = _upload(app, b"")
    unknown_kind = _upload(app, b"abc", headers={"X-Media-Kind": "hologram"})

    assert (too_large.status_code, empty.status_code, unknown_kind.status_code) == (413, 400, 422)
    snap = app.snapshot()
    assert snap["totals"]["media_failed"] == 3
    assert [(f["status_code"], f["reason"]) for f in snap["recent_failures"]] == [
        (422, "media_kind_unknown"), (400, "media_empty"), (413, "media_too_large")]


def test_an_unauthenticated_upload_is_an_auth_failure_not_a_media_failure(ingest: Ingest) -> None:
    response = _upload(ingest, b"abc", headers={"Authorization": "Bearer wrong"})

    assert response.status_code == 401
    totals = ingest.totals()
    assert (totals["auth_failures"], totals["media_failed"]) == (1, 0)


def test_a_message_links_its_uploaded_media(ingest: Ingest) -> None:
    doc = _upload(ingest, b"flyer", message_id="wamid.9").json()

    linked = ingest.post({"client_id": "c1", "messages": [
        {"chat_title": "G", "message_id": "wamid.9",
         "media": {"document_id": doc["document_id"], "caption": "Specials: Pixel 8 - $499"}}]}).json()
    unknown = ingest.post({"client_id": "c1", "messages": [
        {"chat_title": "G", "message_id": "wamid.10", "media": {"document_id": "not-a-document"}}]}).json()
    foreign = ingest.post({"client_id": "c2", "messages": [
        {"chat_title": "G", "message_id": "wamid.11", "media": {"document_id": doc["document_id"]}}]}).json()

    assert linked["decisions"][0]["media_document_id"] == doc["document_id"]
    assert linked["decisions"][0]["offers"] == 1  # the caption is read for offers too
    assert unknown["decisions"][0]["status"] == "error" and unknown["decisions"][0]["reason"] == "unknown_media"
    assert foreign["decisions"][0]["reason"] == "unknown_media"
