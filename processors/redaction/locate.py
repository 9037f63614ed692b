"""From byte offsets in a raw request to the parts of it that hold them.

Every OTLP export request has the same outline: field 1 repeats a resource
entry (ResourceSpans, ResourceLogs, ResourceMetrics), whose field 1 is the
Resource and whose field 2 repeats a scope entry, whose field 1 is the
InstrumentationScope and whose field 2 repeats the items (spans, log records,
metrics). Reading only tags and lengths of these three levels (no values)
tells which resource, scope or item a scan hit fell into, in the same order
as the parsed message's repeated fields, so only those get walked. A hit in
any other field of an entry (its ``schema_url``, field 3) pins the entry
itself, as a hit in its Resource or InstrumentationScope does.

Hand-written because protobuf's Python API does not expose field offsets;
it reads a few bytes per item and never decodes a value.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

_LEN = 2  # wire type of length-delimited fields
_FIRST = (1 << 3) | _LEN  # tag byte of field 1, length-delimited
_SECOND = (2 << 3) | _LEN  # tag byte of field 2, length-delimited


class WireError(ValueError):
    """The bytes are not the protobuf outline expected; the caller walks everything."""


class Located(NamedTuple):
    resources: list[int]  # indexes of resource entries holding a hit outside their scope entries
    scopes: list[tuple[int, int]]  # (resource, scope) of scope entries holding a hit outside their items
    items: list[tuple[int, int, int]]  # (resource, scope, item) holding a hit


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise WireError("varint too long")


def _skip(buf: bytes, pos: int, wire_type: int) -> int:
    """Position after a field value of a wire type that is not length-delimited."""
    if wire_type == 0:
        return _varint(buf, pos)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == 5:
        return pos + 4
    raise WireError(f"unexpected wire type {wire_type}")


def _fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(tag, value start, value end) of each length-delimited field in buf[start:end]."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos)
        if tag & 7 != _LEN:
            pos = _skip(buf, pos, tag & 7)
            continue
        length, pos = _varint(buf, pos)
        yield tag, pos, pos + length
        pos += length
    if pos != end:
        raise WireError("field runs past its parent")


def locate(raw: bytes, ends: list[int]) -> Located:
    """Where the hits ending at ``ends`` (exclusive end offsets) fall.

    A hit on framing bytes between values (a pattern that ran across fields)
    belongs to nothing and is ignored. Raises WireError on bytes that do not
    have the outline; IndexError is turned into WireError too.
    """
    try:
        return _locate(raw, sorted(e - 1 for e in ends))
    except IndexError:
        raise WireError("truncated request") from None


def _locate(raw: bytes, hits: list[int]) -> Located:
    found = Located([], [], [])
    h, n_hits = 0, len(hits)
    r = -1
    for tag, start, end in _fields(raw, 0, len(raw)):
        if tag != _FIRST:
            continue
        r += 1
        while h < n_hits and hits[h] < start:
            h += 1
        if h == n_hits:
            break
        if hits[h] < end:
            _resource_entry(raw, start, end, r, hits, h, found)
    return found


def _resource_entry(raw: bytes, start: int, end: int, r: int, hits: list[int], h: int, found: Located) -> None:
    s = -1
    n_hits = len(hits)
    pinned = False
    for tag, fstart, fend in _fields(raw, start, end):
        if tag == _SECOND:
            s += 1
        while h < n_hits and hits[h] < fstart:
            h += 1
        if h == n_hits:
            return
        if hits[h] < fend:
            if tag == _SECOND:
                _scope_entry(raw, fstart, fend, r, s, hits, h, found)
            elif not pinned:  # the Resource, the schema URL: the entry's own fields
                found.resources.append(r)
                pinned = True


def _scope_entry(raw: bytes, start: int, end: int, r: int, s: int, hits: list[int], h: int, found: Located) -> None:
    # The hot loop: one iteration per item, reading only its tag and length.
    items = found.items
    n_hits = len(hits)
    k = -1
    pos = start
    pinned = False
    while pos < end:
        tag = raw[pos]
        if tag < 0x80:
            pos += 1
        else:
            tag, pos = _varint(raw, pos)
        if tag & 7 != _LEN:
            pos = _skip(raw, pos, tag & 7)
            continue
        b = raw[pos]
        if b < 0x80:
            length, pos = b, pos + 1
        elif raw[pos + 1] < 0x80:  # most items are 128 bytes to 16 KiB long
            length, pos = (b & 0x7F) | (raw[pos + 1] << 7), pos + 2
        else:
            length, pos = _varint(raw, pos)
        fend = pos + length
        if tag == _SECOND:
            k += 1
        while h < n_hits and hits[h] < pos:
            h += 1
        if h == n_hits:
            return
        if hits[h] < fend:
            if tag == _SECOND:
                items.append((r, s, k))
            elif not pinned:  # the InstrumentationScope, the schema URL
                found.scopes.append((r, s))
                pinned = True
        pos = fend
    if pos != end:
        raise WireError("field runs past its parent")
