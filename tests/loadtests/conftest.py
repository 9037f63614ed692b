"""Fixtures of the load tests: the seed services as `make run` starts them (uvicorn's factory, a process of
their own on a free loopback port) on the session's real Redis and a PostgreSQL database of their own, and
Locust run headless as `make load` runs it."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.procs import REPO, Proc, free_port, wait_for_port
from tests.support.servers import PostgresServer, RedisServer

SECRETS = {
    "WHATSAPP_INGEST_TOKEN": secrets.token_hex(16), "WHATSAPP_HMAC_SECRET": secrets.token_hex(16),
    "OBS_ADMIN_TOKEN": secrets.token_hex(16), "JWT_SECRET": secrets.token_hex(32),
}
# The services' own telemetry is not under test here: no exporter competes with the load for the CPU.
QUIET = {"OTEL_SDK_DISABLED": "true", "OBS_LOG_JSON_STDOUT": "false", "ENV": "test"}


def _clean_env() -> dict[str, str]:
    drop = ("REDIS_URL", "DATABASE_URL", "ENV", "OTELPIPE_FAULTS_ENABLED", "OTELPIPE_FAULT_DELAY_MS",
            "OTELPIPE_FAULT_ERROR_RATE", "OTELPIPE_FAULT_ERROR_STATUS")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("LOCUST_")}


def faults(*, delay_ms: float = 0, error_rate: float = 0) -> dict[str, str]:
    return {"OTELPIPE_FAULTS_ENABLED": "true", "OTELPIPE_FAULT_DELAY_MS": str(delay_ms),
            "OTELPIPE_FAULT_ERROR_RATE": str(error_rate)}


@dataclass
class Service:
    name: str
    url: str
    proc: Proc


@contextlib.contextmanager
def database(pg: PostgresServer) -> Iterator[str]:
    name = f"loadtests_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def service(name: str, tmp: Path, redis: RedisServer, pg: PostgresServer, **env: str) -> Iterator[Service]:
    """One service process on real Redis (a key prefix of its own) and a database of its own."""
    port = free_port()
    with database(pg) as db_url:
        full_env = {**_clean_env(), **SECRETS, **QUIET, "REDIS_URL": redis.url, "DATABASE_URL": db_url,
                    "REDIS_KEY_PREFIX": f"lt-{uuid.uuid4().hex[:8]}:", **env}
        argv = [sys.executable, "-m", "uvicorn", "--factory", f"services.{name}.app:create_app",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        proc = Proc(argv, log=tmp / f"{name}-{port}.log", env=full_env, cwd=REPO)
        try:
            try:
                wait_for_port(port, timeout=60, proc=proc.popen)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{name} did not start: {exc}\n{proc.output()[-3000:]}") from None
            yield Service(name, f"http://127.0.0.1:{port}", proc)
        finally:
            proc.stop()


@dataclass
class LocustRun:
    returncode: int
    output: str


def run_locust(locustfile: str, host: str, *args: str, tmp: Path, env: dict[str, str] | None = None,
               timeout: float = 90) -> LocustRun:
    """``locust -f loadtests/<file> --headless`` as `make load` runs it, CSV and HTML reports in ``tmp``."""
    argv = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / locustfile), "--headless",
            "--host", host, "--only-summary", "--csv", str(tmp / "locust"), "--html", str(tmp / "locust.html"),
            "--stop-timeout", "2", *args]
    done = subprocess.run(argv, cwd=REPO, env={**_clean_env(), **SECRETS, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout, check=False)
    return LocustRun(done.returncode, done.stdout + done.stderr)
