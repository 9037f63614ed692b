"""The otlp receiver's gRPC transport: acknowledges only after the next hop did,
and maps every failure to the documented status (processors/receivers/otlp_grpc.py,
processors/status.py)."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
from google.protobuf.internal.encoder import _VarintBytes
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.common import span_request
from processors.api import (
    MAX_VALUE_DEPTH,
    TRUNCATED_MARKER,
    Exporter,
    ExportError,
    MalformedPayload,
    Payload,
    Signal,
)
from processors.config import ComponentConfig
from processors.registry import Factory, Registry
from tests.processors.conftest import grpc_port, passthrough_yaml, serving

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


async def raw_export(port: int, body: bytes, *, compression=None) -> grpc.StatusCode:
    options = [("grpc.max_send_message_length", 64 << 20)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=options) as ch:
        call = ch.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
        try:
            await call(body, timeout=10, compression=compression)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK


async def test_next_hop_down_answers_unavailable_so_the_sender_keeps_the_data(closed_port):
    async with serving(passthrough_yaml(closed_port)) as rt:
        code = await raw_export(grpc_port(rt), span_request(4).SerializeToString())
        assert code == grpc.StatusCode.UNAVAILABLE
        tel = rt.service.telemetry
        assert tel.value("otelproc_received_items_total", signal="traces", receiver="otlp") == 4
        assert tel.value("otelproc_exported_items_total", signal="traces", exporter="otlp") == 0
        assert tel.value("otelproc_refused_requests_total", signal="traces", reason="next_hop_unavailable") == 1


async def test_ack_after_forward_across_two_hops(closed_port):
    """A → B → (down): A's sender sees B's next hop being down."""
    async with (serving(passthrough_yaml(closed_port)) as b,
                serving(passthrough_yaml(f"127.0.0.1:{grpc_port(b)}")) as a):
        assert await raw_export(grpc_port(a), span_request(2).SerializeToString()) == grpc.StatusCode.UNAVAILABLE
        assert b.service.telemetry.value("otelproc_received_items_total", signal="traces", receiver="otlp") == 2


async def test_malformed_protobuf_is_invalid_argument(closed_port):
    async with serving(passthrough_yaml(closed_port)) as rt:
        assert await raw_export(grpc_port(rt), b"\x0a\xff\xff\xff\xff\x0f") == grpc.StatusCode.INVALID_ARGUMENT
        assert rt.service.telemetry.value("otelproc_refused_requests_total", signal="traces", reason="malformed") == 1


async def test_oversized_request_is_resource_exhausted(closed_port):
    cfg = passthrough_yaml(closed_port, grpc_extra=", max_recv_msg_size_mib: 0.05")
    async with serving(cfg) as rt:
        big = span_request(512).SerializeToString()
        assert len(big) > 0.05 * 1024 * 1024
        assert await raw_export(grpc_port(rt), big) == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_gzip_requests_are_accepted(closed_port):
    """Compressed requests are decoded (then fail only because the next hop is down)."""
    async with serving(passthrough_yaml(closed_port)) as rt:
        code = await raw_export(grpc_port(rt), span_request(3).SerializeToString(), compression=grpc.Compression.Gzip)
        assert code == grpc.StatusCode.UNAVAILABLE
        assert rt.service.telemetry.value("otelproc_received_items_total", signal="traces", receiver="otlp") == 3


async def test_health_and_reflection(closed_port):
    async with (serving(passthrough_yaml(closed_port)) as rt,
                grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(rt)}") as ch):
        health = health_pb2_grpc.HealthStub(ch)
        for service in ("", "opentelemetry.proto.collector.logs.v1.LogsService"):
            resp = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        responses = refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = set()
        async for r in responses:
            names = {s.name for s in r.list_services_response.service}
            break
        assert {"opentelemetry.proto.collector.trace.v1.TraceService", "grpc.health.v1.Health"} <= names


class _SlowConfig(ComponentConfig):
    delay_s: float = 0.5


class _SlowExporter(Exporter):
    """A next hop that takes its time: lets a test catch requests in flight."""

    def __init__(self, config: _SlowConfig, _settings) -> None:
        self.delay = config.delay_s
        self.delivered: list[Payload] = []

    async def export(self, payload: Payload) -> None:
        await asyncio.sleep(self.delay)
        self.delivered.append(payload)


SLOW = Registry(extra={"exporters": {"slow": Factory(type="slow", config_model=_SlowConfig, create=_SlowExporter)}})


async def test_drain_finishes_in_flight_requests_and_refuses_new_ones(closed_port):
    cfg = passthrough_yaml(closed_port, extra="  slow: {delay_s: 0.5}", exporter="slow")
    rt_cm = serving(cfg, SLOW)
    rt = await rt_cm.__aenter__()
    port = grpc_port(rt)
    in_flight = [asyncio.create_task(raw_export(port, span_request(2).SerializeToString())) for _ in range(5)]
    await asyncio.sleep(0.2)
    await rt_cm.__aexit__(None, None, None)  # drain: waits for the five
    assert [await t for t in in_flight] == [grpc.StatusCode.OK] * 5
    assert len(rt.service.exporters["slow"].delivered) == 5
    assert await raw_export(port, span_request(1).SerializeToString()) == grpc.StatusCode.UNAVAILABLE


async def test_permanent_rejection_downstream_is_invalid_argument():
    class Rejecting(Exporter):
        def __init__(self, *_):
            pass

        async def export(self, payload):
            raise ExportError("schema rejected", retryable=False)

    reg = Registry(extra={"exporters": {"reject": Factory(type="reject", config_model=_SlowConfig, create=Rejecting)}})
    async with serving(passthrough_yaml("127.0.0.1:1", extra="  reject: {}", exporter="reject"), reg) as rt:
        assert await raw_export(grpc_port(rt), span_request(1).SerializeToString()) == grpc.StatusCode.INVALID_ARGUMENT


# --- the request decoder under arbitrary bytes --------------------------------

@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_decoder_never_crashes_on_arbitrary_bytes(data):
    for signal in Signal:
        payload = Payload(signal, raw=data)
        try:
            n = payload.item_count()
        except MalformedPayload as exc:
            assert signal.value in str(exc)
        else:
            assert n >= 0
            # a valid parse re-serialises to something that parses the same
            assert signal.request_type.FromString(payload.edit().SerializeToString()) == payload.message


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=512), st.integers(min_value=0, max_value=4000))
def test_decoder_on_mutated_valid_requests(noise, at):
    raw = bytearray(span_request(8).SerializeToString())
    at %= len(raw)
    raw[at:at + len(noise)] = noise
    payload = Payload(Signal.TRACES, raw=bytes(raw))
    with contextlib.suppress(MalformedPayload):
        payload.item_count()


def _nested_request(depth: int) -> bytes:
    """A span whose one attribute is a kvlist nested ``depth`` levels deep, encoded by hand:
    the protobuf runtime itself refuses to build messages this deep."""

    def field(tag: int, body: bytes) -> bytes:
        return bytes([tag]) + _varint(len(body)) + body

    value = b""  # an empty AnyValue
    for _ in range(depth):
        kv = field(0x0A, b"k") + field(0x12, value)        # KeyValue{key, value}
        value = field(0x32, field(0x0A, kv))                # AnyValue{kvlist_value: {values: [kv]}}
    attr = field(0x0A, b"root") + field(0x12, value)
    span = field(0x0A, b"\x01" * 16) + field(0x12, b"\x02" * 8) + field(0x4A, attr)
    return field(0x0A, field(0x12, field(0x12, span)))     # request{resource_spans{scope_spans{spans}}}


def test_nesting_within_the_limit_parses():
    assert Payload(Signal.TRACES, raw=_nested_request(20)).item_count() == 1


def test_deeply_nested_anyvalue_is_rejected_cleanly_not_a_crash():
    # upb's recursion limit makes a 300-deep tree malformed (INVALID_ARGUMENT), never a stack overflow.
    with pytest.raises(MalformedPayload):
        Payload(Signal.TRACES, raw=_nested_request(300)).item_count()


_varint = _VarintBytes  # the library's encoder, not the one under test


# --- refusals counted in gRPC ---------------------------------------------------


async def test_oversized_request_refused_by_grpc_core_is_counted(closed_port):
    cfg = passthrough_yaml(closed_port, grpc_extra=", max_recv_msg_size_mib: 0.05")
    async with serving(cfg) as rt:
        big = span_request(512).SerializeToString()
        assert await raw_export(grpc_port(rt), big) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await raw_export(grpc_port(rt), big, compression=grpc.Compression.Gzip) == \
            grpc.StatusCode.RESOURCE_EXHAUSTED
        tel = rt.service.telemetry
        assert tel.value("otelproc_refused_requests_total", signal="traces", reason="too_large") == 2


async def test_a_bug_is_internal_and_counted(closed_port):
    from processors.api import Processor

    class Broken(Processor):
        def __init__(self, *_):
            pass

        def process(self, payload):
            raise KeyError("a bug")

    reg = Registry(extra={"processors": {"broken": Factory(type="broken", config_model=_SlowConfig, create=Broken)}})
    cfg = passthrough_yaml(closed_port).replace("traces: {receivers: [otlp], exporters",
                                                "traces: {receivers: [otlp], processors: [broken], exporters")
    cfg = cfg.replace("\nservice:", "processors:\n  broken: {}\nservice:")
    async with serving(cfg, reg) as rt:
        assert await raw_export(grpc_port(rt), span_request(1).SerializeToString()) == grpc.StatusCode.INTERNAL
        assert rt.service.telemetry.value("otelproc_refused_requests_total", signal="traces", reason="internal") == 1


async def test_a_method_without_a_pipeline_is_unimplemented_and_counted(closed_port):
    cfg = passthrough_yaml(closed_port).replace("    metrics: {receivers: [otlp], exporters: [otlp]}\n", "")
    async with serving(cfg) as rt:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(rt)}") as ch:
            call = ch.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
                                  request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(b"", timeout=10)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert rt.service.telemetry.value("otelproc_refused_requests_total", signal="metrics",
                                          reason="unimplemented") == 1


# --- values nested too deeply for the protobuf runtime -----------------------------


class _Keep(Exporter):
    def __init__(self, *_):
        self.delivered: list[Payload] = []

    async def export(self, payload):
        self.delivered.append(payload)


KEEP = Registry(extra={"exporters": {"keep": Factory(type="keep", config_model=_SlowConfig, create=_Keep)}})


def _with_sibling(deep: bytes) -> bytes:
    """``deep`` (a request of one span) with a second, ordinary span in another resource."""
    return deep + span_request(3).SerializeToString()


async def test_one_too_deep_value_is_truncated_and_the_batch_accepted():
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

    async with serving(passthrough_yaml("127.0.0.1:1", extra="  keep: {}", exporter="keep"), KEEP) as rt:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(rt)}") as ch:
            call = ch.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
            answer = await call(_with_sibling(_nested_request(300)), timeout=10)
        response = trace_service_pb2.ExportTraceServiceResponse.FromString(answer)
        assert response.partial_success.rejected_spans == 0
        assert "truncated" in response.partial_success.error_message
        [delivered] = rt.service.exporters["keep"].delivered
        assert delivered.item_count() == 4  # the deep span and its three siblings
        forwarded = Payload(Signal.TRACES, raw=delivered.raw).message  # what goes on parses
        value = forwarded.resource_spans[0].scope_spans[0].spans[0].attributes[0].value
        depth = 1
        while value.HasField("kvlist_value"):
            value = value.kvlist_value.values[0].value
            depth += 1
        assert depth == MAX_VALUE_DEPTH + 1 and value.string_value == TRUNCATED_MARKER
        tel = rt.service.telemetry
        assert tel.value("otelproc_truncated_values_total", signal="traces", receiver="otlp") == 1
        assert tel.value("otelproc_received_items_total", signal="traces", receiver="otlp") == 4
        assert tel.total("otelproc_refused_requests_total") == 0


def _deepest_value_level() -> tuple[Signal, list]:
    """The path (field descriptors) to the AnyValue that starts deepest in any request."""
    best: tuple[int, Signal, list] = (0, Signal.TRACES, [])
    for signal in Signal:
        todo = [(signal.request_type.DESCRIPTOR, [])]
        while todo:
            desc, path = todo.pop()
            for f in desc.fields:
                if f.message_type is None or f.message_type in [p.containing_type for p in path]:
                    continue
                if f.message_type.full_name == "opentelemetry.proto.common.v1.AnyValue":
                    if len(path) + 1 > best[0]:
                        best = (len(path) + 1, signal, [*path, f])
                elif len(path) < 12:
                    todo.append((f.message_type, [*path, f]))
    return best[1], best[2]


def test_truncated_values_parse_even_where_values_start_deepest():
    signal, path = _deepest_value_level()
    assert len(path) == 8  # an exemplar's filtered attribute in a histogram data point: the value is level 9
    raw = _wrap(path, _nested_value(200))
    with pytest.raises(MalformedPayload):
        Payload(signal, raw=raw).item_count()
    payload = Payload.truncating(signal, raw, MalformedPayload("Exceeded upb_DecodeOptions_MaxDepth"))
    assert payload is not None and payload.truncated_values == 1
    assert payload.item_count() == 1


def _nested_value(depth: int) -> bytes:
    def field(tag: int, body: bytes) -> bytes:
        return bytes([tag]) + _varint(len(body)) + body

    value = b""
    for _ in range(depth):
        kv = field(0x0A, b"k") + field(0x12, value)
        value = field(0x32, field(0x0A, kv))
    return value


def _wrap(path, value: bytes) -> bytes:
    """``value`` (an AnyValue) as the field at the end of ``path``, one message per step, built outwards."""
    body = value
    for f in reversed(path):
        key = (f.number << 3) | 2
        if f.message_type.full_name == "opentelemetry.proto.common.v1.KeyValue":
            body = bytes([0x0A, 1]) + b"k" + body  # a key before the value
        body = _varint(key) + _varint(len(body)) + body
    return body
