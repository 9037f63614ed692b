"""Who may ask the API what: the fleet health is public, everything about one
session needs the admin token (so an id's existence is not told to anyone),
and an Authorization header that is not valid text is a plain 401."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import AsyncIterator

import pytest

from tests.processors.session_health.helpers import FakeClock, Session, make_connector

TOKEN = "auth-test-token"
UNAUTHORIZED = {"error": "missing or invalid admin token"}
GUARDED = ["/session/observe", "/session/alerts", "/session/metrics", "/sessions", "/sessions/s1/health",
           "/sessions/s1/observe", "/sessions/s1/alerts", "/sessions/s1/metrics", "/sessions/nope/health"]


def _get(port: int, path: str, authorization: bytes | None) -> tuple[int, dict[str, str], bytes]:
    # http.client sends a bytes header value as it is, so a test can put any byte on the wire.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path)
        if authorization is not None:
            conn.putheader("Authorization", authorization)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


async def get(port: int, path: str, authorization: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(_get, port, path, authorization)


async def serve(token: str) -> tuple:
    clock = FakeClock()
    conn = make_connector(clock, token=token, evaluation_interval_s=3600, api={"endpoint": "127.0.0.1:0"})
    await conn.start()
    return conn, clock


@pytest.fixture
async def live() -> AsyncIterator[tuple]:
    conn, clock = await serve(TOKEN)
    try:
        yield conn, clock, conn.api.port
    finally:
        await conn.shutdown()


@pytest.mark.parametrize("header", [b"Bearer \xff", b"Bearer \xc3\xa9", b"Bearer " + TOKEN.encode() + b"\xff",
                                    b"\xff\xfe", b"Bearer \x80" + TOKEN.encode()])
async def test_a_header_that_is_not_the_token_in_any_encoding_is_401(live, header: bytes) -> None:
    conn, clock, port = live
    await Session(conn, clock).connect()
    for path in ("/session/observe", "/sessions/s1/observe", "/sessions/s1/health"):
        status, headers, body = await get(port, path, header)
        assert status == 401, (path, header)
        assert json.loads(body) == UNAUTHORIZED
        assert headers["WWW-Authenticate"] == 'Bearer realm="session-health"'
    status, _, _ = await get(port, "/session/observe", b"Bearer " + TOKEN.encode())
    assert status == 200


async def test_a_non_ascii_token_is_compared_as_utf8_bytes() -> None:
    conn, clock = await serve("t\u00f6k\u20acn")
    try:
        await Session(conn, clock).connect()
        status, _, _ = await get(conn.api.port, "/sessions/s1/observe", "Bearer t\u00f6k\u20acn".encode())
        assert status == 200
        status, _, body = await get(conn.api.port, "/sessions/s1/observe", "Bearer t\u00f6k\u20acn".encode("latin-1",
                                                                                                           "replace"))
        assert status == 401 and json.loads(body) == UNAUTHORIZED
    finally:
        await conn.shutdown()


async def test_without_the_token_a_known_and_an_unknown_session_answer_alike(live) -> None:
    conn, clock, port = live
    s = Session(conn, clock)
    await s.connect()
    await s.send("corruption_detected")  # critical: 503 to a token holder
    known, unknown = await get(port, "/sessions/s1/health"), await get(port, "/sessions/nope/health")
    assert known[0] == unknown[0] == 401
    assert json.loads(known[2]) == json.loads(unknown[2]) == UNAUTHORIZED
    assert {k: v for k, v in known[1].items() if k != "Date"} == {k: v for k, v in unknown[1].items() if k != "Date"}

    auth = b"Bearer " + TOKEN.encode()
    status, _, body = await get(port, "/sessions/s1/health", auth)
    assert status == 503 and json.loads(body)["status"] == "critical"
    status, _, body = await get(port, "/sessions/nope/health", auth)
    assert status == 404 and json.loads(body) == {"error": "unknown session", "sessionId": "nope"}


@pytest.mark.parametrize("path", GUARDED)
async def test_every_route_but_the_fleet_health_needs_the_token(live, path: str) -> None:
    conn, clock, port = live
    await Session(conn, clock).connect()
    for header in (None, b"Bearer wrong", TOKEN.encode(), b"Basic x"):
        status, _, body = await get(port, path, header)
        assert status == 401 and json.loads(body) == UNAUTHORIZED, header


async def test_the_fleet_health_is_public(live) -> None:
    conn, clock, port = live
    s = Session(conn, clock)
    await s.connect()
    await conn.evaluate_now()
    status, _, body = await get(port, "/session/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    await s.send("corruption_detected")
    await conn.evaluate_now()
    status, _, body = await get(port, "/session/health", b"Bearer \xff")  # a bad header changes nothing here
    assert status == 503 and json.loads(body)["status"] == "critical"
