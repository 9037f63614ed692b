"""Start real servers on free loopback ports and stop exactly those, by PID."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal as _signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


# Below the kernel's ephemeral range (32768-60999 by default): a port handed out here is
# never taken meanwhile as the local end of some outgoing connection, as port 0 could be.
_PORT_RANGE = (20000, 32767)
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on, not handed out before in this process."""
    for _ in range(1000):
        port = random.randint(*_PORT_RANGE)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {_PORT_RANGE}")


def require_tool(name: str, *candidates: str) -> str:
    """Path of a tool; a missing one fails the test (never skips it), saying how to install it."""
    for cand in (name, *candidates):
        found = shutil.which(cand) or (cand if os.path.isabs(cand) and os.access(cand, os.X_OK) else None)
        if found:
            return found
    pytest.fail(f"{name} not found: `make test` installs it (make system-deps, make venv or make collector)")


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 30.0,
                  proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {host}:{port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class Proc:
    """A child process we started; ``stop`` ends that PID and no other."""

    def __init__(self, argv: Sequence[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None):
        self.argv = list(argv)
        self.log_path = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "ab")  # noqa: SIM115 - held for the child's lifetime, closed in stop()
        self.popen = subprocess.Popen(
            self.argv, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            cwd=cwd, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 10.0, sig: int = _signal.SIGTERM) -> int:
        if self.alive():
            os.kill(self.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, _signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()
        return self.popen.returncode

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running(argv: Sequence[str], *, port: int | None, log: Path, env: dict[str, str] | None = None,
            timeout: float = 30.0) -> Iterator[Proc]:
    proc = Proc(argv, log=log, env=env)
    try:
        if port is not None:
            try:
                wait_for_port(port, timeout=timeout, proc=proc.popen)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{argv[0]}: {exc}\n--- log ---\n{proc.output()[-4000:]}") from None
        yield proc
    finally:
        proc.stop()
