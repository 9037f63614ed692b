"""Adaptive mode on a clock the test controls: the rate meter, the per-service ratio,
and a step load from 100/s to 10,000/s read back from the self-metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from processors.api import CreateSettings
from processors.log_sampling.adaptive import AdaptiveRatio, RateMeter
from processors.log_sampling.config import SamplingConfig
from processors.log_sampling.sampler import LogSampler
from processors.log_sampling.self_metrics import DROPPED, KEPT, RATIO
from processors.telemetry import SelfTelemetry
from tests.processors.log_sampling.builders import Rec, attr, kept_records, payload, random_trace_ids


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def feed(meter: RateMeter, clock: FakeClock, per_s: float, seconds: float, tick: float = 0.01) -> None:
    for _ in range(round(seconds / tick)):
        clock.now += tick
        meter.add(round(per_s * tick), clock.now)


# --- the rate meter ------------------------------------------------------------

def test_a_steady_rate_is_measured() -> None:
    clock, meter = FakeClock(), RateMeter(1.0)
    feed(meter, clock, 500, 3)
    assert meter.rate(clock.now) == pytest.approx(500, rel=0.05)


def test_a_step_up_is_seen_within_two_buckets() -> None:
    clock, meter = FakeClock(), RateMeter(1.0)
    feed(meter, clock, 100, 3)
    feed(meter, clock, 10_000, 0.2)
    assert meter.rate(clock.now) == pytest.approx(10_000, rel=0.05)


def test_a_step_down_is_believed_after_one_window() -> None:
    clock, meter = FakeClock(), RateMeter(1.0)
    feed(meter, clock, 10_000, 3)
    feed(meter, clock, 100, 0.5)
    assert meter.rate(clock.now) > 4_000, "half a window later the burst still counts"
    feed(meter, clock, 100, 0.6)
    assert meter.rate(clock.now) == pytest.approx(100, rel=0.2)


def test_silence_longer_than_the_window_resets_the_meter() -> None:
    clock, meter = FakeClock(), RateMeter(1.0)
    feed(meter, clock, 10_000, 1)
    clock.now += 30
    assert meter.rate(clock.now) == 0


def test_a_clock_that_goes_back_does_not_lose_counts() -> None:
    clock, meter = FakeClock(), RateMeter(1.0)
    feed(meter, clock, 1000, 1)
    before = meter.rate(clock.now)
    meter.add(10, clock.now - 5)
    assert meter.rate(clock.now) >= before


# --- the ratio -------------------------------------------------------------------

def test_the_ratio_is_the_base_under_budget_and_budget_over_rate_above_it() -> None:
    clock = FakeClock()
    adaptive = AdaptiveRatio(base_ratio=1.0, budget=1000, window_s=1.0, clock=clock)
    for _ in range(200):
        clock.now += 0.01
        quiet = adaptive.ratio("quiet", 5)       # 500/s
        busy = adaptive.ratio("busy", 50)        # 5000/s
    assert quiet == 1.0
    assert busy == pytest.approx(0.2, rel=0.05)


def test_the_ratio_never_exceeds_the_configured_one() -> None:
    clock = FakeClock()
    adaptive = AdaptiveRatio(base_ratio=0.3, budget=1000, window_s=1.0, clock=clock)
    for _ in range(200):
        clock.now += 0.01
        r = adaptive.ratio("quiet", 1)
    assert r == 0.3


# --- the step load, through the processor ------------------------------------------

BUDGET = 1000.0
TICK = 0.01


class StepLoad:
    """Drives one sampler tick by tick: each tick is one request holding that tick's records."""

    def __init__(self, info_ratio: float = 1.0, budget: float = BUDGET) -> None:
        self.clock = FakeClock()
        self.telemetry = SelfTelemetry()
        config = SamplingConfig(info_ratio=info_ratio, per_service_budget=budget, rate_window_s=1.0)
        self.sampler = LogSampler(config, CreateSettings("log_sampling", self.telemetry), clock=self.clock)
        self.traces = iter(random_trace_ids(200_000, seed=21))
        self.seq = 0
        self.weighted = {"busy": 0.0, "quiet": 0.0}
        self.sent = {"busy": 0, "quiet": 0}
        self._owed = {"busy": 0.0, "quiet": 0.0}

    def run(self, seconds: float, rates: dict[str, float]) -> None:
        for _ in range(round(seconds / TICK)):
            self.clock.now += TICK
            records = []
            for service, per_s in rates.items():
                self._owed[service] += per_s * TICK
                n = math.floor(self._owed[service] + 1e-9)
                self._owed[service] -= n
                records += [Rec(service=service, trace_id=next(self.traces)) for _ in range(n)]
                self.sent[service] += n
            if not records:
                continue
            out = self.sampler.process_logs(payload(records, first_seq=self.seq))
            self.seq += len(records)
            for service, lr in kept_records(out):
                w = attr(lr, "sampling.weight")
                self.weighted[service] += 1.0 if w is None else w

    def kept(self, service: str) -> float:
        return self.telemetry.value(f"{KEPT}_total", processor="log_sampling", service=service, severity="INFO",
                                    reason="sampled")

    def dropped(self, service: str) -> float:
        return self.telemetry.value(f"{DROPPED}_total", processor="log_sampling", service=service, severity="INFO")

    def ratio(self, service: str) -> float:
        return self.telemetry.value(RATIO, processor="log_sampling", service=service)


def test_a_step_load_keeps_the_busy_service_near_its_budget_and_the_quiet_one_whole() -> None:
    load = StepLoad(info_ratio=1.0)

    # 100/s: under budget, nothing dropped.
    load.run(5, {"busy": 100, "quiet": 50})
    assert load.dropped("busy") == 0 and load.kept("busy") == 500
    assert load.ratio("busy") == 1.0

    # 10,000/s for 10 s: the busy service is held near 1000/s.
    kept_before = load.kept("busy")
    load.run(10, {"busy": 10_000, "quiet": 50})
    kept_in_step = load.kept("busy") - kept_before
    assert kept_in_step == pytest.approx(BUDGET * 10, rel=0.08)
    assert load.ratio("busy") == pytest.approx(BUDGET / 10_000, rel=0.1)
    assert load.dropped("busy") + load.kept("busy") == load.sent["busy"]

    # The quiet service never lost a record and stayed at ratio 1.
    assert load.dropped("quiet") == 0
    assert load.kept("quiet") == load.sent["quiet"]
    assert load.ratio("quiet") == 1.0

    # Back to 100/s: after one window the busy service is whole again.
    load.run(1.5, {"busy": 100, "quiet": 50})
    dropped_before = load.dropped("busy")
    load.run(2, {"busy": 100, "quiet": 50})
    assert load.ratio("busy") == 1.0
    assert load.dropped("busy") == dropped_before


def test_weights_reconstruct_the_step_loads_true_counts() -> None:
    """The ratio changes under the records' feet; each carries the weight it was kept at.

    At a budget of 2000/s about 20 % of 10^5 records are kept, so the estimate's
    standard deviation is about 0.6 %: 2 % is more than three of them.
    """
    load = StepLoad(info_ratio=1.0, budget=2000)
    load.run(2, {"busy": 100, "quiet": 50})
    load.run(10, {"busy": 10_000, "quiet": 50})
    load.run(2, {"busy": 100, "quiet": 50})
    assert load.sent["busy"] > 100_000
    assert load.weighted["busy"] == pytest.approx(load.sent["busy"], rel=0.02)
    assert load.weighted["quiet"] == load.sent["quiet"]


def test_a_quiet_service_returns_to_the_configured_ratio() -> None:
    load = StepLoad(info_ratio=0.5)
    load.run(3, {"busy": 10_000, "quiet": 50})
    assert load.ratio("quiet") == 0.5
    assert load.ratio("busy") == pytest.approx(BUDGET / 10_000, rel=0.1)
