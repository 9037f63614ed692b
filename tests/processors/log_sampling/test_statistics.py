"""The sampler's promises measured on 10^5 records: the kept fraction, no lost warnings
or errors, whole traces across independent instances, and counts re-weighted.

Inputs come from seeded generators, so every run sees the same data; the tolerances
are set several standard deviations wide, so that they hold for any fair hash.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from processors.api import CreateSettings, Payload, Signal
from processors.log_sampling.config import SamplingConfig
from processors.log_sampling.sampler import LogSampler
from processors.telemetry import SelfTelemetry
from tests.processors.log_sampling.builders import Rec, attr, kept_records, payload, random_trace_ids, request
from tests.support.procs import REPO

N = 100_000
BATCH = 500


def new_sampler(**config) -> LogSampler:
    return LogSampler(SamplingConfig(**config), CreateSettings("log_sampling", SelfTelemetry()))


def run(sampler: LogSampler, records: list[Rec]) -> list[tuple[str, object]]:
    """Feed ``records`` in requests of BATCH; (service, kept record) for every survivor."""
    out = []
    for i in range(0, len(records), BATCH):
        out.extend(kept_records(sampler.process_logs(payload(records[i:i + BATCH], first_seq=i))))
    return out


def binomial_sigma(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("ratio", [0.1, 0.01, 0.5])
def test_kept_fraction_is_within_one_percent_of_the_ratio(ratio: float) -> None:
    records = [Rec(trace_id=t) for t in random_trace_ids(N, seed=1)]
    kept = len(run(new_sampler(info_ratio=ratio), records)) / N
    assert abs(kept - ratio) <= 0.01
    assert abs(kept - ratio) <= 5 * binomial_sigma(ratio, N)


def test_kept_fraction_holds_for_records_without_a_trace() -> None:
    records = [Rec(body=f"request {i} served") for i in range(N)]
    kept = len(run(new_sampler(info_ratio=0.1, fallback_key="body"), records)) / N
    assert abs(kept - 0.1) <= 5 * binomial_sigma(0.1, N)


def test_every_warn_and_error_survives_a_mixed_stream() -> None:
    rnd = random.Random(2)
    levels = rnd.choices(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], weights=[5, 20, 60, 8, 6, 1], k=N)
    traces = random_trace_ids(N // 4, seed=3)
    records = [Rec(level=lvl, trace_id=traces[rnd.randrange(len(traces))]) for lvl in levels]
    kept = run(new_sampler(info_ratio=0.1), records)

    kept_seqs = {attr(lr, "seq") for _, lr in kept}
    must_keep = {i for i, lvl in enumerate(levels) if lvl in ("WARN", "ERROR", "FATAL")}
    assert must_keep <= kept_seqs
    sampled_in = Counter(lvl for lvl in levels if lvl in ("TRACE", "DEBUG", "INFO"))
    sampled_kept = len(kept_seqs) - len(must_keep)
    # Four records per trace on average: decisions are by trace, so the spread is wider than binomial.
    assert abs(sampled_kept / sum(sampled_in.values()) - 0.1) <= 0.01


# A second, independent instance in its own process (another PYTHONHASHSEED): it reads
# length-prefixed requests and prints the sequence numbers it kept.
_CHILD = """
import json, sys
from processors.api import CreateSettings, Payload, Signal
from processors.log_sampling.config import SamplingConfig
from processors.log_sampling.sampler import LogSampler
from processors.telemetry import SelfTelemetry
cfg = SamplingConfig.model_validate(json.loads(sys.argv[2]))
s = LogSampler(cfg, CreateSettings("log_sampling", SelfTelemetry()))
data = open(sys.argv[1], "rb").read()
kept, pos = [], 0
while pos < len(data):
    size = int.from_bytes(data[pos:pos + 4], "big"); pos += 4
    out = s.process_logs(Payload(Signal.LOGS, raw=data[pos:pos + size])); pos += size
    if out is not None:
        for rl in out.message.resource_logs:
            for sl in rl.scope_logs:
                for lr in sl.log_records:
                    kept.append(next(kv.value.int_value for kv in lr.attributes if kv.key == "seq"))
print(json.dumps(kept))
"""


@pytest.mark.parametrize("config", [
    {"info_ratio": 0.1, "hash_seed": 99},
    {"info_ratio": 0.1, "randomness": "trace_id"},
])
def test_two_instances_on_split_input_keep_whole_traces(tmp_path: Path, config: dict) -> None:
    """Records of each trace are spread over two processors (two processes, different
    batching); every trace ends up kept in full or dropped in full."""
    rnd = random.Random(4)
    traces = random_trace_ids(N // 5, seed=5)
    records = [Rec(service=rnd.choice(["api", "worker", "web"]), trace_id=t, body=f"step {k}")
               for t in traces for k in range(5)]
    rnd.shuffle(records)
    seq_trace = {}
    for i, r in enumerate(records):
        seq_trace[i] = r.trace_id
    # Alternate records between the instances, in batches of different sizes.
    half_a = [(i, r) for i, r in enumerate(records) if i % 2 == 0]
    half_b = [(i, r) for i, r in enumerate(records) if i % 2 == 1]

    kept_a: list[int] = []
    here = LogSampler(SamplingConfig(**config), CreateSettings("log_sampling", SelfTelemetry()))
    for start in range(0, len(half_a), 400):
        chunk = half_a[start:start + 400]
        req = request(r for _, r in chunk)
        _renumber(req, [i for i, _ in chunk])
        kept_a.extend(attr(lr, "seq") for _, lr in kept_records(here.process_logs(Payload(Signal.LOGS, message=req))))

    blob = bytearray()
    for start in range(0, len(half_b), 700):
        chunk = half_b[start:start + 700]
        req = request(r for _, r in chunk)
        _renumber(req, [i for i, _ in chunk])
        raw = req.SerializeToString()
        blob += len(raw).to_bytes(4, "big") + raw
    (tmp_path / "half_b.bin").write_bytes(bytes(blob))
    env = {**os.environ, "PYTHONHASHSEED": "777"}
    child = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "half_b.bin"), json.dumps(config)],
                           capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert child.returncode == 0, child.stderr
    kept_b = json.loads(child.stdout)

    kept_per_trace: dict[bytes, int] = defaultdict(int)
    for seq in kept_a + kept_b:
        kept_per_trace[seq_trace[seq]] += 1
    assert set(kept_per_trace.values()) == {5}, "every kept trace is kept whole, across both instances"
    assert abs(len(kept_per_trace) / len(traces) - 0.1) <= 0.01
    # Both instances took part in keeping each kept trace (each saw some of its records).
    traces_a = {seq_trace[s] for s in kept_a}
    traces_b = {seq_trace[s] for s in kept_b}
    assert len(traces_a & traces_b) > 0.9 * len(kept_per_trace)


def _renumber(req, seqs: list[int]) -> None:
    """Give each record its global sequence number instead of its position in the chunk."""
    it = iter(seqs)
    for rl in req.resource_logs:
        for sl in rl.scope_logs:
            for lr in sl.log_records:
                seq = next(it)
                for kv in lr.attributes:
                    if kv.key == "seq":
                        kv.value.int_value = seq


def test_counts_reweighted_by_the_attribute_are_within_two_percent() -> None:
    """Sum of weights (1 where absent) over what was kept estimates what came in, per severity."""
    rnd = random.Random(6)
    levels = rnd.choices(["DEBUG", "INFO", "WARN", "ERROR"], weights=[30, 60, 7, 3], k=N)
    records = [Rec(level=lvl, trace_id=t) for lvl, t in zip(levels, random_trace_ids(N, seed=7), strict=True)]
    kept = run(new_sampler(info_ratio=0.25), records)

    estimate: Counter[str] = Counter()
    for _, lr in kept:
        weight = attr(lr, "sampling.weight")
        estimate[lr.severity_text] += 1.0 if weight is None else weight
    truth = Counter(levels)
    assert sum(estimate.values()) == pytest.approx(N, rel=0.02)
    for level, n in truth.items():
        # sigma of a Horvitz-Thompson count is sqrt(n (1 - p) / p) records.
        sigma = math.sqrt(n * 0.75 / 0.25) if level in ("DEBUG", "INFO") else 0.0
        assert abs(estimate[level] - n) <= max(5 * sigma, 0.5), level
    assert estimate["WARN"] == truth["WARN"] and estimate["ERROR"] == truth["ERROR"]


def _untraced_request(bodies: list[str], *, start_ns: int, step_ns: int):
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    kv = rl.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "worker"
    sl = rl.scope_logs.add()
    for i, body in enumerate(bodies):
        lr = sl.log_records.add()
        lr.severity_number, lr.severity_text = 9, "INFO"
        if step_ns:
            lr.observed_time_unix_nano = start_ns + i * step_ns
        lr.body.string_value = body
    return req


def _kept(sampler: LogSampler, req) -> list:
    out = sampler.process_logs(Payload(Signal.LOGS, raw=req.SerializeToString()))
    return [] if out is None else [lr for rl in out.message.resource_logs for sl in rl.scope_logs
                                   for lr in sl.log_records]


def test_untraced_records_are_sampled_per_record_whatever_their_message_kind() -> None:
    """10 message kinds x 1,000 untraced records at 0.1: each kind keeps about a tenth, and the
    weights re-add to what was sent (deciding by message kind would keep or drop kinds whole)."""
    templates = [f"background job {{}} finished in stage {name}" for name in
                 ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa")]
    bodies = [t.format(i) for t in templates for i in range(1000)]
    random.Random(11).shuffle(bodies)
    sampler = new_sampler(info_ratio=0.1)
    kept = []
    for i in range(0, len(bodies), BATCH):
        kept += _kept(sampler, _untraced_request(bodies[i:i + BATCH], start_ns=1_700_000_000_000_000_000 + i * 10**6,
                                                 step_ns=1000))
    per_kind = Counter(lr.body.string_value.rsplit(" ", 1)[1] for lr in kept)
    assert len(per_kind) == 10
    assert all(70 <= n <= 130 for n in per_kind.values()), per_kind
    weights = sum(next(kv.value.double_value for kv in lr.attributes if kv.key == "sampling.weight") for lr in kept)
    assert abs(weights - 10_000) <= 500, weights


def test_untraced_records_with_one_body_and_no_timestamps_still_keep_their_share() -> None:
    """A load generator's fixed body and no timestamps: told apart by place, about a tenth survives."""
    sampler = new_sampler(info_ratio=0.1)
    kept = _kept(sampler, _untraced_request(["the same message"] * 2000, start_ns=0, step_ns=0))
    assert 140 <= len(kept) <= 260, len(kept)


def test_a_retried_untraced_request_gets_the_same_decisions() -> None:
    bodies = [f"request {i} served" for i in range(2000)]
    req = _untraced_request(bodies, start_ns=1_700_000_000_000_000_000, step_ns=1000)
    first = [lr.body.string_value for lr in _kept(new_sampler(info_ratio=0.1), req)]
    again = [lr.body.string_value for lr in _kept(new_sampler(info_ratio=0.1), req)]
    assert first and first == again
