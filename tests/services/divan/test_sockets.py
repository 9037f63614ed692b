"""Socket.IO over a real server: authenticated connects, the connection gauge, event counts, pushes."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import socketio

from tests.services.divan.conftest import Divan, divan_settings, start_divan
from tests.services.divan.live import serving

SOCKET_PATH = "/ws/socket.io"


def _clients(d: Divan) -> float:
    return d.cap.total("divan_socketio_clients", namespace="/")


@pytest.fixture
def live() -> tuple[Divan, str]:
    for d in start_divan(divan_settings()):
        with serving(d.app) as url:
            yield d, url


async def _connect(url: str, token: str | None) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(url, socketio_path=SOCKET_PATH, auth={"token": token} if token else None,
                         transports=["websocket"], wait_timeout=10)
    return client


def test_connections_move_the_gauge_and_events_are_counted(live: tuple[Divan, str]) -> None:
    d, url = live
    token = d.auth(11)["Authorization"].split()[1]

    async def scenario() -> dict:
        a = await _connect(url, token)
        b = await _connect(url, token)
        connected = _clients(d)
        ack = await a.call("presence:heartbeat", {"campus_id": "main", "lat": 41.0, "lon": 29.0}, timeout=10)
        bad = await a.call("presence:heartbeat", {"campus_id": "main"}, timeout=10)
        await a.disconnect()
        await b.disconnect()
        for _ in range(100):  # the server sees the disconnects a moment later
            if _clients(d) == 0:
                break
            await asyncio.sleep(0.05)
        return {"connected": connected, "ack": ack, "bad": bad}

    out = asyncio.run(scenario())
    assert out["connected"] == 2
    assert out["ack"] == {"ok": True} and out["bad"] == {"ok": False, "reason": "invalid_payload"}
    assert _clients(d) == 0
    assert d.cap.total("divan_socketio_events_total", namespace="/", event="connect") == 2
    assert d.cap.total("divan_socketio_events_total", namespace="/", event="disconnect") == 2
    assert d.cap.total("divan_socketio_events_total", namespace="/", event="presence:heartbeat") == 2
    assert d.cap.total("divan_presence_heartbeats_total", campus_id="main") == 1
    spans = {s.name for s in d.cap.finished_spans()}
    assert {"socketio connect", "socketio presence:heartbeat"} <= spans


def test_a_connect_without_a_valid_token_is_refused_and_not_counted(live: tuple[Divan, str]) -> None:
    d, url = live

    async def scenario() -> None:
        for token in (None, "3.forged"):
            with pytest.raises(socketio.exceptions.ConnectionError):
                await _connect(url, token)

    asyncio.run(scenario())
    assert _clients(d) == 0


def test_a_chat_message_sent_over_http_is_pushed_to_the_recipient(live: tuple[Divan, str]) -> None:
    d, url = live
    token = d.auth(22)["Authorization"].split()[1]

    async def scenario() -> dict:
        received: asyncio.Queue = asyncio.Queue()
        client = await _connect(url, token)
        client.on("chat:message", received.put_nowait)
        async with httpx.AsyncClient(base_url=url) as http:
            resp = await http.post("/chat/messages", json={"to_user": 22, "body": "hello 22"}, headers=d.auth(7))
        assert resp.status_code == 201
        try:
            return await asyncio.wait_for(received.get(), 10)
        finally:
            await client.disconnect()

    message = asyncio.run(scenario())
    assert message["from"] == 7 and message["body"] == "hello 22"
