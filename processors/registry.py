"""Component factories by kind and type, found through entry points.

Our own components are declared in pyproject.toml under the groups
``otelproc.receivers``, ``otelproc.processors``, ``otelproc.exporters`` and
``otelproc.connectors``; a plugin distribution adds its own the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Literal

from processors.api import Component, CreateSettings, Signal
from processors.config import ComponentConfig

Kind = Literal["receivers", "processors", "exporters", "connectors"]
KINDS: tuple[Kind, ...] = ("receivers", "processors", "exporters", "connectors")
_ALL = frozenset(Signal)


@dataclass(frozen=True)
class Factory:
    """How to build one component type.

    For connectors, ``signals`` is what they consume (as an exporter) and
    ``emits`` what they produce (as a receiver).
    """

    type: str
    config_model: type[ComponentConfig]
    create: Callable[[Any, CreateSettings], Component]
    signals: frozenset[Signal] = _ALL
    emits: frozenset[Signal] = field(default_factory=frozenset)
    stability: Literal["development", "alpha", "beta", "stable"] = "alpha"

    def default_config(self) -> ComponentConfig:
        return self.config_model()


class Registry:
    def __init__(self, extra: dict[Kind, dict[str, Factory]] | None = None) -> None:
        self._loaded: dict[Kind, dict[str, Factory]] = {k: {} for k in KINDS}
        self._extra = extra or {}

    def available(self, kind: Kind) -> list[str]:
        names = {ep.name for ep in entry_points(group=f"otelproc.{kind}")}
        return sorted(names | set(self._extra.get(kind, {})))

    def get(self, kind: Kind, type_name: str) -> Factory | None:
        if type_name in self._extra.get(kind, {}):
            return self._extra[kind][type_name]
        if type_name not in self._loaded[kind]:
            eps = [ep for ep in entry_points(group=f"otelproc.{kind}") if ep.name == type_name]
            if not eps:
                return None
            factory = eps[0].load()
            if not isinstance(factory, Factory):
                raise TypeError(f"entry point otelproc.{kind}:{type_name} is not a Factory")
            self._loaded[kind][type_name] = factory
        return self._loaded[kind][type_name]
