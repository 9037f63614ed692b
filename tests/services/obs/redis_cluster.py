"""A real three-node Redis Cluster on free loopback ports, made with ``redis-cli --cluster create``."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.support.procs import free_port, require_tool, running

NODES = 3


@contextlib.contextmanager
def redis_cluster(tmp: Path) -> Iterator[list[int]]:
    """Three primaries, no replicas, the 16384 slots split between them; yields their ports."""
    server, cli = require_tool("redis-server"), require_tool("redis-cli")
    ports = [free_port() for _ in range(NODES)]
    with contextlib.ExitStack() as stack:
        for port in ports:
            node = tmp / str(port)
            node.mkdir()
            # The bus port is given, not port + 10000, which could land in the kernel's ephemeral range.
            argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", str(node), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-port", str(free_port()), "--cluster-node-timeout", "5000"]
            stack.enter_context(running(argv, port=port, log=node / "redis.log"))
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
                        "--cluster-yes"], check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 30
        for port in ports:
            node = redis.Redis(port=port)
            try:
                while b"cluster_state:ok" not in node.execute_command("CLUSTER", "INFO"):
                    assert time.monotonic() < deadline, f"the cluster node on {port} did not reach cluster_state:ok"
                    time.sleep(0.1)
            finally:
                node.close()
        yield ports
