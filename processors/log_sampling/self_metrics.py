"""Self-metrics of the log sampler, on the server's own registry.

Every sampler in a process shares one set of metric families per registry
(prometheus_client refuses a name registered twice) and tells itself apart
by the ``processor`` label.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

KEPT = "otelproc_log_sampling_kept_records"
DROPPED = "otelproc_log_sampling_dropped_records"
RATIO = "otelproc_log_sampling_ratio"

# Why a record was kept: its severity, a keep rule, or the sampling decision.
KEPT_SEVERITY = "severity"
KEPT_RULE = "rule"
KEPT_SAMPLED = "sampled"
DROPPED_SAMPLED = "dropped"

Tally = Mapping[tuple[str, str, str], int]
"""(service, severity, outcome) -> records, where outcome is a KEPT_* reason or DROPPED_SAMPLED."""


class SamplingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.kept = Counter(
            KEPT, "Log records the sampler kept, by service, severity and reason (severity, rule, sampled)",
            ["processor", "service", "severity", "reason"], registry=registry,
        )
        self.dropped = Counter(
            DROPPED, "Log records the sampler dropped, by service and severity",
            ["processor", "service", "severity"], registry=registry,
        )
        self.ratio = Gauge(
            RATIO, "The ratio last applied to each service's sampled records (1 keeps them all)",
            ["processor", "service"], registry=registry,
        )

    def record(self, processor: str, tally: Tally) -> None:
        # One increment per label set and request, not per record: labels() takes a lock.
        for (service, severity, outcome), n in tally.items():
            if outcome == DROPPED_SAMPLED:
                self.dropped.labels(processor, service, severity).inc(n)
            else:
                self.kept.labels(processor, service, severity, outcome).inc(n)


