"""Builds the pipelines of a config: validates every component, resolves
references, wires receivers and connectors to pipeline entries.

Everything that can be wrong with a config is found here, before any socket
opens, and reported as a ConfigError naming the YAML key path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from processors.api import (
    Component,
    Connector,
    CreateSettings,
    Exporter,
    ExportError,
    Payload,
    Processor,
    Receiver,
    Signal,
)
from processors.config import ConfigError, RootConfig, component_type, pipeline_signal, validate_component
from processors.offload import Offload
from processors.registry import Kind, Registry
from processors.status import export_failure, first_failure
from processors.telemetry import SelfTelemetry

log = logging.getLogger("otelproc.pipeline")


@dataclass
class Pipeline:
    """receivers → processors (in order) → every exporter, acknowledged only when all exporters have."""

    name: str
    signal: Signal
    processors: list[tuple[str, Processor]]
    exporters: list[tuple[str, Exporter]]
    telemetry: SelfTelemetry
    offload: Offload | None = None

    async def consume(self, payload: Payload) -> None:
        if self.processors and self.offload is not None and self.offload.wants(payload):
            processed = await self.offload.run(self._process_off_loop, payload)
        else:
            processed = self._process(payload)
        if processed is not None:
            await self._export(*processed)

    def _process(self, payload: Payload) -> tuple[Payload, int] | None:
        """Every processor in order; ``None`` when every item was dropped (the processor counted them)."""
        current: Payload | None = payload
        for proc_id, proc in self.processors:
            t0 = time.perf_counter()
            current = proc.process(current)
            self.telemetry.observe_duration(self.signal.value, proc_id, time.perf_counter() - t0)
            if current is None:
                return None
        return current, current.item_count() if current.parsed else 0

    def _process_off_loop(self, payload: Payload) -> tuple[Payload, int] | None:
        processed = self._process(payload)
        if processed is not None:
            _ = processed[0].raw  # serialise an edited request here too, not on the loop
        return processed

    async def _export(self, payload: Payload, items: int) -> None:
        if len(self.exporters) == 1:
            results: Sequence[BaseException | None] = [await _capture(self.exporters[0][1].export(payload))]
        else:
            results = await asyncio.gather(*(_capture(exp.export(payload)) for _, exp in self.exporters))
        failures: list[ExportError] = []
        for (exp_id, _), err in zip(self.exporters, results, strict=True):
            if err is None:
                self.telemetry.exported(self.signal.value, exp_id, items)
                continue
            if not isinstance(err, ExportError):
                log.exception("exporter %s failed", exp_id, exc_info=err)
            failures.append(export_failure(exp_id, err))
        if failures:
            raise first_failure(failures)


async def _capture(coro: Awaitable[None]) -> BaseException | None:
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # noqa: BLE001 - reported to the caller as a result
        return exc
    return None


class _Fanout:
    """One receiver/connector output feeding several pipelines of a signal."""

    def __init__(self, pipelines: list[Pipeline]) -> None:
        self.pipelines = pipelines

    async def __call__(self, payload: Payload) -> None:
        if len(self.pipelines) == 1:
            await self.pipelines[0].consume(payload)
            return
        # Each pipeline may edit its payload, so each gets its own copy.
        raw = payload.raw
        await asyncio.gather(*(p.consume(Payload(payload.signal, raw=raw)) for p in self.pipelines))


@dataclass
class Service:
    """Every built component and pipeline of one config."""

    pipelines: dict[str, Pipeline]
    receivers: dict[str, Receiver]
    processors: dict[str, Processor]
    exporters: dict[str, Exporter]
    connectors: dict[str, Connector]
    telemetry: SelfTelemetry
    offload: Offload | None = None
    _started: list[Component] = field(default_factory=list)

    async def start(self) -> None:
        # Downstream first, receivers last, so nothing arrives before it can leave.
        order: list[Component] = [*self.exporters.values(), *self.connectors.values(),
                                  *self.processors.values(), *self.receivers.values()]
        for comp in order:
            await comp.start()
            self._started.append(comp)

    async def shutdown(self) -> None:
        # Reverse order: receivers stop (and drain) before what they feed.
        while self._started:
            comp = self._started.pop()
            try:
                await comp.shutdown()
            except Exception:  # keep shutting the rest down
                log.exception("shutting down %s failed", type(comp).__name__)
        if self.offload is not None:
            self.offload.shutdown()


def build_service(config: RootConfig, *, registry: Registry | None = None,
                  telemetry: SelfTelemetry | None = None) -> Service:
    """Validate and construct everything a config names. Raises ConfigError."""
    registry = registry or Registry()
    telemetry = telemetry or SelfTelemetry()
    declared: dict[Kind, dict] = {
        "receivers": config.receivers, "processors": config.processors,
        "exporters": config.exporters, "connectors": config.connectors,
    }

    for cid in config.connectors:
        for other in ("receivers", "exporters"):
            if cid in declared[other]:
                raise ConfigError(f"connectors.{cid}", f"the id is also declared under {other}; ids must be unique")

    used = _check_references(config, declared)

    server = config.service.server
    offload = Offload(min_bytes=server.offload_min_bytes, workers=server.offload_workers)
    built: dict[Kind, dict[str, Component]] = {k: {} for k in declared}
    for kind, ids in used.items():
        for cid in ids:
            built[kind][cid] = _create(registry, kind, cid, declared[kind][cid], telemetry, offload)

    pipelines: dict[str, Pipeline] = {}
    for name, spec in config.service.pipelines.items():
        signal = pipeline_signal(name)
        path = f"service.pipelines.{name}"
        procs = [(pid, built["processors"][pid]) for pid in spec.processors]
        exps: list[tuple[str, Exporter]] = []
        for i, eid in enumerate(spec.exporters):
            kind: Kind = "connectors" if eid in config.connectors else "exporters"
            _check_signal(registry, kind, eid, signal, f"{path}.exporters[{i}]", as_receiver=False)
            exps.append((eid, built[kind][eid]))  # type: ignore[arg-type]
        for i, pid in enumerate(spec.processors):
            _check_signal(registry, "processors", pid, signal, f"{path}.processors[{i}]", as_receiver=False)
        for i, rid in enumerate(spec.receivers):
            kind = "connectors" if rid in config.connectors else "receivers"
            _check_signal(registry, kind, rid, signal, f"{path}.receivers[{i}]", as_receiver=kind == "connectors")
        pipelines[name] = Pipeline(name, signal, procs, exps, telemetry, offload)

    # Wire each receiver and connector output to the pipelines that list it.
    sources: dict[tuple[str, Signal], list[Pipeline]] = {}
    for name, spec in config.service.pipelines.items():
        for rid in spec.receivers:
            sources.setdefault((rid, pipelines[name].signal), []).append(pipelines[name])
    for (rid, signal), targets in sources.items():
        comp = built["connectors"].get(rid) or built["receivers"][rid]
        comp.attach(signal, _Fanout(targets))  # type: ignore[union-attr]

    return Service(
        pipelines=pipelines,
        receivers=built["receivers"],  # type: ignore[arg-type]
        processors=built["processors"],  # type: ignore[arg-type]
        exporters=built["exporters"],  # type: ignore[arg-type]
        connectors=built["connectors"],  # type: ignore[arg-type]
        telemetry=telemetry,
        offload=offload,
    )


def _check_references(config: RootConfig, declared: dict[Kind, dict]) -> dict[Kind, list[str]]:
    """Every id a pipeline names must be declared; returns the ids in use, by kind."""
    used: dict[Kind, list[str]] = {k: [] for k in declared}

    def use(kind: Kind, cid: str) -> None:
        if cid not in used[kind]:
            used[kind].append(cid)

    for name, spec in config.service.pipelines.items():
        path = f"service.pipelines.{name}"
        for i, rid in enumerate(spec.receivers):
            if rid in config.connectors:
                use("connectors", rid)
            elif rid in config.receivers:
                use("receivers", rid)
            else:
                raise ConfigError(f"{path}.receivers[{i}]", _undeclared("receiver", rid, config.receivers))
        for i, pid in enumerate(spec.processors):
            if pid not in config.processors:
                raise ConfigError(f"{path}.processors[{i}]", _undeclared("processor", pid, config.processors))
            use("processors", pid)
        for i, eid in enumerate(spec.exporters):
            if eid in config.connectors:
                use("connectors", eid)
            elif eid in config.exporters:
                use("exporters", eid)
            else:
                raise ConfigError(f"{path}.exporters[{i}]", _undeclared("exporter", eid, config.exporters))
    return used


def _undeclared(what: str, cid: str, declared: dict) -> str:
    known = ", ".join(sorted(declared)) or "none"
    return f"{what} {cid!r} is not declared under {what}s (declared: {known})"


def _create(registry: Registry, kind: Kind, cid: str, raw: Any, telemetry: SelfTelemetry,
            offload: Offload | None = None) -> Component:
    path = f"{kind}.{cid}"
    type_name = component_type(cid)
    factory = registry.get(kind, type_name)
    if factory is None:
        available = ", ".join(registry.available(kind)) or "none"
        raise ConfigError(path, f"unknown {kind[:-1]} type {type_name!r} (available: {available})")
    cfg = validate_component(factory.config_model, raw, path)
    settings = CreateSettings(component_id=cid, telemetry=telemetry,
                              logger=logging.getLogger(f"otelproc.{kind}.{cid}"), offload=offload)
    try:
        return factory.create(cfg, settings)
    except ConfigError as exc:
        raise ConfigError(f"{path}.{exc.path}" if exc.path else path, exc.problem) from None
    except ValueError as exc:
        raise ConfigError(path, f"creating {type_name} {kind[:-1]}: {exc}") from None


def _check_signal(registry: Registry, kind: Kind, cid: str, signal: Signal, path: str, *, as_receiver: bool) -> None:
    factory = registry.get(kind, component_type(cid))
    if factory is None:
        return
    supported = factory.emits if as_receiver else factory.signals
    if signal not in supported:
        names = ", ".join(sorted(s.value for s in supported)) or "none"
        role = "emit" if as_receiver else "accept"
        raise ConfigError(path, f"{cid!r} does not {role} {signal.value} (it supports: {names})")
