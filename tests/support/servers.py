"""Real Redis, PostgreSQL and otelcol, each on a free loopback port."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.procs import REPO, Proc, free_port, require_tool, running, wait_for_port

OTELCOL = REPO / "bin" / "otelcol"


def otelcol_path() -> str:
    return require_tool(str(OTELCOL))


@dataclass
class RedisServer:
    port: int
    proc: Proc

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextlib.contextmanager
def redis_server(tmp: Path) -> Iterator[RedisServer]:
    exe = require_tool("redis-server")
    port = free_port()
    argv = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)]
    with running(argv, port=port, log=tmp / "redis.log") as proc:
        yield RedisServer(port, proc)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return require_tool(name, *(found[-1:] if found else []))


@dataclass
class PostgresServer:
    port: int
    proc: Proc
    datadir: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


def _as_postgres_user() -> list[str]:
    # initdb/postgres refuse to run as root; the Debian package ships a `postgres` user.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def wait_for_postgres(port: int, timeout: float = 30.0) -> None:
    """The port opens before the server takes queries ("the database system is starting up")."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=2) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def postgres_server(tmp: Path) -> Iterator[PostgresServer]:
    initdb, postgres = _pg_bin("initdb"), _pg_bin("postgres")
    # Its own directory, readable by the `postgres` user (pytest's tmp dirs are 0700 root).
    base = Path(tempfile.mkdtemp(prefix="otelpipe-pg-"))
    os.chmod(base, 0o755)
    datadir, sockdir = base / "data", base / "sock"
    sockdir.mkdir()
    wrap = _as_postgres_user()
    if wrap:
        subprocess.run(["chown", "-R", "postgres", str(base)], check=True)
    subprocess.run([*wrap, initdb, "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    port = free_port()
    argv = [*wrap, postgres, "-D", str(datadir), "-p", str(port), "-h", "127.0.0.1", "-k", str(sockdir),
            "-c", "fsync=off", "-c", "full_page_writes=off"]
    proc = Proc(argv, log=tmp / "postgres.log")
    try:
        wait_for_port(port, timeout=30, proc=proc.popen)
        wait_for_postgres(port)
        yield PostgresServer(port, proc, datadir)
    finally:
        proc.stop()
        shutil.rmtree(base, ignore_errors=True)
