"""Factory of the ``log_sampling`` processor (logs only)."""

from __future__ import annotations

from processors.api import CreateSettings, Signal
from processors.log_sampling.config import SamplingConfig
from processors.log_sampling.sampler import LogSampler
from processors.registry import Factory

TYPE = "log_sampling"


def default_config() -> SamplingConfig:
    return SamplingConfig()


def create(config: SamplingConfig, settings: CreateSettings) -> LogSampler:
    # A validated config cannot fail to build (globs are escaped, nothing is opened); the
    # pipeline builder prefixes any ValueError with "creating log_sampling processor".
    return LogSampler(config, settings)


FACTORY = Factory(
    type=TYPE,
    config_model=SamplingConfig,
    create=create,
    signals=frozenset({Signal.LOGS}),
    stability="alpha",
)
