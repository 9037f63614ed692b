"""The OTLP gRPC server: acknowledges only after the next hop did, and maps
every failure to the documented status (processors/server.py)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.common import span_request
from processors.api import ExportError, Exporter, MalformedPayload, Payload, Signal
from processors.config import ComponentConfig
from processors.registry import Factory, Registry
from tests.processors.conftest import grpc_port, passthrough_yaml, serving

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


async def raw_export(port: int, body: bytes, *, compression=None) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
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
    async with serving(passthrough_yaml(closed_port)) as b:
        async with serving(passthrough_yaml(f"127.0.0.1:{grpc_port(b)}")) as a:
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
    async with serving(passthrough_yaml(closed_port)) as rt:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(rt)}") as ch:
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
    try:
        payload.item_count()
    except MalformedPayload:
        pass


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


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
