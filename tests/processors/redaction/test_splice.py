"""Editing requests in place on the wire gives what parsing, walking and serialising gives.

Every comparison runs the same config twice: as configured (scan, then the
splice) and with ``fast_path: false`` (parse the request, walk all of it,
serialise it). The decoded messages must be equal (the splice keeps the
sender's field order, the serialiser has its own), and so must the findings
counted per rule and action.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from bench import realshape
from processors.api import MalformedPayload, Payload, Signal
from processors.redaction.audit import FASTPATH, FINDINGS
from processors.redaction.splice import Fallback, encode_varint
from processors.telemetry import SelfTelemetry
from tests.processors.redaction.conftest import HMAC_KEY, build

CONFIGS = {
    "defaults": {},
    "pipeline": {"operators": {"email": "hash", "phone": "hash"}, "hash_key": HMAC_KEY,
                 "blocked_values": ["cust-[0-9]{6}"], "ignored_keys": ["server.address"]},
    "redact": {"operator": "redact", "taint": {"enabled": False}},
    "tight": {"truncation": {"max_items": 2, "max_string_length": 48}, "allowed_values": [r"@example\.com$"]},
}


class Pair:
    """A processor as configured and its parse-and-walk reference, each with its own counters."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.telemetry, self.ref_telemetry = SelfTelemetry(), SelfTelemetry()
        self.proc = build(config, self.telemetry)
        self.ref = build({**config, "fast_path": False}, self.ref_telemetry)

    def run(self, signal: Signal, raw: bytes) -> tuple[Payload, Payload]:
        return self.proc.process(Payload(signal, raw=raw)), self.ref.process(Payload(signal, raw=raw))

    def check(self, signal: Signal, raw: bytes) -> Payload:
        before = findings(self.telemetry), findings(self.ref_telemetry)
        out, ref = self.run(signal, raw)
        assert signal.request_type.FromString(out.raw) == signal.request_type.FromString(ref.raw)
        got = _minus(findings(self.telemetry), before[0])
        want = _minus(findings(self.ref_telemetry), before[1])
        assert got == want
        return out


def findings(telemetry: SelfTelemetry) -> dict[tuple[str, str, str], float]:
    out = {}
    for metric in telemetry.registry.collect():
        for s in metric.samples:
            if s.name == f"{FINDINGS}_total":
                out[(s.labels["signal"], s.labels["rule"], s.labels["action"])] = s.value
    return out


def _minus(a: dict, b: dict) -> dict:
    return {k: v - b.get(k, 0) for k, v in a.items() if v - b.get(k, 0)}


@pytest.fixture(scope="module", params=list(CONFIGS))
def pair(request) -> Pair:
    return Pair(CONFIGS[request.param])


# --- the real-shaped corpus ------------------------------------------------------------

SHAPES = [(Signal.TRACES, lambda s: realshape.spans(0.05, n=128, seed=s)),
          (Signal.TRACES, lambda s: realshape.spans(1.0, n=128, seed=s)),
          (Signal.LOGS, lambda s: realshape.logs(0.05, n=128, seed=s)),
          (Signal.LOGS, lambda s: realshape.logs(1.0, n=128, seed=s))]


@pytest.mark.parametrize("shape", range(len(SHAPES)), ids=["spans-5%", "spans-all", "logs-5%", "logs-all"])
def test_real_shaped_requests_come_out_as_the_walk_makes_them(pair, shape):
    signal, make = SHAPES[shape]
    for seed in range(3):
        pair.check(signal, make(seed).SerializeToString())


def test_a_real_shaped_request_is_edited_without_parsing_it():
    """The request with URLs, statements and a little PII in every span is not parsed whole."""
    telemetry = SelfTelemetry()
    proc = build(CONFIGS["pipeline"], telemetry)
    raw = realshape.spans(0.05, seed=5).SerializeToString()
    out = proc.process(Payload(Signal.TRACES, raw=raw))
    assert not out.parsed and out.raw != raw
    assert telemetry.value(f"{FASTPATH}_total", processor="redaction", signal="traces", result="located") == 1
    assert telemetry.value(f"{FASTPATH}_total", processor="redaction", signal="traces", result="whole") == 0


def _padded_span(spans: Any, name: str, value: str, size: int) -> None:
    """A span holding ``value`` under ``note`` and padding up to exactly ``size`` bytes."""
    sp = spans.add(name=name, trace_id=bytes(16), span_id=bytes(8))
    sp.attributes.append(KeyValue(key="note", value=AnyValue(string_value=value)))
    while sp.ByteSize() < size - 300:
        sp.attributes.append(KeyValue(key="pad", value=AnyValue(string_value="p" * 120)))
    last = sp.attributes.add(key="pad.last")
    last.value.string_value = "q" * 100
    for _ in range(4):  # the pad's own prefixes may change width too
        last.value.string_value = "q" * (len(last.value.string_value) + size - sp.ByteSize())
    assert abs(sp.ByteSize() - size) <= 2


def test_length_prefixes_grow_and_shrink_a_byte():
    """Replacements that cross a varint boundary, both ways: a value around 128 bytes (its own
    prefix and its key-value's) inside a span around 16 KiB (the span's prefix)."""
    pair = Pair(CONFIGS["pipeline"])
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    grow = "x" * 100 + " a@b.io"  # 107 bytes, hashed to 64 hex digits: 165
    shrink = "y" * 60 + " " + "z" * 60 + "@example.org"  # 133 bytes, hashed: 125
    _padded_span(spans, "s0", grow, (1 << 14) - 20)
    _padded_span(spans, "s1", shrink, (1 << 14) + 4)
    out = pair.check(Signal.TRACES, req.SerializeToString())
    assert not out.parsed
    got = ExportTraceServiceRequest.FromString(out.raw).resource_spans[0].scope_spans[0].spans
    assert len(got[0].attributes[0].value.string_value) == 100 + 1 + 64
    assert len(got[1].attributes[0].value.string_value) == 60 + 1 + 64
    assert got[0].ByteSize() >= 1 << 14 > got[1].ByteSize()  # both spans' prefixes changed width


def test_non_minimal_varints_are_read_and_rewritten():
    """A sender may pad a length varint (0x85 0x00 for 5): the splice reads it, and writes its own."""
    inner = KeyValue(key="user", value=AnyValue(string_value="mail anna@example.org")).SerializeToString()
    span = b"\x4a" + encode_varint(len(inner)) + inner
    padded_span = b"\x4a" + bytes([0x80 | len(inner), 0x00]) + inner  # the same length, two bytes
    for body in (span, padded_span):
        scope = b"\x12" + encode_varint(len(body)) + body
        resource = b"\x12" + encode_varint(len(scope)) + scope
        raw = b"\x0a" + encode_varint(len(resource)) + resource
        out = Pair(CONFIGS["defaults"]).check(Signal.TRACES, raw)
        assert not out.parsed


def test_a_value_repeated_in_its_record_is_replaced_there_too():
    """Taint: the password under a blocked key is in the span name as well, where no rule sees it."""
    pair = Pair(CONFIGS["defaults"])
    req = ExportTraceServiceRequest()
    sp = req.resource_spans.add().scope_spans.add().spans.add(name="login hunter2-secret ok")
    sp.attributes.append(KeyValue(key="user.password", value=AnyValue(string_value="hunter2-secret")))
    sp.attributes.append(KeyValue(key="url.full", value=AnyValue(string_value="https://a.example/p?q=1")))
    out = pair.check(Signal.TRACES, req.SerializeToString())
    assert b"hunter2" not in out.raw


def test_bytes_that_do_not_parse_are_refused_as_the_walk_refuses_them():
    """Invalid UTF-8 in a string the splice reads: the request takes the parse path and is refused."""
    kv_bytes = b"\x0a\x04user\x12\x13\x0a\x11anna@example.org\xff"
    body = b"\x4a" + encode_varint(len(kv_bytes)) + kv_bytes
    scope = b"\x12" + encode_varint(len(body)) + body
    resource = b"\x12" + encode_varint(len(scope)) + scope
    raw = b"\x0a" + encode_varint(len(resource)) + resource
    pair = Pair(CONFIGS["defaults"])
    with pytest.raises(MalformedPayload):
        pair.proc.process(Payload(Signal.TRACES, raw=raw))
    with pytest.raises(MalformedPayload):
        pair.ref.process(Payload(Signal.TRACES, raw=raw))
    with pytest.raises(Fallback):
        pair.proc.splicer.edit(raw, Signal.TRACES, [len(raw) - 3])


@pytest.mark.parametrize("value", [None, AnyValue(), AnyValue(string_value="x")], ids=["no-value", "empty", "set"])
def test_a_key_holding_a_finding_is_rewritten_whatever_its_value(pair, value):
    req = ExportTraceServiceRequest()
    span = req.resource_spans.add().scope_spans.add().spans.add(name="GET /")
    kv = span.attributes.add(key="note from anna@example.org")
    if value is not None:
        kv.value.CopyFrom(value)
    out = pair.check(Signal.TRACES, req.SerializeToString())
    attributes = ExportTraceServiceRequest.FromString(out.raw).resource_spans[0].scope_spans[0].spans[0].attributes
    assert not [a.key for a in attributes if "anna@example.org" in a.key]  # rewritten, or removed by `redact`


def test_requests_edited_at_once_on_several_threads_keep_their_own_state():
    """The server runs large requests on worker threads, two at once, through one processor."""
    from concurrent.futures import ThreadPoolExecutor

    pair = Pair(CONFIGS["pipeline"])
    raws = [realshape.spans(1.0, n=64, seed=s).SerializeToString() for s in range(8)]
    want = [ExportTraceServiceRequest.FromString(pair.ref.process(Payload(Signal.TRACES, raw=r)).raw) for r in raws]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            outs = list(pool.map(lambda r: pair.proc.process(Payload(Signal.TRACES, raw=r)).raw, raws))
            assert [ExportTraceServiceRequest.FromString(o) for o in outs] == want


# --- generated requests ----------------------------------------------------------------

_TEXTS = st.sampled_from([
    "anna.schmidt@example.org", "+49 151 23456789", "4111 1111 1111 1111", "203.0.113.7", "127.0.0.1",
    "https://shop.example/search?q=anna&page=2", "/p?token=abc123", "page=2&sort=asc",
    "SELECT * FROM t WHERE a = 'x' AND b = 42", "SELECT id FROM t WHERE id = %(id_1)s",
    "Bearer 0123456789abcdef0123456789abcdef", "cust-123456", "hunter2-secret", "GET /api/orders/{id}",
    "52.520008, 13.404954", "plain text", "", "Grüße, 東京", "x" * 60, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
]) | st.text(max_size=40)
_KEYS = st.sampled_from([
    "app.note", "user.email", "user.password", "http.request.header.authorization", "url.full", "url.query",
    "http.target", "db.statement", "phone", "server.address", "geo.lat", "geo.lon", "client.address",
    "visits anna@example.org", "session.cookie", "enduser.id",
]) | st.text(min_size=0, max_size=12)


def _scalars():
    return st.one_of(_TEXTS.map(lambda s: AnyValue(string_value=s)), st.integers(-2**63, 2**63 - 1).map(
        lambda i: AnyValue(int_value=i)), st.floats(allow_nan=False).map(lambda f: AnyValue(double_value=f)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        _TEXTS.map(lambda s: AnyValue(bytes_value=s.encode())), st.binary(max_size=8).map(
        lambda b: AnyValue(bytes_value=b)), st.just(AnyValue()))


def _values():
    def nest(children):
        return st.one_of(
            st.lists(children, max_size=4).map(lambda vs: AnyValue(array_value={"values": vs})),
            st.lists(st.tuples(_KEYS, children), max_size=4).map(
                lambda kvs: AnyValue(kvlist_value={"values": [KeyValue(key=k, value=v) for k, v in kvs]})))
    return st.recursive(_scalars(), nest, max_leaves=6)


# None: a key with no value field at all, which the wire allows.
_ATTRS = st.lists(st.tuples(_KEYS, st.one_of(_scalars(), _scalars(), _values(), st.none())), max_size=6).map(
    lambda kvs: [KeyValue(key=k) if v is None else KeyValue(key=k, value=v) for k, v in kvs])


@st.composite
def trace_requests(draw) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(1, 2))):
        rs = req.resource_spans.add(schema_url=draw(_TEXTS))
        rs.resource.attributes.extend(draw(_ATTRS))
        for _ in range(draw(st.integers(1, 2))):
            ss = rs.scope_spans.add()
            ss.scope.name, ss.scope.version = draw(_TEXTS), draw(_TEXTS)
            ss.scope.attributes.extend(draw(_ATTRS))
            for _ in range(draw(st.integers(0, 3))):
                sp = ss.spans.add(name=draw(_TEXTS), trace_state=draw(_TEXTS),
                                  trace_id=draw(st.binary(min_size=16, max_size=16)))
                sp.attributes.extend(draw(_ATTRS))
                if draw(st.booleans()):
                    sp.status.message = draw(_TEXTS)
                if draw(st.integers(0, 3)) == 0:
                    ev = sp.events.add(name=draw(_TEXTS))
                    ev.attributes.extend(draw(_ATTRS))
    return req


@st.composite
def log_requests(draw) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.extend(draw(_ATTRS))
    sl = rl.scope_logs.add()
    for _ in range(draw(st.integers(1, 4))):
        rec = sl.log_records.add(severity_text=draw(_TEXTS), event_name=draw(_TEXTS))
        rec.attributes.extend(draw(_ATTRS))
        body = draw(st.one_of(st.none(), _TEXTS.map(lambda s: AnyValue(string_value=s)), _values()))
        if body is not None:
            rec.body.CopyFrom(body)
    return req


_PAIRS: dict[str, Pair] = {}


def _pair(name: str) -> Pair:
    if name not in _PAIRS:
        _PAIRS[name] = Pair(CONFIGS[name])
    return _PAIRS[name]


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(req=trace_requests(), config=st.sampled_from(list(CONFIGS)))
def test_generated_trace_requests(req, config):
    _pair(config).check(Signal.TRACES, req.SerializeToString())


@_SETTINGS
@given(req=log_requests(), config=st.sampled_from(list(CONFIGS)))
def test_generated_log_requests(req, config):
    _pair(config).check(Signal.LOGS, req.SerializeToString())


@settings(max_examples=200, deadline=None)
@given(req=st.one_of(trace_requests().map(lambda r: (Signal.TRACES, r)),
                     log_requests().map(lambda r: (Signal.LOGS, r))),
       cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=3),
       config=st.sampled_from(list(CONFIGS)))
def test_damaged_requests_are_refused_as_the_walk_refuses_them(req, cuts, config):
    """Bytes overwritten at random: when the splice refuses them, so does the walk; when both
    accept them, both give the same message. (Bytes the splice never reads are forwarded as
    they came, as a request without hits is: the next hop refuses them.)"""
    signal, message = req
    raw = bytearray(message.SerializeToString())
    if not raw:
        return
    for at, byte in cuts:
        raw[at % len(raw)] = byte
    raw = bytes(raw)
    pair = _pair(config)
    try:
        out = pair.proc.process(Payload(signal, raw=raw))
    except MalformedPayload:
        with pytest.raises(MalformedPayload):
            pair.ref.process(Payload(signal, raw=raw))
        return
    try:
        ref = pair.ref.process(Payload(signal, raw=raw))
    except MalformedPayload:
        return
    assert signal.request_type.FromString(out.raw) == signal.request_type.FromString(ref.raw)


@pytest.mark.slow
def test_the_fuzz_target_finds_no_failing_input(tmp_path):
    """fuzz/fuzz_splice.py (atheris), bounded and repeatable: a fixed seed and number of inputs."""
    import importlib.util
    import subprocess
    import sys

    from tests.support.procs import REPO

    if importlib.util.find_spec("atheris") is None:
        pytest.fail("atheris is not installed: `make venv` (pip install -e '.[services,dev]') installs it")
    result = subprocess.run(
        [sys.executable, str(REPO / "fuzz" / "run.py"), "--runs", "3000", "--time", "60", "--seed", "1",
         "--corpus", str(tmp_path / "corpus"), "--crashes", str(tmp_path / "crashes"), "splice"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300, cwd=tmp_path, check=False,
    )
    assert result.returncode == 0, result.stdout[-12000:]
    assert "ok fuzz_splice" in result.stdout and "Done 3000" in result.stdout
