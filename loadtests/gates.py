"""Pass/fail gates for the Locust files, checked when Locust quits.

``install(title, gates)`` registers a ``quitting`` listener that checks each
gate against Locust's stats for one request name, prints one ``GATE`` line per
gate and, on any breach, an ``ALERT:`` stanza naming each failed gate and its
measured value. It sets the process exit code: 0 when every gate holds (even
if a few requests failed within the budget), 1 on a breach. A gate over a
request name that saw no requests fails: a load that did not run proves nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from locust import events
from locust.runners import WorkerRunner


@dataclass(frozen=True)
class Gate:
    """``kind`` "p95_ms": the request's 95th percentile below ``threshold`` ms;
    "fail_ratio": its share of failed (non-2xx) requests below ``threshold``."""

    name: str
    request: str
    method: str
    kind: str
    threshold: float

    def measure(self, stats: Any) -> tuple[float | None, int]:
        entry = stats.get(self.request, self.method)
        if not entry.num_requests:
            return None, 0
        if self.kind == "p95_ms":
            return float(entry.get_response_time_percentile(0.95)), entry.num_requests
        return entry.num_failures / entry.num_requests, entry.num_requests

    def describe(self, value: float | None) -> str:
        if value is None:
            return "no requests"
        return f"{value:.0f} ms" if self.kind == "p95_ms" else f"{100 * value:.2f} %"

    def limit(self) -> str:
        return f"< {self.threshold:g} ms" if self.kind == "p95_ms" else f"< {100 * self.threshold:g} %"


@dataclass(frozen=True)
class Verdict:
    gate: Gate
    value: float | None
    requests: int

    @property
    def ok(self) -> bool:
        return self.value is not None and self.value < self.gate.threshold


def evaluate(stats: Any, gates: Sequence[Gate]) -> list[Verdict]:
    return [Verdict(g, *g.measure(stats)) for g in gates]


def render(title: str, verdicts: Sequence[Verdict]) -> tuple[str, bool]:
    """The GATE lines and, on a breach, the ALERT stanza; and whether every gate held."""
    lines = [f"GATE {'PASS' if v.ok else 'FAIL'} {title}: {v.gate.name} {v.gate.limit()}, measured "
             f"{v.gate.describe(v.value)} over {v.requests} requests" for v in verdicts]
    failed = [v for v in verdicts if not v.ok]
    if failed:
        lines.append(f"ALERT: {title}: {len(failed)} load gate(s) failed")
        lines += [f"  gate {v.gate.name} {v.gate.limit()}: measured {v.gate.describe(v.value)}" for v in failed]
    return "\n".join(lines), not failed


def install(title: str, gates: Sequence[Gate] | Callable[[Any], Sequence[Gate]]) -> None:
    """Check ``gates`` (or ``gates(environment)``) when Locust quits and set its exit code."""

    @events.quitting.add_listener
    def _check(environment: Any, **_: Any) -> None:
        if isinstance(environment.runner, WorkerRunner):
            return  # the master holds the aggregated stats
        chosen = gates(environment) if callable(gates) else gates
        text, ok = render(title, evaluate(environment.stats, chosen))
        print(text, flush=True)
        # A breach wins over whatever another listener set; a pass does not clear another's breach.
        if not ok:
            environment.process_exit_code = 1
        elif environment.process_exit_code is None:
            environment.process_exit_code = 0
