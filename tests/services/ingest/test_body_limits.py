"""What ingest reads before it knows who is calling, and how much it reads at all.

The token is checked on the headers, before any of the body is read; the body
is then read as it streams in and refused with 413 at the first byte over the
limit, so a chunked body (no Content-Length) is never buffered whole. These
run on uvicorn (a real socket): the client sends a chunked body and watches
for the answer while it sends.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from tests.services.divan.live import serving
from tests.services.ingest.conftest import AUTH, TOKEN, Ingest, MakeIngest, signed_headers
from tests.support.otel import ADMIN, obs_settings

LIMIT = 64 * 1024
CHUNK = 64 * 1024
BODY_TOTAL = 48 * 1024 * 1024  # far past what loopback socket buffers hold


@pytest.fixture
def served(tmp_path: Any) -> Iterator[str]:
    settings = IngestSettings(WHATSAPP_INGEST_TOKEN=TOKEN, WHATSAPP_INGEST_MAX_BODY_BYTES=LIMIT, ENV="test",
                              WHATSAPP_MEDIA_DIR=tmp_path / "media", WHATSAPP_MEDIA_MAX_BYTES=LIMIT)
    with serving(create_app(settings, obs_settings=obs_settings())) as url:
        yield url


def _send_chunked(url: str, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """POST a chunked body of up to BODY_TOTAL bytes of JSON whitespace, stopping as soon as the
    server answers; (status, body bytes sent before the answer)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    piece = b"%x\r\n" % CHUNK + b" " * CHUNK + b"\r\n"
    sent = 0
    try:
        sock.sendall(head.encode())
        while sent < BODY_TOTAL and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            sent += CHUNK
        if sent >= BODY_TOTAL:
            sock.sendall(b"0\r\n\r\n")
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    finally:
        sock.close()
    return int(status_line.split()[1]), sent


def _totals(url: str) -> dict[str, int]:
    return httpx.get(f"{url}/metrics/whatsapp", headers=ADMIN, timeout=10).json()["totals"]


def test_an_unauthenticated_chunked_body_is_401_before_it_is_read(served: str) -> None:
    status, sent = _send_chunked(served, "/integrations/whatsapp/ingest", {"Content-Type": "application/json"})

    assert status == 401
    assert sent < BODY_TOTAL // 2, f"the server read {sent} bytes before answering"
    assert _totals(served)["auth_failures"] == 1


def test_an_authenticated_chunked_body_over_the_limit_is_413_while_streaming(served: str) -> None:
    status, sent = _send_chunked(served, "/integrations/whatsapp/ingest",
                                 {**AUTH, "Content-Type": "application/json"})

    assert status == 413
    assert sent < BODY_TOTAL // 2, f"the server read {sent} bytes before answering"
    totals = _totals(served)
    assert totals["rejected"] == 1 and totals["auth_failures"] == 0


def test_a_chunked_media_upload_over_the_limit_is_413_while_streaming(served: str) -> None:
    status, sent = _send_chunked(served, "/integrations/whatsapp/media",
                                 {**AUTH, "Content-Type": "image/jpeg", "X-Client-Id": "c1"})

    assert status == 413
    assert sent < BODY_TOTAL // 2, f"the server read {sent} bytes before answering"
    assert _totals(served)["media_failed"] == 1


def test_the_server_answers_normally_after_a_refused_stream(served: str) -> None:
    _send_chunked(served, "/integrations/whatsapp/ingest", {**AUTH, "Content-Type": "application/json"})

    ok = httpx.post(f"{served}/integrations/whatsapp/ingest", headers=AUTH, timeout=10,
                    json={"client_id": "c1", "messages": [{"chat_title": "Deals", "text": "Pixel 8 - $520"}]})
    assert ok.status_code == 200 and ok.json()["created"] == 1


DEEP = b"[" * 200_000


def test_deeply_nested_json_without_a_token_is_401(make_ingest: MakeIngest) -> None:
    app = make_ingest()

    for body in (DEEP, b"[" * 4000):  # over and under the size read for the refusal's client_id
        response = app.client.post("/integrations/whatsapp/ingest", content=body,
                                   headers={"Content-Type": "application/json"})
        assert response.status_code == 401
    snap = app.snapshot()
    assert snap["totals"]["auth_failures"] == 2
    assert [f["client_id"] for f in snap["recent_failures"]] == [None, None]


def test_deeply_nested_json_with_a_token_is_422(make_ingest: MakeIngest) -> None:
    app = make_ingest()

    response = app.client.post("/integrations/whatsapp/ingest", content=DEEP,
                               headers={**AUTH, "Content-Type": "application/json"})

    assert response.status_code == 422
    assert response.json() == {"detail": "Invalid payload"}
    assert app.totals()["rejected"] == 1


def test_deeply_nested_json_with_a_bad_signature_is_403(make_ingest: MakeIngest) -> None:
    from tests.services.ingest.conftest import HMAC_SECRET

    app = make_ingest(WHATSAPP_HMAC_SECRET=HMAC_SECRET)

    response = app.client.post("/integrations/whatsapp/ingest", content=DEEP,
                               headers=signed_headers(DEEP, secret="another-secret"))

    assert response.status_code == 403
    assert app.snapshot()["recent_failures"][0]["client_id"] is None


def test_an_ingest_over_the_message_cap_is_413_and_counted(make_ingest: MakeIngest) -> None:
    app: Ingest = make_ingest(WHATSAPP_INGEST_MAX_MESSAGES=2)

    response = app.post({"client_id": "c1", "messages": [{"text": "x"}] * 3})

    assert response.status_code == 413
    assert app.totals()["rejected"] == 1
