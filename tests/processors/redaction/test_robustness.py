"""Arbitrary AnyValue trees: deep nesting, 10⁵-element arrays, invalid UTF-8,
huge strings. Nothing crashes, every example finishes within the hypothesis
deadline, and the structure comes out as it went in except for truncation
(arrays and maps cut to ten items, strings to the length limit) and the
strings the rules find something in."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf.internal.encoder import _VarintBytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from processors.api import MalformedPayload, Payload, Signal
from tests.processors.redaction.builders import any_value, kv, run

MAX_ITEMS, MAX_LEN = 10, 256
CONFIG = {"truncation": {"max_items": MAX_ITEMS, "max_string_length": MAX_LEN}, "blocked_keys": []}
PII = [json.loads(line)["text"] for line in Path(__file__).with_name("corpus.jsonl").read_text().splitlines()
       if json.loads(line)["kind"] and not json.loads(line)["key"]]
# Keys from letters that spell no context word (geo, lat, phone...), so that values keep their types.
KEYS = st.text(alphabet="abcdefgh._-", min_size=1, max_size=12)

leaves = st.one_of(
    st.text(max_size=40),
    st.sampled_from(PII),
    st.builds(lambda a, pii, b: a + pii + b, st.text(max_size=8), st.sampled_from(PII), st.text(max_size=8)),
    st.builds(lambda ch, n: ch * n, st.characters(), st.integers(MAX_LEN - 5, 3 * MAX_LEN)),
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), st.booleans(), st.binary(max_size=40),
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(st.lists(children, max_size=14), st.dictionaries(KEYS, children, max_size=14)),
    max_leaves=40,
)


@pytest.fixture(scope="module")
def processor():
    from tests.processors.redaction.conftest import build

    return build(CONFIG)


def log_request(body: AnyValue, attribute: AnyValue) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rec = req.resource_logs.add().scope_logs.add().log_records.add()
    rec.body.CopyFrom(body)
    rec.attributes.append(kv("payload", attribute))
    return req


def assert_shape(before: AnyValue, after: AnyValue, processor, *, record: bool = False) -> None:
    """``after`` is ``before`` up to truncation and to strings the rules changed."""
    kind = before.WhichOneof("value")
    assert after.WhichOneof("value") == kind
    if kind == "array_value":
        b, a = before.array_value.values, after.array_value.values
        assert len(a) == min(len(b), MAX_ITEMS)
        for x, y in zip(b, a, strict=False):
            assert_shape(x, y, processor)
    elif kind == "kvlist_value":
        b, a = before.kvlist_value.values, after.kvlist_value.values
        assert len(a) == (len(b) if record else min(len(b), MAX_ITEMS))
        for x, y in zip(b, a, strict=False):
            assert x.key == y.key
            assert_shape(x.value, y.value, processor)
    elif kind == "string_value":
        b, a = before.string_value, after.string_value
        if len(b) > MAX_LEN:
            assert len(a) == MAX_LEN and a.endswith("…")
        elif not processor.rules.findings(b):
            assert a == b
    else:
        assert after == before


@settings(max_examples=60, deadline=timedelta(seconds=3), suppress_health_check=[HealthCheck.too_slow,
                                                                                HealthCheck.data_too_large])
@given(body=trees, attribute=trees)
def test_any_tree_keeps_its_shape(processor, body, attribute):
    body_value, attribute_value = any_value(body), any_value(attribute)
    out = run(processor, log_request(body_value, attribute_value), Signal.LOGS)
    rec = out.resource_logs[0].scope_logs[0].log_records[0]
    assert_shape(body_value, rec.body, processor, record=True)
    assert_shape(attribute_value, rec.attributes[0].value, processor)


def test_a_hundred_thousand_elements_come_out_as_ten(processor):
    big = AnyValue()
    big.array_value.values.extend(AnyValue(string_value=f"item-{i}") for i in range(100_000))
    out = run(processor, log_request(AnyValue(string_value="ok"), big), Signal.LOGS)
    values = out.resource_logs[0].scope_logs[0].log_records[0].attributes[0].value.array_value.values
    assert [v.string_value for v in values] == [f"item-{i}" for i in range(10)]


def test_a_huge_string_is_cut_and_its_pii_found(processor):
    huge = "anna@example.org " + "z" * 5_000_000
    out = run(processor, log_request(AnyValue(string_value=huge), AnyValue(int_value=1)), Signal.LOGS)
    body = out.resource_logs[0].scope_logs[0].log_records[0].body.string_value
    assert body.startswith("**** zzz") and len(body) == MAX_LEN


def test_nesting_as_deep_as_protobuf_parses_is_walked_to_the_bottom(processor):
    value: object = "mail anna@example.org"
    for _ in range(45):
        value = [value]
    out = run(processor, log_request(any_value(value), AnyValue(int_value=1)), Signal.LOGS)
    node = out.resource_logs[0].scope_logs[0].log_records[0].body
    while node.WhichOneof("value") == "array_value":
        node = node.array_value.values[0]
    assert node.string_value == "mail ****"


def _nested_raw(depth: int, leaf: bytes) -> bytes:
    """A LogsData request whose body nests arrays ``depth`` deep, written byte by byte."""
    value = b"\x0a" + _VarintBytes(len(leaf)) + leaf  # AnyValue.string_value
    for _ in range(depth):
        array = b"\x0a" + _VarintBytes(len(value)) + value  # ArrayValue.values
        value = b"\x2a" + _VarintBytes(len(array)) + array  # AnyValue.array_value
    record = b"\x2a" + _VarintBytes(len(value)) + value  # LogRecord.body
    scope = b"\x12" + _VarintBytes(len(record)) + record  # ScopeLogs.log_records
    resource = b"\x12" + _VarintBytes(len(scope)) + scope  # ResourceLogs.scope_logs
    return b"\x0a" + _VarintBytes(len(resource)) + resource  # request.resource_logs


def test_nesting_deeper_than_protobuf_allows_is_malformed_not_a_crash(processor):
    with pytest.raises(MalformedPayload):
        processor.process(Payload(Signal.LOGS, raw=_nested_raw(200, b"anna@example.org")))


def test_invalid_utf8_in_a_string_field_is_malformed_not_a_crash(processor):
    leaf = b"anna@example.org \xff\xfe"
    with pytest.raises(MalformedPayload):
        processor.process(Payload(Signal.LOGS, raw=_nested_raw(0, leaf)))


@settings(max_examples=40, deadline=timedelta(seconds=2))
@given(blob=st.binary(max_size=200), pii=st.sampled_from(PII))
def test_bytes_values_are_never_touched(processor, blob, pii):
    value = AnyValue(bytes_value=blob + pii.encode() + b"\xff")
    out = run(processor, log_request(AnyValue(string_value=pii), value), Signal.LOGS)
    assert out.resource_logs[0].scope_logs[0].log_records[0].attributes[0].value == value


@settings(max_examples=60, deadline=timedelta(seconds=2))
@given(raw=st.binary(max_size=300))
def test_random_bytes_are_forwarded_or_refused_never_a_crash(processor, raw):
    try:
        out = processor.process(Payload(Signal.LOGS, raw=raw))
    except MalformedPayload:
        return
    assert out.raw == raw or out.modified


@pytest.mark.parametrize("engine", ["hyperscan", "re2"])
@pytest.mark.parametrize("char", ["\x00", "\x08", "\x1f", "a"])
def test_a_long_string_of_one_byte_is_cut_whatever_the_byte(engine, char):
    """Control bytes break a run of text, so a string of them alone needs its own run to be seen."""
    from tests.processors.redaction.conftest import build

    processor = build({**CONFIG, "scan_engine": engine})
    out = run(processor, log_request(any_value({}), AnyValue(string_value=char * (MAX_LEN + 1))),
              Signal.LOGS)
    value = out.resource_logs[0].scope_logs[0].log_records[0].attributes[0].value.string_value
    assert value == char * (MAX_LEN - 1) + "…"
