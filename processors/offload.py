"""Large requests are processed on worker threads, not on the event loop.

Processors are CPU-bound Python. Run on the loop, one request of 10⁵ dirty
attributes holds it for seconds, and every other export, the gRPC health
check and the session-health API wait behind it. Off the loop, the
interpreter hands the loop the GIL every switch interval (5 ms), so those stay
responsive while the big request is worked through.

Small requests stay on the loop: for them a thread hop costs more than the
work. Threads, not processes, because a payload's parsed message cannot cross
a process boundary without being serialised again.

Processors may therefore be called from several threads at once: each one
keeps its shared state safe for that (``Processor`` says so).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from processors.api import Payload

T = TypeVar("T")


class Offload:
    """Runs ``work(payload)`` on one of ``workers`` threads when the payload has at least ``min_bytes``
    (and a receiver's parse of a request that large, see ``server.Admission.accept``).

    At most ``workers`` requests are worked on off the loop at once; more wait
    their turn, holding only their bytes (the receiver's own limits bound how
    many can wait).
    """

    def __init__(self, *, min_bytes: int, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.min_bytes = min_bytes
        self.workers = workers
        self._executor: ThreadPoolExecutor | None = None

    def wants(self, payload: Payload) -> bool:
        # An edited payload (a connector's output) has no bytes yet; those are small by construction.
        return not payload.modified and self.large(len(payload.raw))

    def large(self, size: int) -> bool:
        return size >= self.min_bytes

    async def by_size(self, size: int, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)``: on a worker thread when ``size`` bytes are large, here otherwise."""
        if self.large(size):
            return await self.run(work, *args)
        return work(*args)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="otelproc-process")
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def shutdown(self) -> None:
        """After the receivers drained: nothing is in flight, so nothing is waited for."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=False)
            self._executor = None
