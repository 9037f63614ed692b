"""One worker process of ``otelproc serve`` with ``service.server.workers`` > 1.

Every worker builds the whole config and serves the receivers on the same
address (SO_REUSEPORT: the kernel spreads connections over the workers).
A few components hold state that must live in one process, so they run in
worker 0, the *primary*, only:

| component                       | why one process                                   |
|---------------------------------|---------------------------------------------------|
| ``session_health`` (memory store) | one fleet view; its API (:8890) and its emitter |
| ``session_health`` (redis store)  | folds in every worker; the API only in worker 0 |
| ``file`` exporter               | one appender per file (rotation, truncating a failed write) |
| ``prometheus`` exporter         | one exposition and its running totals (:8889)     |

In the other workers such a component is a ``Forwarder``: it sends the
request, as processed so far, to the primary over a Unix socket, and the
primary hands it to the real component. The request is acknowledged only
once the real component has taken it; while the primary cannot be reached
(being restarted) the answer is UNAVAILABLE and the sender retries.

Run by the supervisor (processors/supervisor.py) as
``python -m processors.workers --index I --count N --rundir DIR --ready-fd FD``
with the config text on stdin.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from processors.api import (
    Component,
    Connector,
    Consumer,
    CreateSettings,
    ExportError,
    MalformedPayload,
    Payload,
    Signal,
)
from processors.registry import Factory, Kind, Registry

if TYPE_CHECKING:
    from processors.config import ComponentConfig
    from processors.offload import Offload

log = logging.getLogger("otelproc.worker")

FORWARD_METHOD = "/otelproc.internal.Forward/Export"
COMPONENT_KEY = "otelproc-component"
SIGNAL_KEY = "otelproc-signal"
FORWARD_TIMEOUT_S = 30.0  # the primary's exporters have their own timeouts; this bounds a wedged primary
# Component types that live in the primary only (session_health: with the memory store; see the table above).
SINGLETONS: Mapping[Kind, tuple[str, ...]] = {"exporters": ("file", "prometheus"), "connectors": ("session_health",)}
_MAX_MESSAGE = 1024 * 1024 * 1024  # the receivers bound what comes in; the socket is ours


@dataclass(frozen=True)
class Role:
    """Where this process stands among the workers."""

    index: int
    count: int
    rundir: Path

    @property
    def primary(self) -> bool:
        return self.index == 0

    @property
    def forward_socket(self) -> Path:
        return self.rundir / "primary.sock"

    def metrics_socket(self, index: int | None = None) -> Path:
        return self.rundir / f"worker-{self.index if index is None else index}.metrics.sock"


class Forwarder(Connector):
    """Stands in for a primary-only component: ``export`` delivers to the real one in the primary.
    As a connector it emits nothing here (the primary's emits)."""

    def __init__(self, component_id: str, socket_path: Path) -> None:
        self.id = component_id
        self._target = f"unix:{socket_path}"
        self._channel: grpc.aio.Channel | None = None
        self._call = None

    def attach(self, signal: Signal, consumer: Consumer) -> None:
        pass

    async def start(self) -> None:
        self._channel = grpc.aio.insecure_channel(
            self._target, options=[("grpc.max_send_message_length", _MAX_MESSAGE),
                                   ("grpc.max_receive_message_length", _MAX_MESSAGE)])
        self._call = self._channel.unary_unary(FORWARD_METHOD, request_serializer=None, response_deserializer=None)

    async def shutdown(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def export(self, payload: Payload) -> None:
        if self._call is None:
            raise ExportError(f"{self.id}: forwarder not started", retryable=True)
        try:
            await self._call(payload.raw, timeout=FORWARD_TIMEOUT_S, wait_for_ready=False,
                             metadata=((COMPONENT_KEY, self.id), (SIGNAL_KEY, payload.signal.value)))
        except grpc.aio.AioRpcError as exc:
            retryable = exc.code() not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
            raise ExportError(f"{self.id} in the primary worker: {exc.code().name}: {exc.details()}",
                              retryable=retryable) from None


def _forwarding(factory: Factory, role: Role) -> Factory:
    def create(config: ComponentConfig, settings: CreateSettings) -> Component:
        if factory.type == "session_health" and getattr(config, "store", "memory") != "memory":
            # A shared store: fold here too, but serve the API from the primary only.
            api = config.api.model_copy(update={"enabled": False})
            return factory.create(config.model_copy(update={"api": api}), settings)
        return Forwarder(settings.component_id, role.forward_socket)

    return Factory(type=factory.type, config_model=factory.config_model, create=create, signals=factory.signals,
                   emits=factory.emits, stability=factory.stability)


def worker_registry(role: Role, base: Registry | None = None) -> Registry:
    """The primary builds every component; another worker gets forwarders for the primary-only ones."""
    base = base or Registry()
    if role.primary:
        return base
    extra: dict[Kind, dict[str, Factory]] = {}
    for kind, types in SINGLETONS.items():
        for type_name in types:
            factory = base.get(kind, type_name)
            if factory is not None:
                extra.setdefault(kind, {})[type_name] = _forwarding(factory, role)
    return Registry(extra=extra)


def build_forward_server(socket_path: Path, targets: Mapping[str, Connector],
                        offload: Offload | None = None) -> grpc.aio.Server:
    """The primary's side: a request forwarded for component C goes to ``targets[C].export``.

    It arrives as bytes, where a local one would come parsed by the processors before it: a large one
    is parsed on ``offload``'s threads, so that parsing it does not hold the primary's event loop.
    """

    async def forward(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
        meta = dict(context.invocation_metadata() or ())
        target = targets.get(meta.get(COMPONENT_KEY, ""))
        try:
            signal_ = Signal(meta.get(SIGNAL_KEY, ""))
        except ValueError:
            signal_ = None
        if target is None or signal_ is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no primary-only component {meta.get(COMPONENT_KEY)!r}")
        payload = Payload(signal_, raw=raw)
        try:
            if offload is not None:
                await offload.by_size(len(raw), lambda: payload.message)
            await target.export(payload)
        except MalformedPayload as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except ExportError as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE if exc.retryable else grpc.StatusCode.INVALID_ARGUMENT,
                                str(exc))
        return b""

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", _MAX_MESSAGE),
                                      ("grpc.max_send_message_length", _MAX_MESSAGE)])
    handler = grpc.unary_unary_rpc_method_handler(forward, request_deserializer=None, response_serializer=None)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "otelproc.internal.Forward", {"Export": handler}),))
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()  # left by a primary that was killed
    if server.add_insecure_port(f"unix:{socket_path}") == 0:
        raise OSError(f"cannot listen on unix:{socket_path}")
    return server


def _die_with_parent() -> None:
    """SIGTERM this worker when the supervisor dies (Linux), so no worker outlives it unwatched."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="otelproc-worker")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rundir", required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    # A SIGTERM while starting (the supervisor stopping meanwhile) stops the worker once it serves, drained.
    early: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early.append(signum))
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # "the others stopped": only the draining primary acts on it
    _die_with_parent()
    if os.getppid() != args.parent:  # the supervisor died before prctl took effect
        return 1
    logging.basicConfig(level=args.log_level,
                        format=f"%(asctime)s %(levelname)s %(name)s[worker {args.index}]: %(message)s")
    text = sys.stdin.read()
    sys.stdin.close()

    from processors.config import ConfigError, parse_config
    from processors.runtime import Runtime

    role = Role(args.index, args.count, Path(args.rundir))
    try:
        runtime = Runtime(parse_config(text), role=role)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2

    def ready() -> None:
        with contextlib.suppress(OSError):
            os.write(args.ready_fd, b"R")
            os.close(args.ready_fd)

    try:
        return asyncio.run(runtime.run_until_signalled(on_ready=ready, stop_requested=lambda: bool(early)))
    except OSError as exc:
        print(f"otelproc worker {args.index}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
