"""The runtime drains every receiver through the Receiver contract, whatever its type."""

from __future__ import annotations

from processors.api import Consumer, Receiver, Signal
from processors.config import ComponentConfig
from processors.registry import Factory, Registry
from tests.processors.conftest import serving


class _Config(ComponentConfig):
    pass


class _Listening(Receiver):
    """A receiver of its own type (not otlp) that records the drain it was given."""

    drains: list[float] = []

    def __init__(self, config, settings) -> None:
        pass

    def attach(self, signal: Signal, consumer: Consumer) -> None:
        pass

    async def drain(self, grace_s: float) -> None:
        type(self).drains.append(grace_s)


class _Quiet(Receiver):
    """A receiver that keeps the contract's default drain."""

    def __init__(self, config, settings) -> None:
        pass

    def attach(self, signal: Signal, consumer: Consumer) -> None:
        pass


def _registry() -> Registry:
    return Registry(extra={"receivers": {
        "listening": Factory(type="listening", config_model=_Config, create=_Listening),
        "quiet": Factory(type="quiet", config_model=_Config, create=_Quiet),
    }})


async def test_stop_drains_a_receiver_of_any_type_with_the_drain_timeout():
    _Listening.drains.clear()
    yaml = """
receivers:
  listening: {}
  quiet: {}
exporters:
  debug: {}
service:
  server: {drain_timeout_s: 3}
  pipelines:
    logs: {receivers: [listening, quiet], exporters: [debug]}
"""
    async with serving(yaml, _registry()):
        assert _Listening.drains == []
    assert _Listening.drains == [3]
