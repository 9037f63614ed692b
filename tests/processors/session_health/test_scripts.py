"""The connector's scripts (processors/session_health/README.md, Scripts) against a
live API: the health check's exit codes and the Slack poller, posting to a local webhook receiver."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from tests.processors.session_health.helpers import FakeClock, Session, make_connector
from tests.support.procs import free_port

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts" / "session_health"
TOKEN = "script-token"


async def run(script: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    base_env = {k: v for k, v in os.environ.items()
                if k not in ("SLACK_WEBHOOK_URL", "SESSION_HEALTH_ADMIN_TOKEN", "SESSION_HEALTH_URL")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPTS / script), *args, env={**base_env, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def live() -> AsyncIterator[tuple]:
    clock = FakeClock()
    conn = make_connector(clock, token=TOKEN, evaluation_interval_s=3600, api={"endpoint": "127.0.0.1:0"})
    await conn.start()
    try:
        yield conn, clock, f"http://127.0.0.1:{conn.api.port}"
    finally:
        await conn.shutdown()


@pytest.fixture
async def slack() -> AsyncIterator[tuple[str, list]]:
    """A local stand-in for Slack's incoming webhook: records what it is sent."""
    got: list = []

    async def hook(request: web.Request) -> web.Response:
        got.append((request.headers.get("Content-Type"), await request.json()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/services/T000/B000/XXXX", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/services/T000/B000/XXXX", got
    finally:
        await runner.cleanup()


async def test_health_check_exit_codes(live) -> None:
    conn, clock, url = live
    s = Session(conn, clock)
    await s.connect()
    await conn.evaluate_now()
    code, out, _ = await run("health_check.py", "--url", url)
    assert (code, out.strip()) == (0, "OK: WhatsApp session healthy")

    clock.advance(61)
    await conn.evaluate_now()
    code, out, _ = await run("health_check.py", "--url", url)
    assert (code, out.strip()) == (1, "WARNING: WhatsApp session has warnings")

    clock.advance(240)
    await conn.evaluate_now()
    code, out, _ = await run("health_check.py", "--url", url)
    assert code == 2
    assert out.startswith("CRITICAL: WhatsApp session unhealthy\n")
    assert json.loads(out.split("\n", 1)[1])["status"] == "critical"

    # One session's health needs the admin token, from the environment.
    code, out, _ = await run("health_check.py", "--session", "s1",
                             env={"SESSION_HEALTH_URL": url, "SESSION_HEALTH_ADMIN_TOKEN": TOKEN})
    assert code == 2  # one session, from the environment's URL
    code, out, _ = await run("health_check.py", "--url", url, "--session", "nobody",
                             env={"SESSION_HEALTH_ADMIN_TOKEN": TOKEN})
    assert code == 3 and "HTTP 404" in out
    code, out, _ = await run("health_check.py", "--url", url, "--session", "s1")
    assert code == 3 and "HTTP 401 (set SESSION_HEALTH_ADMIN_TOKEN)" in out


async def test_health_check_unreachable_is_unknown() -> None:
    code, out, _ = await run("health_check.py", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert code == 3 and out.startswith("UNKNOWN: cannot reach")


async def test_poller_posts_critical_alerts_to_the_webhook(live, slack) -> None:
    conn, clock, url = live
    hook, got = slack
    await Session(conn, clock, "s1").connect()
    await Session(conn, clock, "s2").connect()
    await Session(conn, clock, "s2").send("corruption_detected")
    await conn.evaluate_now()
    env = {"SLACK_WEBHOOK_URL": hook, "SESSION_HEALTH_ADMIN_TOKEN": TOKEN}
    code, out, err = await run("slack_alert_poller.py", "--url", url, env=env)
    assert code == 0, err
    assert got == [("application/json", {"text": "⚠️ SESSION_CORRUPTED: Session data corrupted [s2]"})]
    assert hook not in out + err  # the webhook URL is a secret


async def test_poller_posts_nothing_below_critical(live, slack) -> None:
    conn, clock, url = live
    hook, got = slack
    await Session(conn, clock).connect()
    clock.advance(61)
    await conn.evaluate_now()
    env = {"SLACK_WEBHOOK_URL": hook, "SESSION_HEALTH_ADMIN_TOKEN": TOKEN}
    code, _, _ = await run("slack_alert_poller.py", "--url", url, env=env)
    assert code == 0 and got == []
    code, _, _ = await run("slack_alert_poller.py", "--url", url, "--min-level", "warning", env=env)
    assert code == 0 and got == [("application/json", {"text": "⚠️ HEARTBEAT_STALE: No heartbeat for 61s [s1]"})]


async def test_poller_dry_run_prints_and_needs_no_webhook(live) -> None:
    conn, clock, url = live
    await Session(conn, clock).send("circuit_breaker", **{"wa.circuit_breaker.state": "open",
                                                          "wa.circuit_breaker.consecutive_failures": 3})
    await conn.evaluate_now()
    code, out, _ = await run("slack_alert_poller.py", "--url", url, "--dry-run",
                             env={"SESSION_HEALTH_ADMIN_TOKEN": TOKEN})
    assert code == 0
    assert out.strip() == "[dry-run] ⚠️ CIRCUIT_BREAKER_OPEN: Circuit breaker open after 3 consecutive failures [s1]"


async def test_poller_failures(live) -> None:
    conn, clock, url = live
    code, _, err = await run("slack_alert_poller.py", "--url", url)
    assert code == 2 and "SLACK_WEBHOOK_URL is not set" in err
    # Without the admin token the API answers 401: the poller reports it and fails.
    code, _, err = await run("slack_alert_poller.py", "--url", url, "--dry-run")
    assert code == 1 and "401" in err
