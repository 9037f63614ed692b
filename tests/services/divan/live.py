"""divan-api served by uvicorn on a free loopback port, in a thread of the test process."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from tests.support.procs import free_port, wait_for_port


@contextlib.contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Yield the base URL while uvicorn serves ``app``; stop it (lifespan shutdown included) afterwards."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-divan", daemon=True)
    thread.start()
    try:
        wait_for_port(port, timeout=20)
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
