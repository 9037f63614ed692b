"""From byte offsets to the resource, scope and item that hold them."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from processors.redaction.locate import Located, WireError, locate
from tests.processors.redaction.builders import kv


def request() -> ExportTraceServiceRequest:
    """Two resources; the second has two scopes of three spans each."""
    req = ExportTraceServiceRequest()
    for r in range(2):
        rs = req.resource_spans.add()
        rs.resource.attributes.append(kv("service.name", f"svc-{r}"))
        for s in range(1 if r == 0 else 2):
            ss = rs.scope_spans.add()
            ss.scope.name = f"scope-{r}-{s}"
            ss.scope.attributes.append(kv("scope.tag", f"tag-{r}-{s}"))
            for k in range(3):
                sp = ss.spans.add(name=f"span-{r}-{s}-{k}", trace_id=bytes(16), span_id=bytes(8))
                sp.attributes.append(kv("marker", f"MARK-{r}-{s}-{k}" + "x" * (40 * k)))
    return req


def end_of(raw: bytes, needle: str) -> int:
    return raw.index(needle.encode()) + len(needle)


def test_hits_point_at_their_resource_scope_and_item():
    raw = request().SerializeToString()
    ends = [end_of(raw, "MARK-1-1-2"), end_of(raw, "svc-1"), end_of(raw, "tag-1-0"), end_of(raw, "MARK-0-0-1")]
    assert locate(raw, ends) == Located(resources=[1], scopes=[(1, 0)], items=[(0, 0, 1), (1, 1, 2)])


def test_several_hits_in_one_item_name_it_once():
    raw = request().SerializeToString()
    ends = [end_of(raw, "MARK-1-0-0"), end_of(raw, "span-1-0-0")]
    assert locate(raw, ends).items == [(1, 0, 0)]


def test_indexes_agree_with_the_parsed_message():
    req = request()
    raw = req.SerializeToString()
    for r, s, k in [(0, 0, 0), (1, 0, 2), (1, 1, 1)]:
        name = req.resource_spans[r].scope_spans[s].spans[k].name
        assert locate(raw, [end_of(raw, name)]).items == [(r, s, k)]


def test_a_hit_on_framing_between_items_belongs_to_nothing():
    raw = request().SerializeToString()
    assert locate(raw, [1]) == Located([], [], [])


def test_no_hits_no_work():
    assert locate(request().SerializeToString(), []) == Located([], [], [])


def test_a_non_minimal_tag_still_counts_as_an_item():
    # Field 2 of a ScopeSpans written as a two-byte varint (0x92 0x00): still the second span.
    span_a = kv("marker", "A").SerializeToString()
    span_b = kv("marker", "B").SerializeToString()
    scope = b"\x12" + bytes([len(span_a)]) + span_a + b"\x92\x00" + bytes([len(span_b)]) + span_b
    resource = b"\x12" + bytes([len(scope)]) + scope
    raw = b"\x0a" + bytes([len(resource)]) + resource
    assert ExportTraceServiceRequest.FromString(raw).resource_spans[0].scope_spans[0].spans[1]
    assert locate(raw, [raw.rindex(b"B") + 1]).items == [(0, 0, 1)]


@pytest.mark.parametrize("raw", [b"\x0a\x05\x12\x10abc", b"\x0a\x03\x12\x05abc", b"\x0b\x0a\x00", b"\x0a\xff"])
def test_broken_bytes_raise_wire_error(raw):
    with pytest.raises(WireError):
        locate(raw, [len(raw)])


def test_a_hit_in_a_schema_url_pins_its_entry():
    req = request()
    req.resource_spans[1].schema_url = "https://schemas.example/RESOURCE-URL"
    req.resource_spans[1].scope_spans[1].schema_url = "https://schemas.example/SCOPE-URL"
    raw = req.SerializeToString()
    assert locate(raw, [end_of(raw, "RESOURCE-URL")]) == Located(resources=[1], scopes=[], items=[])
    assert locate(raw, [end_of(raw, "SCOPE-URL")]) == Located(resources=[], scopes=[(1, 1)], items=[])
    both = [end_of(raw, "svc-1"), end_of(raw, "RESOURCE-URL"), end_of(raw, "scope-1-1"), end_of(raw, "SCOPE-URL")]
    assert locate(raw, both) == Located(resources=[1], scopes=[(1, 1)], items=[])
