"""Each service started as ``make run`` starts it (uvicorn's factory entrypoint), with
REDIS_URL on a loopback port nothing listens on: one line on stderr that names the
setting (its password masked) and exit status 1, not a traceback or a service that
starts and cannot serve."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.procs import REPO, free_port

PASSWORD = "s3cret-redis-password"
ENV_OF = {
    "ingest": {"WHATSAPP_INGEST_TOKEN": "ingest-token-0123456789abcdef"},
    "session": {},
    "divan": {"JWT_SECRET": "jwt-secret-" + "x" * 32},
}


@pytest.mark.parametrize("service", sorted(ENV_OF))
def test_unreachable_redis_at_startup_is_one_line_and_exit_1(service: str) -> None:
    redis_port = free_port()
    url = f"redis://probe:{PASSWORD}@127.0.0.1:{redis_port}/0"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "ENV")}
    env.update({"REDIS_URL": url, "OTEL_SDK_DISABLED": "true", **ENV_OF[service]})

    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", f"services.{service}.app:create_app",
         "--host", "127.0.0.1", "--port", str(free_port()), "--log-level", "warning"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False,
    )

    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, lines
    assert f"REDIS_URL=redis://probe:***@127.0.0.1:{redis_port}/0" in lines[0]
    assert "unreachable" in lines[0]
    assert PASSWORD not in done.stderr + done.stdout
