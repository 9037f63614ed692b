"""Properties over arbitrary requests (several resources and scopes, any severities):
the output is exactly the input filtered by the documented rule, in order."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from processors.api import CreateSettings, Payload, Signal
from processors.log_sampling import randomness
from processors.log_sampling.config import SamplingConfig
from processors.log_sampling.sampler import LogSampler
from processors.telemetry import SelfTelemetry

TRACES = [bytes([i]) * 16 for i in range(1, 12)] + [b"", bytes(16)]
record = st.tuples(st.integers(0, 24), st.sampled_from(TRACES), st.sampled_from(["a 1", "a 2", "b", ""]))
scope = st.lists(record, min_size=1, max_size=12)
resource = st.tuples(st.sampled_from(["api", "web", ""]), st.lists(scope, min_size=1, max_size=3))


def build(resources) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    seq = 0
    for service, scopes in resources:
        rl = req.resource_logs.add()
        if service:
            rl.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
        for recs in scopes:
            sl = rl.scope_logs.add()
            for number, trace_id, body in recs:
                lr = sl.log_records.add(severity_number=number, trace_id=trace_id)
                lr.body.string_value = body
                lr.attributes.append(KeyValue(key="seq", value=AnyValue(int_value=seq)))
                seq += 1
    return req


def expected_seqs(req: ExportLogsServiceRequest, sampler: LogSampler, ratio: float) -> list[int]:
    th = randomness.threshold(ratio)
    out = []
    for rl in req.resource_logs:
        for sl in rl.scope_logs:
            for li, lr in enumerate(sl.log_records):
                warn_or_above = lr.severity_number >= 13
                if warn_or_above or sampler.randomness_of(lr, ordinal=li) >= th:
                    out.append(lr.attributes[0].value.int_value)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(resources=st.lists(resource, max_size=4), ratio=st.sampled_from([0.1, 0.5, 0.9, 1.0]))
def test_output_is_the_input_filtered_by_severity_and_randomness(resources, ratio: float) -> None:
    req = build(resources)
    sampler = LogSampler(SamplingConfig(info_ratio=ratio), CreateSettings("ls", SelfTelemetry()))
    want = expected_seqs(req, sampler, ratio)
    out = sampler.process_logs(Payload(Signal.LOGS, raw=req.SerializeToString()))
    if out is None:
        assert want == [] and req.resource_logs
        return
    got = [lr.attributes[0].value.int_value
           for rl in out.message.resource_logs for sl in rl.scope_logs for lr in sl.log_records]
    assert got == want
    if out.modified:
        # No scope or resource the sampler emptied is left behind.
        assert all(sl.log_records for rl in out.message.resource_logs for sl in rl.scope_logs)
        assert all(rl.scope_logs for rl in out.message.resource_logs)
    else:
        assert out.raw == req.SerializeToString(), "an unrewritten request is forwarded as it came"
