"""A real RabbitMQ (Debian's rabbitmq-server) on free loopback ports, without systemd.

Each instance has its own node name, data and log directories, Erlang cookie
and epmd: the AMQP listener (``listeners.tcp.default``), the Erlang
distribution port and the epmd port are all free ports, so that it clashes
with neither a system RabbitMQ nor another test's. The epmd is started here
(in the foreground, so it is ours to stop by PID) before the broker, which
then registers with it instead of spawning a daemon of its own.

``stop()`` and ``start()`` keep the data directory: durable queues and
persistent messages survive, as across a real broker restart.

``make run`` starts one the same way (``services.outbound.localbroker``).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services.outbound.localbroker import (
    broker_env,
    epmd_argv,
    epmd_path,
    rabbitmq_server_path,
)
from tests.support.procs import Proc, free_port, require_tool, wait_for_port


def wait_for_amqp(url: str, timeout: float = 60.0) -> None:
    """The port opens before the broker's boot steps end: wait until a login works."""
    import asyncio

    import aio_pika

    async def attempt() -> None:
        conn = await aio_pika.connect(url, timeout=3)
        await conn.close()

    deadline = time.monotonic() + timeout
    while True:
        try:
            asyncio.run(attempt())
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@dataclass
class RabbitMQServer:
    base: Path
    amqp_port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)
    epmd_port: int = field(default_factory=free_port)
    proc: Proc | None = None
    epmd: Proc | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    def start(self, timeout: float = 90.0) -> None:
        # The resolved path first: Debian's /usr/sbin wrapper would switch to the rabbitmq user.
        server = rabbitmq_server_path() or require_tool("rabbitmq-server")
        epmd = epmd_path() or require_tool("epmd")
        env = broker_env(self.base, self.amqp_port, self.dist_port, self.epmd_port)
        if self.epmd is None or not self.epmd.alive():
            self.epmd = Proc(epmd_argv(epmd, self.epmd_port), log=self.base / "epmd.log", env=env)
            wait_for_port(self.epmd_port, timeout=10, proc=self.epmd.popen)
        self.starts += 1
        self.proc = Proc([server], log=self.base / f"rabbitmq-{self.starts}.log", env=env)
        try:
            wait_for_port(self.amqp_port, timeout=timeout, proc=self.proc.popen)
            wait_for_amqp(self.url, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - whatever failed, stop what was started
            out = self.proc.output()[-4000:]
            self.proc.stop()
            raise RuntimeError(f"rabbitmq-server did not start: {exc}\n--- log ---\n{out}") from None

    def stop(self) -> None:
        """Stop the broker (its data stays); the epmd stays for the next start."""
        if self.proc is not None:
            self.proc.stop(timeout=60)
            self.proc = None

    def close(self) -> None:
        self.stop()
        if self.epmd is not None:
            self.epmd.stop()
            self.epmd = None


@contextlib.contextmanager
def rabbitmq_server(tmp: Path) -> Iterator[RabbitMQServer]:
    # A short path of its own: Erlang's node name and the mnesia directory live under it.
    base = Path(tmp) / "rabbitmq"
    srv = RabbitMQServer(base)
    try:
        srv.start()
        yield srv
    finally:
        srv.close()
        with contextlib.suppress(OSError):
            shutil.rmtree(base / "mnesia")

