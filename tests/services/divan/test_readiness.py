"""Readiness on real Redis and PostgreSQL that stop and come back (services/obs/README.md, Health).

Each test owns its server (tests.support.servers), stops it, checks 503 with
the failing check named, restarts it on the same port and data directory,
and checks 200 again.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.services.divan.conftest import Divan, divan_settings, start_divan
from tests.support.procs import Proc, wait_for_port
from tests.support.servers import postgres_server, redis_server


def _ready(d: Divan) -> tuple[int, dict]:
    resp = d.client.get("/health/ready")
    return resp.status_code, resp.json()


def _ready_within(d: Divan, seconds: float) -> tuple[int, dict]:
    """The first 200 within ``seconds`` (a restarted server takes a moment to accept), else the last answer."""
    deadline = time.monotonic() + seconds
    while True:
        status, body = _ready(d)
        if status == 200 or time.monotonic() > deadline:
            return status, body
        time.sleep(0.1)


def _fast_stop(proc: Proc, datadir: Path) -> None:
    """PostgreSQL's fast shutdown (SIGINT to the postmaster, whose PID it writes to its data directory).

    The default SIGTERM is a smart shutdown, which waits for the app's pooled
    connections; and the process we started may be ``runuser``, which does not
    pass SIGINT on.
    """
    pid_file = datadir / "postmaster.pid"
    if proc.alive() and pid_file.exists():
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
        proc.popen.wait(timeout=20)
    proc.stop()


def _up(d: Divan, dependency: str) -> list[float]:
    return [p.value for name, p in d.cap.metric_points() if name == f"divan_{dependency}_up"]


def test_readiness_follows_redis(tmp_path: Path) -> None:
    with redis_server(tmp_path / "redis") as srv:
        for d in start_divan(divan_settings(REDIS_URL=srv.url)):
            assert _ready(d)[0] == 200 and _up(d, "redis") == [1]

            srv.proc.stop()
            status, body = _ready(d)
            assert status == 503 and body["status"] == "fail"
            assert body["checks"]["redis"]["ok"] is False and "error" in body["checks"]["redis"]
            assert body["checks"]["sqlite"]["ok"] is True and body["checks"]["migrations"]["ok"] is True
            assert _up(d, "redis") == [0]

            again = Proc(srv.proc.argv, log=tmp_path / "redis-again.log")
            try:
                wait_for_port(srv.port, proc=again.popen)
                status, body = _ready_within(d, 10)
                assert status == 200, body
                assert body["checks"]["redis"]["ok"] is True and _up(d, "redis") == [1]
            finally:
                again.stop()


def test_readiness_follows_postgres(tmp_path: Path) -> None:
    with postgres_server(tmp_path / "pg") as srv:
        for d in start_divan(divan_settings(DATABASE_URL=srv.dsn)):
            status, body = _ready(d)
            assert status == 200, body
            assert body["checks"]["migrations"] == {"ok": True, "version": "0003", "required": "0003"}

            _fast_stop(srv.proc, srv.datadir)
            status, body = _ready(d)
            assert status == 503
            assert body["checks"]["postgres"]["ok"] is False and body["checks"]["migrations"]["ok"] is False
            assert body["checks"]["redis"]["ok"] is True
            assert _up(d, "postgres") == [0]

            again = Proc(srv.proc.argv, log=tmp_path / "pg-again.log")
            try:
                wait_for_port(srv.port, proc=again.popen)
                status, body = _ready_within(d, 15)
                assert status == 200, body
                assert _up(d, "postgres") == [1]
            finally:
                _fast_stop(again, srv.datadir)


def test_readiness_wants_the_minimum_migration(postgres_srv, redis_srv) -> None:
    from tests.services.divan.conftest import _reset_postgres

    _reset_postgres(postgres_srv.url)
    for d in start_divan(divan_settings(DATABASE_URL=postgres_srv.dsn, REDIS_URL=redis_srv.url,
                                        DIVAN_AUTO_MIGRATE=False)):
        status, body = _ready(d)
        assert status == 503 and body["checks"]["migrations"]["ok"] is False
        from services.divan import stores

        stores.migrate(d.state.engine, "0002")
        status, body = _ready(d)
        assert status == 503 and body["checks"]["migrations"] == {"ok": False, "version": "0002", "required": "0003"}
        stores.migrate(d.state.engine)
        assert _ready(d)[0] == 200
