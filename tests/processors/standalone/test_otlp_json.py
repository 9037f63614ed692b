"""OTLP/JSON as the Collector writes it (processors/standalone/otlp_json.py).

The format is checked against the real bin/otelcol: requests sent to its otlp
receiver come out of its file exporter as lines that ``decode`` reads back to
the same request, and that ``encode`` reproduces as the same JSON object.
"""

from __future__ import annotations

import json
import math
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from processors.api import MalformedPayload, Signal, count_items
from processors.standalone import otlp_json
from tests.support.procs import free_port, running

TRACE_ID = bytes(range(16))
SPAN_ID = bytes(range(8, 16))

# --- generated requests --------------------------------------------------------
# Only what pdata carries: no profiles-only fields (key_strindex,
# string_value_strindex). Embedded messages that pdata always writes are always
# present here, so that equality after a round trip is plain message equality.

U64 = st.integers(0, 2**64 - 1)
I64 = st.integers(-(2**63), 2**63 - 1)
U32 = st.integers(0, 2**32 - 1)
# No NaN (NaN != NaN) and no -0.0 (Go writes it as -0, which JSON reads as the integer 0).
DOUBLES = st.floats(allow_nan=False).map(lambda f: 0.0 if f == 0 else f)
TEXT = st.text(max_size=12)
# pdata takes an all-zero id for no id (see test_all_zero_ids_are_no_ids): generate either.
TRACE_IDS = st.one_of(st.just(b""), st.binary(min_size=16, max_size=16).filter(any))
SPAN_IDS = st.one_of(st.just(b""), st.binary(min_size=8, max_size=8).filter(any))


def any_values() -> st.SearchStrategy[AnyValue]:
    scalars = st.one_of(
        st.builds(lambda v: AnyValue(string_value=v), TEXT),
        st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
        st.builds(lambda v: AnyValue(int_value=v), I64),
        st.builds(lambda v: AnyValue(double_value=v), DOUBLES),
        st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=8)),
        st.just(AnyValue()),
    )

    def nest(children: st.SearchStrategy[AnyValue]) -> st.SearchStrategy[AnyValue]:
        def array(values: list[AnyValue]) -> AnyValue:
            v = AnyValue()
            v.array_value.values.extend(values)
            return v

        def kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
            v = AnyValue()
            v.kvlist_value.SetInParent()
            for key, child in pairs:
                v.kvlist_value.values.add(key=key).value.CopyFrom(child)
            return v

        return st.one_of(
            st.lists(children, max_size=3).map(array),
            st.lists(st.tuples(TEXT, children), max_size=3).map(kvlist),
        )

    return st.recursive(scalars, nest, max_leaves=6)


def attributes() -> st.SearchStrategy[list[KeyValue]]:
    def kv(key: str, value: AnyValue) -> KeyValue:
        out = KeyValue(key=key)
        out.value.CopyFrom(value)
        return out

    return st.lists(st.builds(kv, TEXT, any_values()), max_size=3)


@st.composite
def resource_and_scope(draw, holder, scope_holder) -> None:
    holder.resource.SetInParent()
    holder.resource.attributes.extend(draw(attributes()))
    holder.resource.dropped_attributes_count = draw(st.sampled_from([0, 0, 3]))
    holder.schema_url = draw(st.sampled_from(["", "https://opentelemetry.io/schemas/1.26.0"]))
    scope_holder.scope.SetInParent()
    scope_holder.scope.name = draw(TEXT)
    scope_holder.scope.version = draw(st.sampled_from(["", "1.2.3"]))
    scope_holder.scope.attributes.extend(draw(attributes()))


@st.composite
def spans(draw) -> trace_pb2.Span:
    span = trace_pb2.Span(
        trace_id=draw(TRACE_IDS), span_id=draw(SPAN_IDS), parent_span_id=draw(SPAN_IDS),
        trace_state=draw(st.sampled_from(["", "vendor=1"])), flags=draw(U32), name=draw(TEXT),
        kind=draw(st.integers(0, 5)), start_time_unix_nano=draw(U64), end_time_unix_nano=draw(U64),
        dropped_attributes_count=draw(st.sampled_from([0, 2])), dropped_events_count=draw(st.sampled_from([0, 1])),
    )
    span.attributes.extend(draw(attributes()))
    span.status.SetInParent()
    span.status.code = draw(st.integers(0, 2))
    span.status.message = draw(TEXT)
    for _ in range(draw(st.integers(0, 2))):
        event = span.events.add(time_unix_nano=draw(U64), name=draw(TEXT))
        event.attributes.extend(draw(attributes()))
    for _ in range(draw(st.integers(0, 2))):
        link = span.links.add(trace_id=draw(TRACE_IDS), span_id=draw(SPAN_IDS), flags=draw(U32))
        link.attributes.extend(draw(attributes()))
    return span


@st.composite
def trace_requests(draw):
    req = Signal.TRACES.request_type()
    for _ in range(draw(st.integers(1, 2))):
        rs = req.resource_spans.add()
        ss = rs.scope_spans.add()
        draw(resource_and_scope(rs, ss))
        ss.spans.extend(draw(st.lists(spans(), max_size=3)))
    return req


@st.composite
def exemplars(draw) -> metrics_pb2.Exemplar:
    ex = metrics_pb2.Exemplar(time_unix_nano=draw(U64), trace_id=draw(TRACE_IDS), span_id=draw(SPAN_IDS))
    if draw(st.booleans()):
        ex.as_int = draw(I64)
    else:
        ex.as_double = draw(DOUBLES)
    ex.filtered_attributes.extend(draw(attributes()))
    return ex


@st.composite
def point_base(draw, point) -> None:
    point.attributes.extend(draw(attributes()))
    point.start_time_unix_nano = draw(U64)
    point.time_unix_nano = draw(U64)
    point.flags = draw(st.sampled_from([0, 1]))
    point.exemplars.extend(draw(st.lists(exemplars(), max_size=2)))


@st.composite
def metrics(draw) -> metrics_pb2.Metric:
    metric = metrics_pb2.Metric(name=draw(TEXT), description=draw(TEXT), unit=draw(st.sampled_from(["", "s", "By"])))
    metric.metadata.extend(draw(attributes()))
    kind = draw(st.sampled_from(["gauge", "sum", "histogram", "exponential_histogram", "summary", None]))
    if kind is None:
        return metric
    body = getattr(metric, kind)
    body.SetInParent()
    if kind in ("sum", "histogram", "exponential_histogram"):
        body.aggregation_temporality = draw(st.integers(0, 2))
    if kind == "sum":
        body.is_monotonic = draw(st.booleans())
    for _ in range(draw(st.integers(0, 2))):
        point = body.data_points.add()
        if kind in ("gauge", "sum"):
            draw(point_base(point))
            if draw(st.booleans()):
                point.as_int = draw(I64)
            else:
                point.as_double = draw(DOUBLES)
        elif kind == "histogram":
            draw(point_base(point))
            point.count = draw(U64)
            bounds = draw(st.lists(DOUBLES, max_size=3))
            point.explicit_bounds.extend(bounds)
            point.bucket_counts.extend(draw(st.lists(U64, min_size=len(bounds) + 1, max_size=len(bounds) + 1)))
            for optional in ("sum", "min", "max"):
                if draw(st.booleans()):
                    setattr(point, optional, draw(DOUBLES))
        elif kind == "exponential_histogram":
            draw(point_base(point))
            point.count = draw(U64)
            point.scale = draw(st.integers(-10, 20))
            point.zero_count = draw(U64)
            point.zero_threshold = draw(st.sampled_from([0.0, 1e-9]))
            for side in (point.positive, point.negative):
                side.SetInParent()
                side.offset = draw(st.integers(-5, 5))
                side.bucket_counts.extend(draw(st.lists(U64, max_size=3)))
            if draw(st.booleans()):
                point.sum = draw(DOUBLES)
        else:
            point.attributes.extend(draw(attributes()))
            point.start_time_unix_nano = draw(U64)
            point.time_unix_nano = draw(U64)
            point.count = draw(U64)
            point.sum = draw(DOUBLES)
            for _ in range(draw(st.integers(0, 2))):
                point.quantile_values.add(quantile=draw(st.floats(0, 1)), value=draw(DOUBLES))
    return metric


@st.composite
def metric_requests(draw):
    req = Signal.METRICS.request_type()
    for _ in range(draw(st.integers(1, 2))):
        rm = req.resource_metrics.add()
        sm = rm.scope_metrics.add()
        draw(resource_and_scope(rm, sm))
        sm.metrics.extend(draw(st.lists(metrics(), max_size=3)))
    return req


@st.composite
def log_records(draw) -> logs_pb2.LogRecord:
    record = logs_pb2.LogRecord(
        time_unix_nano=draw(U64), observed_time_unix_nano=draw(U64), severity_number=draw(st.integers(0, 24)),
        severity_text=draw(st.sampled_from(["", "INFO", "ERROR"])), flags=draw(U32),
        trace_id=draw(TRACE_IDS), span_id=draw(SPAN_IDS), event_name=draw(st.sampled_from(["", "wa.session.auth"])),
    )
    record.body.CopyFrom(draw(any_values()))
    record.attributes.extend(draw(attributes()))
    return record


@st.composite
def log_requests(draw):
    req = Signal.LOGS.request_type()
    for _ in range(draw(st.integers(1, 2))):
        rl = req.resource_logs.add()
        sl = rl.scope_logs.add()
        draw(resource_and_scope(rl, sl))
        sl.log_records.extend(draw(st.lists(log_records(), max_size=3)))
    return req


REQUESTS = {Signal.TRACES: trace_requests(), Signal.METRICS: metric_requests(), Signal.LOGS: log_requests()}


# --- the format ----------------------------------------------------------------


def test_ids_are_lowercase_hex_and_64_bit_integers_are_decimal_strings():
    req = Signal.TRACES.request_type()
    span = req.resource_spans.add().scope_spans.add().spans.add(
        trace_id=TRACE_ID, span_id=SPAN_ID, parent_span_id=SPAN_ID, name="GET /", kind=trace_pb2.Span.SPAN_KIND_SERVER,
        start_time_unix_nano=1_700_000_000_000_000_001,
    )
    span.links.add(trace_id=TRACE_ID, span_id=SPAN_ID)
    span.attributes.add(key="http.status_code").value.int_value = 200

    out = json.loads(otlp_json.encode(Signal.TRACES, req))

    got = out["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert got["traceId"] == "000102030405060708090a0b0c0d0e0f"
    assert got["spanId"] == got["parentSpanId"] == "08090a0b0c0d0e0f"
    assert got["links"][0] == {"traceId": "000102030405060708090a0b0c0d0e0f", "spanId": "08090a0b0c0d0e0f"}
    assert got["startTimeUnixNano"] == "1700000000000000001"
    assert got["kind"] == 2
    assert got["attributes"] == [{"key": "http.status_code", "value": {"intValue": "200"}}]
    assert "endTimeUnixNano" not in got  # defaults are left out


def test_messages_pdata_never_leaves_out_are_written_even_when_empty():
    traces = Signal.TRACES.request_type()
    span = traces.resource_spans.add().scope_spans.add().spans.add()
    span.attributes.add(key="unset")
    logs = Signal.LOGS.request_type()
    logs.resource_logs.add().scope_logs.add().log_records.add()
    metrics_req = Signal.METRICS.request_type()
    metrics_req.resource_metrics.add().scope_metrics.add().metrics.add(name="h").exponential_histogram.data_points.add()

    t = json.loads(otlp_json.encode(Signal.TRACES, traces))["resourceSpans"][0]
    assert t["resource"] == {} and t["scopeSpans"][0]["scope"] == {}
    assert t["scopeSpans"][0]["spans"][0] == {"attributes": [{"key": "unset", "value": {}}], "status": {}}
    log = json.loads(otlp_json.encode(Signal.LOGS, logs))["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert log == {"body": {}}
    m = json.loads(otlp_json.encode(Signal.METRICS, metrics_req))["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]
    assert m["exponentialHistogram"]["dataPoints"] == [{"positive": {}, "negative": {}}]


def test_all_zero_ids_are_no_ids():
    req = Signal.LOGS.request_type()
    req.resource_logs.add().scope_logs.add().log_records.add(trace_id=bytes(16), span_id=bytes(8), severity_number=9)
    line = otlp_json.encode(Signal.LOGS, req)
    assert json.loads(line)["resourceLogs"][0]["scopeLogs"][0]["logRecords"] == [{"severityNumber": 9, "body": {}}]
    zero_id = '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"%s"}]}]}]}' % ("0" * 32)
    back = otlp_json.decode(Signal.LOGS, zero_id)
    assert back.resource_logs[0].scope_logs[0].log_records[0].trace_id == b""


def test_one_request_is_one_line_even_with_newlines_in_strings():
    req = Signal.LOGS.request_type()
    text = "one\ntwo\r\nthree\u2028four\x85five\u2029six\x1c"
    req.resource_logs.add().scope_logs.add().log_records.add().body.string_value = text
    line = otlp_json.encode(Signal.LOGS, req)
    assert len(line.splitlines()) == 1  # str.splitlines also breaks at U+2028, NEL, ...
    back = otlp_json.decode(Signal.LOGS, line)
    assert back.resource_logs[0].scope_logs[0].log_records[0].body.string_value == text


def test_special_doubles_round_trip_as_strings():
    req = Signal.METRICS.request_type()
    points = req.resource_metrics.add().scope_metrics.add().metrics.add(name="g").gauge.data_points
    for value in (float("inf"), float("-inf"), float("nan")):
        points.add(as_double=value)
    line = otlp_json.encode(Signal.METRICS, req)
    written = json.loads(line)["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"]
    assert [p["asDouble"] for p in written] == ["Infinity", "-Infinity", "NaN"]
    back = otlp_json.decode(Signal.METRICS, line).resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points
    assert (back[0].as_double, back[1].as_double) == (float("inf"), float("-inf"))
    assert math.isnan(back[2].as_double)


# --- what OTLP/HTTP JSON clients may send -------------------------------------------


def test_decode_accepts_numbers_enum_names_snake_case_and_unknown_keys():
    body = textwrap.dedent("""
        {"resource_spans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
          "scopeSpans": [{"scope": {"name": "lib"}, "futureField": {"x": 1},
            "spans": [{"trace_id": "000102030405060708090A0B0C0D0E0F", "spanId": "08090a0b0c0d0e0f",
                       "name": "op", "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": 1700000000000000001,
                       "status": {"code": "STATUS_CODE_ERROR"}, "droppedAttributesCount": "2"},
                      {"name": "from a newer client", "kind": "SPAN_KIND_FROM_THE_FUTURE"}]}]}]}
    """)
    req = otlp_json.decode(Signal.TRACES, body.encode())
    span = req.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == TRACE_ID and span.span_id == SPAN_ID
    assert span.kind == trace_pb2.Span.SPAN_KIND_CLIENT
    assert span.start_time_unix_nano == 1_700_000_000_000_000_001
    assert span.status.code == trace_pb2.Status.STATUS_CODE_ERROR
    assert span.dropped_attributes_count == 2
    assert req.resource_spans[0].resource.attributes[0].value.string_value == "cart"
    # Unknown enum names are ignored like unknown keys (the OTLP/JSON rule for forward compatibility).
    assert req.resource_spans[0].scope_spans[0].spans[1].kind == trace_pb2.Span.SPAN_KIND_UNSPECIFIED


def test_decode_reads_ids_in_logs_and_exemplars():
    body = '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"%s","spanId":"%s"}]}]}]}'
    logs = otlp_json.decode(Signal.LOGS, body % (TRACE_ID.hex(), SPAN_ID.hex()))
    record = logs.resource_logs[0].scope_logs[0].log_records[0]
    assert (record.trace_id, record.span_id) == (TRACE_ID, SPAN_ID)
    metrics_req = otlp_json.decode(
        Signal.METRICS,
        '{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"h","histogram":{"dataPoints":[{"exemplars":'  # noqa: UP031 - JSON braces
        '[{"traceId":"%s","spanId":"%s","asDouble":1.5}]}]}}]}]}]}' % (TRACE_ID.hex(), SPAN_ID.hex()),
    )
    ex = metrics_req.resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0].exemplars[0]
    assert (ex.trace_id, ex.span_id, ex.as_double) == (TRACE_ID, SPAN_ID, 1.5)


@pytest.mark.parametrize(("body", "problem"), [
    (b"{not json", "not JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "expected an object, got list"),
    (b'{"\\ud800": 1}', "a lone UTF-16 surrogate is not text"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\\udc00"}]}]}]}', "lone UTF-16 surrogate"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}',
     "resourceSpans[0].scopeSpans[0].spans[0].traceId: 'xyz' is not 32 hex digits"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "0001"}]}]}]}', "spanId: '0001' is not 16 hex digits"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 7}]}]}]}', "traceId: expected a hex string, got int"),
    (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}', "startTimeUnixNano"),
    (b'{"resourceSpans": {"oops": 1}}', "resourceSpans"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
], ids=["not-json", "not-utf8", "not-object", "surrogate-key", "surrogate-value", "bad-hex", "short-span-id",
        "id-not-string", "bad-int64", "list-expected", "deep-nesting"])
def test_malformed_input_is_refused_with_the_reason(body, problem):
    with pytest.raises(MalformedPayload) as info:
        otlp_json.decode(Signal.TRACES, body)
    assert "traces request" in str(info.value)
    assert problem in str(info.value)


def test_escaped_surrogate_pairs_are_text():
    body = '{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "checkout \\ud83d\\uded2"}]}]}]}'
    assert otlp_json.decode(Signal.TRACES, body).resource_spans[0].scope_spans[0].spans[0].name == "checkout \U0001f6d2"


def test_deeply_nested_values_are_refused_not_crashing():
    body = '{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":' + '{"arrayValue":{"values":[' * 200 \
        + "{}" + "]}}" * 200 + "}]}]}]}"
    with pytest.raises(MalformedPayload, match="logs request"):
        otlp_json.decode(Signal.LOGS, body)


# --- round trip --------------------------------------------------------------------


@pytest.mark.parametrize("signal", list(Signal), ids=lambda s: s.value)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decode_inverts_encode(signal, data):
    request = data.draw(REQUESTS[signal])
    line = otlp_json.encode(signal, request)
    assert "\n" not in line
    assert otlp_json.decode(signal, line) == request
    assert otlp_json.decode(signal, line.encode()) == request


# --- against the real Collector --------------------------------------------------------

STUBS = {
    Signal.TRACES: trace_service_pb2_grpc.TraceServiceStub,
    Signal.METRICS: metrics_service_pb2_grpc.MetricsServiceStub,
    Signal.LOGS: logs_service_pb2_grpc.LogsServiceStub,
}


class FileSinkCollector:
    """bin/otelcol: otlp receiver -> file exporter, one file per signal."""

    def __init__(self, port: int, sink_dir: Path) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.sink_dir = sink_dir
        self.stubs = {signal: stub(self.channel) for signal, stub in STUBS.items()}

    def lines(self, signal: Signal) -> list[str]:
        path = self.sink_dir / f"{signal.value}.jsonl"
        # Split at \n only: the Collector writes U+2028 and NEL raw inside strings.
        return path.read_text().split("\n")[:-1] if path.exists() else []

    def round_trip(self, signal: Signal, request) -> str:
        """Send one request; the line the file exporter wrote for it."""
        before = len(self.lines(signal))
        self.stubs[signal].Export(request, timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = self.lines(signal)
            if len(lines) > before:
                assert len(lines) == before + 1
                return lines[-1]
            time.sleep(0.01)
        raise AssertionError(f"otelcol wrote no {signal.value} line within 10s")


@pytest.fixture(scope="module")
def file_sink_collector(otelcol: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileSinkCollector]:
    tmp = tmp_path_factory.mktemp("otelcol-file")
    port = free_port()
    exporters = "\n".join(
        f"  file/{s.value}: {{path: {tmp}/{s.value}.jsonl, flush_interval: 5ms}}" for s in Signal
    )
    pipelines = "\n".join(f"    {s.value}: {{receivers: [otlp], exporters: [file/{s.value}]}}" for s in Signal)
    config = tmp / "config.yaml"
    config.write_text(
        f"receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:{port}}}\n"
        f"exporters:\n{exporters}\n"
        "service:\n  telemetry: {metrics: {level: none}}\n"
        f"  pipelines:\n{pipelines}\n"
    )
    with running([otelcol, f"--config={config}"], port=port, log=tmp / "otelcol.log"):
        sink = FileSinkCollector(port, tmp)
        try:
            yield sink
        finally:
            sink.channel.close()


@pytest.mark.e2e
@pytest.mark.parametrize("signal", list(Signal), ids=lambda s: s.value)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_collector_file_exporter_lines_match_encode_and_decode(file_sink_collector, signal, data):
    request = data.draw(REQUESTS[signal])
    assume(count_items(signal, request) > 0)  # the otlp receiver drops requests with no items
    line = file_sink_collector.round_trip(signal, request)
    assert otlp_json.decode(signal, line) == request
    # Numbers compare as floats: Go writes an integral double as 120 or 42691393249779740
    # where Python writes 120.0 or 4.269139324977974e+16, the same double.
    assert json.loads(otlp_json.encode(signal, request), parse_int=float) == json.loads(line, parse_int=float)


_SPAN = '{"resourceSpans":[{"scopeSpans":[{"spans":[%s]}]}]}'


@pytest.mark.parametrize(("body", "problem"), [
    (_SPAN % ('{"startTimeUnixNano": %s}' % ("1" * 4301)), "'startTimeUnixNano': an integer of more than 4300 digits"),
    (_SPAN % ('{"kind": %s}' % ("2" * 5000)), "'kind': an integer of more than 4300 digits"),
    (_SPAN % '{"name": "a", "name": "b"}', "key 'name' appears twice in one object"),
    ('{"resourceSpans": [], "resourceSpans": []}', "key 'resourceSpans' appears twice"),
    (_SPAN % '{"kind": NaN}', "'kind': NaN is not a JSON value"),
    (_SPAN % '{"kind": -Infinity}', "'kind': -Infinity is not a JSON value"),
    (_SPAN % '{"kind": 2.5}', "spans[0].kind: 2.5 is not an enum value"),
    (_SPAN % '{"kind": true}', "spans[0].kind: True is not an enum value"),
    (_SPAN % '{"status": {"code": 1.5}}', "spans[0].status.code: 1.5 is not an enum value"),
    ('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber": [9]}]}]}]}',
     "logRecords[0].severityNumber: [9] is not an enum value"),
    ('{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"aggregationTemporality": 1.25}}]}]}]}',
     "metrics[0].sum.aggregationTemporality: 1.25 is not an enum value"),
], ids=["long-int", "long-int-enum", "duplicate-key", "duplicate-top-key", "nan-enum", "infinity-enum",
        "fractional-enum", "bool-enum", "fractional-status", "list-severity", "fractional-temporality"])
def test_ambiguous_json_is_refused_naming_the_field(body, problem):
    signal = Signal.LOGS if "resourceLogs" in body else Signal.METRICS if "resourceMetrics" in body else Signal.TRACES
    with pytest.raises(MalformedPayload) as err:
        otlp_json.decode(signal, body.encode())
    assert problem in str(err.value)


def test_integral_enum_numbers_and_unknown_names_still_decode():
    req = otlp_json.decode(Signal.TRACES, (_SPAN % '{"kind": 2.0}, {"kind": "2"}, {"kind": "NaN"}').encode())
    assert [s.kind for s in req.resource_spans[0].scope_spans[0].spans] == [2, 2, 0]
