"""The log sampler: keeps every record at or above a severity or named by a keep
rule, and a trace-consistent fraction of the rest, which it marks with its weight.

Decisions are made on the read-only request first; a request the sampler
neither thins nor annotates is forwarded as the bytes it arrived as.
"""

from __future__ import annotations

import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from contracts.anyvalue import number
from processors.api import CreateSettings, Payload, Processor, Signal
from processors.log_sampling import randomness, severity
from processors.log_sampling.adaptive import AdaptiveRatio
from processors.log_sampling.config import SamplingConfig
from processors.log_sampling.rules import KeepMatcher
from processors.log_sampling.self_metrics import (
    DROPPED_SAMPLED,
    KEPT_RULE,
    KEPT_SAMPLED,
    KEPT_SEVERITY,
    SamplingMetrics,
)

SERVICE_NAME = "service.name"
UNKNOWN_SERVICE = "unknown_service"
OTHER_SERVICES = "_other"
THRESHOLD_ATTRIBUTE = "sampling.threshold"
DROP_REASON = "sampled"

_Position = tuple[int, int, int]  # resource, scope and record index in the request


class LogSampler(Processor):
    def __init__(self, config: SamplingConfig, settings: CreateSettings, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.component_id = settings.component_id
        self._telemetry = settings.telemetry
        self._log = settings.logger
        self._clock = clock
        self._metrics = settings.telemetry.shared(SamplingMetrics)
        self._keep_rank = severity.RANK[config.keep_severity_at_least]
        self._unspecified_rank = severity.RANK[config.unspecified_severity]
        self._rules = KeepMatcher(config.keep)
        self._hash = randomness.SeededHash(config.hash_seed)
        self._use_trace_id_bits = config.randomness == "trace_id"
        self._fallback_attribute = config.fallback_attribute if config.fallback_key == "attribute" else None
        self._template = config.fallback_key != "body"
        self._per_record = config.fallback_key == "record"
        self._adaptive = (
            AdaptiveRatio(config.info_ratio, config.per_service_budget, config.rate_window_s, clock)
            if config.per_service_budget is not None else None
        )
        self._services: set[str] = set()
        self._overflowed = False

    # --- the decision, per request ------------------------------------------

    def process_logs(self, payload: Payload) -> Payload | None:
        request = payload.message
        decisions = _Decisions()
        for ri, rl in enumerate(request.resource_logs):
            self._decide_resource(ri, rl, decisions)
        self._report(decisions)
        if not decisions.dropped and not decisions.weighted:
            return payload

        request = payload.edit()
        for rec, weight, th in decisions.weighted:
            self._mark_weight(rec, weight, th)
        if decisions.dropped:
            _remove(request, decisions.dropped)
            if not request.resource_logs:
                return None
        return payload

    def _decide_resource(self, ri: int, rl: Any, out: _Decisions) -> None:
        """Keep by severity or rule first; the rest share one ratio for this service and request."""
        names = severity.NAMES
        tally = out.tally
        service = self._service_label(rl.resource)
        keep_all = self._rules.should_keep_resource(rl.resource, service)
        candidates: list[tuple[_Position, LogRecord, int]] = []
        for si, sl in enumerate(rl.scope_logs):
            for li, rec in enumerate(sl.log_records):
                rank = severity.rank_of(rec.severity_number, rec.severity_text, self._unspecified_rank)
                if rank >= self._keep_rank:
                    tally[service, names[rank], KEPT_SEVERITY] += 1
                elif keep_all or (self._rules.checks_records and self._rules.should_keep_record(rec)):
                    tally[service, names[rank], KEPT_RULE] += 1
                else:
                    candidates.append(((ri, si, li), rec, rank))
        if not candidates:
            return

        ratio = out.ratios[service] = self._ratio(service, len(candidates))
        if ratio >= 1.0:
            for _, _, rank in candidates:
                tally[service, names[rank], KEPT_SAMPLED] += 1
            return
        th = randomness.threshold(ratio)
        weight = 1.0 / ratio
        seen: dict[bytes, int] = {}  # records of one trace (or template) usually arrive together
        for pos, rec, rank in candidates:
            if self.should_keep_sampled(rec, th, seen, ordinal=pos[2]):
                out.weighted.append((rec, weight, th))
                tally[service, names[rank], KEPT_SAMPLED] += 1
            else:
                out.dropped.append(pos)
                tally[service, names[rank], DROPPED_SAMPLED] += 1

    def should_keep_sampled(self, record: LogRecord, th: int, seen: dict[bytes, int], ordinal: int = 0) -> bool:
        """The trace-consistent decision: the record's randomness is at or above the threshold."""
        return self.randomness_of(record, seen, ordinal) >= th

    def randomness_of(self, record: LogRecord, seen: dict[bytes, int] | None = None, ordinal: int = 0) -> int:
        """56 bits from the trace id, or from the fallback key of a record with no trace."""
        trace_id = record.trace_id
        if randomness.valid_trace_id(trace_id):
            if self._use_trace_id_bits:
                return randomness.trace_id_randomness(trace_id)
            key = trace_id
        else:
            key = b"\x00key:" + self._fallback_key(record, ordinal)  # a domain apart from trace ids
        if seen is None:
            return self._hash(key)
        found = seen.get(key)
        if found is None:
            found = seen[key] = self._hash(key)
        return found

    def _fallback_key(self, record: LogRecord, ordinal: int) -> bytes:
        if self._per_record:
            return _record_key(record, ordinal)
        name = self._fallback_attribute
        if name is not None:
            for kv in record.attributes:
                if kv.key == name:
                    return kv.value.SerializeToString(deterministic=True)
        return randomness.body_key(record.body, template=self._template)

    def _ratio(self, service: str, arriving: int) -> float:
        if self._adaptive is None:
            return self.config.info_ratio
        return self._adaptive.ratio(service, arriving, self._clock())

    # --- what a kept record carries ------------------------------------------

    def _mark_weight(self, record: LogRecord, weight: float, th: int) -> None:
        """Write 1/ratio; a record sampled before carries the product (stages with different seeds
        decide independently), or under trace_id randomness the larger one (the same bits decided)."""
        name = self.config.weight_attribute
        consistent = self._use_trace_id_bits and randomness.valid_trace_id(record.trace_id)
        slot = None
        th_slot = None
        for kv in record.attributes:
            if kv.key == name:
                slot = kv
            elif consistent and kv.key == THRESHOLD_ATTRIBUTE:
                th_slot = kv
        if slot is None:
            slot = record.attributes.add(key=name)
        else:
            before = number(slot.value)
            if before is not None and before > 0:
                weight = max(before, weight) if consistent else before * weight
        slot.value.double_value = weight
        if consistent:
            if th_slot is None:
                th_slot = record.attributes.add(key=THRESHOLD_ATTRIBUTE)
            else:
                th = max(th, _threshold_of(th_slot.value.string_value))
            th_slot.value.string_value = randomness.tvalue(th)

    # --- bookkeeping ---------------------------------------------------------

    def _service_label(self, resource: Resource) -> str:
        """service.name, or ``_other`` past max_services distinct names (bounds meters and labels)."""
        name = UNKNOWN_SERVICE
        for kv in resource.attributes:
            if kv.key == SERVICE_NAME:
                name = kv.value.string_value or UNKNOWN_SERVICE
                break
        if name in self._services:
            return name
        if len(self._services) >= self.config.max_services:
            if not self._overflowed:
                self._overflowed = True
                self._log.warning("more than %d services (max_services): service %r and later ones are "
                                  "metered and labelled as %s", self.config.max_services, name, OTHER_SERVICES)
            return OTHER_SERVICES
        self._services.add(name)
        return name

    def _report(self, decisions: _Decisions) -> None:
        self._metrics.record(self.component_id, decisions.tally)
        for service, ratio in decisions.ratios.items():
            self._metrics.ratio.labels(self.component_id, service).set(ratio)
        self._telemetry.dropped(Signal.LOGS.value, self.component_id, DROP_REASON, len(decisions.dropped))


@dataclass
class _Decisions:
    """What the pass over one request decided; applied afterwards, so that a request with nothing
    to change keeps its original bytes."""

    tally: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    dropped: list[_Position] = field(default_factory=list)
    weighted: list[tuple[LogRecord, float, int]] = field(default_factory=list)  # record, weight, threshold
    ratios: dict[str, float] = field(default_factory=dict)


def _remove(request: Any, positions: list[_Position]) -> None:
    """Delete the records at ``positions`` (in request order), then every container left empty."""
    by_scope: dict[tuple[int, int], list[int]] = {}
    for ri, si, li in positions:
        by_scope.setdefault((ri, si), []).append(li)
    for (ri, si), indices in by_scope.items():
        records = request.resource_logs[ri].scope_logs[si].log_records
        if len(indices) == len(records):
            del records[:]
            continue
        # Runs of adjacent indices go in one slice, from the back so earlier indices stay valid.
        end = len(indices)
        while end > 0:
            start = end - 1
            while start > 0 and indices[start - 1] == indices[start] - 1:
                start -= 1
            del records[indices[start]:indices[end - 1] + 1]
            end = start
    for ri in range(len(request.resource_logs) - 1, -1, -1):
        scopes = request.resource_logs[ri].scope_logs
        for si in range(len(scopes) - 1, -1, -1):
            if not scopes[si].log_records:
                del scopes[si]
        if not scopes:
            del request.resource_logs[ri]


def _threshold_of(tvalue: str) -> int:
    """An arriving T-value as an integer threshold; 0 (no constraint) when unreadable."""
    try:
        return int(tvalue.ljust(randomness.BITS // 4, "0")[: randomness.BITS // 4], 16)
    except ValueError:
        return 0


def _record_key(record: LogRecord, ordinal: int) -> bytes:
    """What tells one untraced record from another: its timestamps, severity and body. The same
    record sent again (a retry) gets the same key. Records with neither timestamp are told apart by
    their place in their scope, which a retry of the same request also keeps."""
    stamp = record.time_unix_nano or record.observed_time_unix_nano
    head = struct.pack(">QQI", record.time_unix_nano, record.observed_time_unix_nano, record.severity_number)
    place = b"" if stamp else struct.pack(">I", ordinal)
    body = record.body
    text = body.string_value.encode() if body.WhichOneof("value") == "string_value" else body.SerializeToString(
        deterministic=True)
    return head + place + text
