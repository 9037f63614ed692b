"""A value nested too deeply for the protobuf runtime, through the real
Collector: the truncated request the processors forward is one bin/otelcol
accepts, and every item of the batch reaches its sink."""

from __future__ import annotations

import asyncio
import time

import grpc

from bench.common import span_request
from processors.api import TRUNCATED_MARKER, Signal
from tests.processors.conftest import grpc_port, passthrough_yaml, serving
from tests.processors.receivers.test_otlp_grpc import TRACE_EXPORT, _nested_request
from tests.support.pipeline import Collector, count_items, read_sink


def _sink(col: Collector) -> list:
    return [r for path in col.sink_paths(Signal.TRACES) for r in read_sink(path, Signal.TRACES)]


async def test_truncated_request_is_accepted_by_the_collector_and_nothing_is_lost(next_hop):
    async with serving(passthrough_yaml(f"127.0.0.1:{next_hop.processed_port}")) as rt:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port(rt)}") as ch:
            call = ch.unary_unary(TRACE_EXPORT, request_serializer=None, response_deserializer=None)
            await call(_nested_request(500) + span_request(3).SerializeToString(), timeout=20)
        deadline = time.monotonic() + 15
        while count_items(Signal.TRACES, _sink(next_hop)) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        requests = _sink(next_hop)
        assert count_items(Signal.TRACES, requests) == 4
        spans = [s for r in requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
        deep = next(s for s in spans if s.attributes and s.attributes[0].key == "root")
        value = deep.attributes[0].value
        while value.HasField("kvlist_value"):
            value = value.kvlist_value.values[0].value
        assert value.string_value == TRUNCATED_MARKER
