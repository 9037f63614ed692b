"""Editing a request in place on the wire: only the strings that change are rewritten.

The raw scan gives the end offset of every byte-pattern hit. This module reads
the request's outline (tags and lengths) down to the strings those hits fall
in, asks the walker what each of them becomes (the same ``Walker.text`` /
``Walker.value`` calls a parse-and-walk makes, so the rules are applied once,
in one place), writes the replacement into a copy of the original bytes, and
rewrites the length prefix of every message that encloses a change (a prefix
may grow or shrink a byte). Fields, items and whole resources without a hit
are copied as they are, never decoded.

What it reads exactly, and what sends the request back to the parse-and-walk
path (``Fallback``), is in ``SPECS``: attribute maps whose values are strings
or scalars, names, trace states, schema URLs, scope names and versions,
string log bodies, severity texts, event names, status messages. A hit in
anything else (span events and links, entity references, a map or array
value, a metric), an attribute key that holds a finding itself (renaming
needs the whole map, to keep keys unique), a field the parser would merge or
overwrite (a singular field given twice), a field of an unexpected wire type
or any framing that does not add up falls back, so the result always decodes
to what parsing, walking and serialising gives.

Verdicts are cached on the value's bytes and the key's rule: a repeated
value (a host, a route, a statement with placeholders) is looked at once.
"""

from __future__ import annotations

import copy
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from processors.api import Signal
from processors.redaction.audit import Tally
from processors.redaction.rules import CACHE_MAX_VALUE_LENGTH, TEXT, KeyAction, Mode
from processors.redaction.walk import LAYOUTS as _LAYOUTS
from processors.redaction.walk import Record, Walker

try:  # the compiled field reader, built from native/redaction_wire (`make native`)
    from processors.redaction import _wire as _native
except ImportError:  # pragma: no cover - the Python reader below does the same
    _native = None

_LEN = 2


class Fallback(Exception):
    """This request (or this part of it) needs the parse-and-walk path."""


# Field kinds of SPECS.
_TEXT = "text"  # a singular string read as free text: (kind, where)
_KV = "kv"  # a repeated KeyValue: attributes
_MSG = "msg"  # a singular message: (kind, spec)
_EACH = "each"  # a repeated message: (kind, spec, a record of its own: None, "item" or "entry")
_BODY = "body"  # a log record's body
_WHOLE = "whole"  # a hit here needs the parse-and-walk path

# Records (what a replaced value spreads over, see rules.Taint): an item is one, and so are a
# resource entry and a scope entry, each without the entries or items inside it.
_ITEM, _ENTRY = "item", "entry"

_RESOURCE = {1: (_KV,), 3: (_WHOLE,)}  # attributes; entity_refs
_SCOPE = {1: (_TEXT, "scope.name"), 2: (_TEXT, "scope.version"), 3: (_KV,)}
_STATUS = {2: (_TEXT, "status.message")}
_SPAN = {3: (_TEXT, "trace_state"), 5: (_TEXT, "name"), 9: (_KV,), 11: (_WHOLE,), 13: (_WHOLE,),
         15: (_MSG, _STATUS)}
_LOG = {3: (_TEXT, "severity_text"), 5: (_BODY,), 6: (_KV,), 12: (_TEXT, "event_name")}


def _request(item_spec: dict[int, tuple]) -> dict[int, tuple]:
    scope_entry = {1: (_MSG, _SCOPE), 2: (_EACH, item_spec, _ITEM), 3: (_TEXT, "schema_url")}
    resource_entry = {1: (_MSG, _RESOURCE), 2: (_EACH, scope_entry, _ENTRY), 3: (_TEXT, "schema_url")}
    return {1: (_EACH, resource_entry, _ENTRY)}


SPECS = {Signal.TRACES: _request(_SPAN), Signal.LOGS: _request(_LOG)}


def _index(spec: dict[int, tuple], out: dict[int, tuple[dict[int, tuple], int, int]]) -> None:
    """Each spec as the field reader takes it: kinds by the full tag of their length-delimited
    fields, and bit masks of its field numbers and of the singular ones among them."""
    known = sum(1 << field for field in spec)
    singular = sum(1 << field for field, kind in spec.items() if kind[0] is not _KV and kind[0] is not _EACH)
    out[id(spec)] = ({(field << 3) | 2: kind for field, kind in spec.items()}, known, singular)
    for kind in spec.values():
        if kind[0] in (_MSG, _EACH) and id(kind[1]) not in out:
            _index(kind[1], out)


_BY_TAG: dict[int, tuple[dict[int, tuple], int, int]] = {}
for _spec in SPECS.values():
    _index(_spec, _BY_TAG)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    b = buf[pos]
    if b < 0x80:
        return b, pos + 1
    result, shift = b & 0x7F, 7
    pos += 1
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise Fallback("varint too long")


def encode_varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field_end(buf: bytes, pos: int, end: int, wire_type: int) -> int:
    """Position after a value of a wire type other than length-delimited."""
    if wire_type == 0:
        pos = _varint(buf, pos)[1]
    elif wire_type == 1:
        pos += 8
    elif wire_type == 5:
        pos += 4
    else:  # groups and wire types 6-7: the parser's business
        raise Fallback(f"wire type {wire_type}")
    if pos > end:
        raise Fallback("field runs past its parent")
    return pos


class PyFields:
    """The field reader in Python, the same as the compiled one (native/redaction_wire), which
    is used when it is built: ``hit_fields`` walks the fields of ``buf[start:end]`` by tag and
    length and returns ``(tag, tag_at, len_at, value_start, value_end, h)`` for each
    length-delimited field whose number is set in ``known`` and whose value holds a hit (``h``:
    the index of the first hit at or after the value). ValueError where the splice falls back:
    a known field of another wire type, a field in ``singular`` given twice, framing that does
    not add up."""

    __slots__ = ("buf", "hits")

    def __init__(self, buf: bytes, hits: list[int]) -> None:
        self.buf, self.hits = buf, hits

    def hit_fields(self, start: int, end: int, h: int, known: int, singular: int) -> list[tuple[int, ...]]:
        # The hot loop: one iteration per field, varints of one or two bytes inlined.
        buf, hits = self.buf, self.hits
        n_hits = len(hits)
        if end > len(buf) or start > end:
            raise ValueError("field runs past its parent")
        out = []
        seen = 0
        pos = start
        try:
            while pos < end:
                tag_at = pos
                tag = buf[pos]
                if tag < 0x80:
                    pos += 1
                else:
                    tag, pos = _varint(buf, pos)
                bit = 1 << (tag >> 3) if tag >> 3 < 64 else 0
                if tag & 7 != _LEN:
                    if known & bit:
                        raise ValueError("a known field of an unexpected wire type")
                    pos = _field_end(buf, pos, end, tag & 7)
                    continue
                len_at = pos
                b = buf[pos]
                if b < 0x80:
                    length, pos = b, pos + 1
                elif buf[pos + 1] < 0x80:
                    length, pos = (b & 0x7F) | (buf[pos + 1] << 7), pos + 2
                else:
                    length, pos = _varint(buf, pos)
                fend = pos + length
                if fend > end:
                    raise ValueError("field runs past its parent")
                if not known & bit:
                    pos = fend
                    continue
                if singular & bit:
                    if seen & bit:
                        raise ValueError("a singular field given twice")
                    seen |= bit
                while h < n_hits and hits[h] < pos:
                    h += 1
                if h < n_hits and hits[h] < fend:
                    out.append((tag, tag_at, len_at, pos, fend, h))
                pos = fend
        except (IndexError, Fallback) as exc:
            raise ValueError(str(exc) or "truncated") from None
        if pos != end:
            raise ValueError("field runs past its parent")
        return out


class Splicer:
    """Applies the walker's rules to a raw request, writing only what changes."""

    def __init__(self, walker: Walker, cache_size: int, *, native: bool | None = None) -> None:
        """``native``: the compiled field reader (processors/redaction/_wire, from native/);
        None uses it when it is installed, False keeps to the pure-Python one."""
        self.native = (_native is not None) if native is None else native
        if self.native and _native is None:
            raise ImportError("processors.redaction._wire is not built: `make native`")
        self.walker = walker
        self.rules = walker.rules
        self.key_rule = walker.key_rule
        self._keys: dict[bytes, Any] = {}
        self._verdicts: dict[tuple[bytes, Any, bool], tuple[Any, tuple, Any]] = {}
        self._cache_size = cache_size
        self.cache_hits = 0  # verdicts answered here; the misses are the rules' own cache's business

    def edit(self, raw: bytes, signal: Signal, ends: list[int]) -> tuple[bytes | None, int, Tally]:
        """(the new request, or None when nothing changed; items edited; findings).

        ``ends`` are the scan's end offsets of hits. Raises Fallback when the request
        needs the parse-and-walk path; nothing has been counted then.
        """
        hits = sorted({e - 1 for e in ends})
        if not hits:
            return None, 0, {}
        # A request's state lives on a copy: the server may run two requests at once on its
        # worker threads. The copy shares the caches (plain dict reads and writes).
        job = copy.copy(self)
        job._tally, job._taint, job._signal, job._items, job._hits = {}, None, signal, 0, hits
        job._fields = (_native.Fields if self.native else PyFields)(raw, hits)
        job.cache_hits = 0
        try:
            out = job._message(raw, 0, len(raw), SPECS[signal], 0)
        except (IndexError, UnicodeDecodeError):
            raise Fallback("unreadable") from None
        finally:
            self.cache_hits += job.cache_hits
        return (None if out is None else out[0]), job._items, job._tally

    # --- messages ----------------------------------------------------------------

    def _message(self, buf: bytes, start: int, end: int, spec: dict[int, tuple], h: int) -> tuple[bytes, int] | None:
        """The new bytes of buf[start:end] (a message's content) and the first hit index past
        it, or None when nothing in it changed. ``h`` indexes the first hit at or after start."""
        by_tag, known, singular = _BY_TAG[id(spec)]
        try:
            fields = self._fields.hit_fields(start, end, h, known, singular)
        except ValueError as exc:
            raise Fallback(str(exc)) from None
        pieces: list[bytes] | None = None
        copied = start  # buf[start:copied] is in pieces already
        for tag, tag_at, len_at, pos, fend, at in fields:
            new = self._field(buf, pos, fend, by_tag[tag], at)
            if new is None:
                continue
            body, _ = new
            if pieces is None:
                pieces = []
            pieces.append(buf[copied:tag_at])
            if body is not _DROPPED:
                pieces.append(buf[tag_at:len_at])
                pieces.append(encode_varint(len(body)))
                pieces.append(body)
            copied = fend
        if pieces is None:
            return None
        pieces.append(buf[copied:end])
        return b"".join(pieces), self._past(end, h)

    def _field(self, buf: bytes, start: int, end: int, kind: tuple, h: int) -> tuple[bytes | object, int] | None:
        what = kind[0]
        if what is _KV:
            return self._kv(buf, start, end, h)
        if what is _TEXT:
            return self._text(buf, start, end, kind[1], h)
        if what is _EACH:
            if kind[2] is _ITEM:
                return self._item(buf, start, end, kind[1], h)
            if kind[2] is _ENTRY:
                return self._entry(buf, start, end, kind[1], h)
            return self._message(buf, start, end, kind[1], h)
        if what is _MSG:
            return self._message(buf, start, end, kind[1], h)
        if what is _BODY:
            return self._body(buf, start, end, h)
        raise Fallback("a hit the splice does not handle")

    # --- records ---------------------------------------------------------------------

    def _entry(self, buf: bytes, start: int, end: int, spec: dict[int, tuple], h: int) -> tuple[bytes, int] | None:
        """A resource or scope entry: a record of its own, but for the entries and items in it."""
        outer = self._taint
        self._taint = None  # made when a value in it spreads (see _spread)
        try:
            out = self._message(buf, start, end, spec, h)
            if self._taint is not None and _repeats(self._taint, out[0] if out else buf[start:end]):
                raise Fallback("a replaced value repeats elsewhere in its resource or scope")
        finally:
            self._taint = outer
        return out

    def _item(self, buf: bytes, start: int, end: int, spec: dict[int, tuple], h: int) -> tuple[bytes, int] | None:
        """A span or log record. Spliced when that is all it needs; walked on its own, parsed,
        when a value replaced in it may repeat elsewhere in it (taint), or when a hit is in
        something the splice does not read (events, maps, a key to rewrite...)."""
        self._items += 1
        outer_tally, outer_taint = self._tally, self._taint
        self._tally, self._taint = {}, None
        try:
            out = self._message(buf, start, end, spec, h)
            redo = self._taint is not None and _repeats(self._taint, out[0] if out else buf[start:end])
        except (Fallback, IndexError, UnicodeDecodeError):
            redo = True
        finally:
            tally = self._tally
            self._tally, self._taint = outer_tally, outer_taint
        if redo:
            return self._walk_item(buf, start, end, h)
        for key, n in tally.items():
            outer_tally[key] = outer_tally.get(key, 0) + n
        return out

    def _walk_item(self, buf: bytes, start: int, end: int, h: int) -> tuple[bytes, int] | None:
        """One item through the walker: parsed inside an otherwise empty request of its signal,
        so that it sits as deep as it did (the parser's nesting limit counts from the request)."""
        item = buf[start:end]
        inner = b"\x12" + encode_varint(len(item)) + item  # the scope entry's items: field 2
        entry = b"\x12" + encode_varint(len(inner)) + inner  # the resource entry's scope entries: field 2
        request = self._signal.request_type()
        try:
            request.ParseFromString(b"\x0a" + encode_varint(len(entry)) + entry)
        except DecodeError:
            raise Fallback("an item that does not parse") from None
        layout = _LAYOUTS[self._signal]
        parsed = getattr(getattr(getattr(request, layout.resources)[0], layout.scopes)[0], layout.items)[0]
        tally: Tally = {}
        getattr(self.walker, layout.item)(parsed, tally)
        past = self._past(end, h)
        if not tally:
            return None
        for key, n in tally.items():
            self._tally[key] = self._tally.get(key, 0) + n
        return parsed.SerializeToString(), past

    # --- strings -------------------------------------------------------------------

    def _text(self, buf: bytes, start: int, end: int, where: str, h: int) -> tuple[bytes | object, int] | None:
        if start == end:
            return None
        data = buf[start:end]
        new = self._verdict(data, TEXT, where, keyed=False)
        return None if new is None else (new, self._past(end, h))

    def _body(self, buf: bytes, start: int, end: int, h: int) -> tuple[bytes, int] | None:
        """A log body: a string is free text; any other kind needs the parse-and-walk path."""
        s_start, s_end = _only_string(buf, start, end)
        if s_start == s_end:
            return None
        new = self._verdict(buf[s_start:s_end], TEXT, "body", keyed=False)
        if new is None:
            return None
        return b"\x0a" + encode_varint(len(new)) + new, self._past(end, h)

    def _verdict(self, data: bytes, rule: Any, where: str, *, keyed: bool,
                 key_only: bool = False) -> bytes | None | object:
        """A string value's new bytes, _DROPPED (its entry goes) or None (unchanged);
        counts the findings. Cached on the bytes and the rule. ``key_only``: no scan pattern
        matched inside the value, so only its key's sanitiser (URL, SQL) can change it, and when
        under a key with no sanitiser the rules need not be asked. (A URL or SQL value is: the
        sanitiser costs what the rules' own screen and sanitiser do.)"""
        cache_key = (data, rule, keyed)
        hit = self._verdicts.get(cache_key)
        if hit is not None:
            self.cache_hits += 1
        elif key_only and rule.mode is Mode.TEXT:
            hit = _UNCHANGED
            self._remember(cache_key, data, hit)
        else:
            tally: Tally = {}
            record = Record(tally, self.rules)
            new = self.walker.text(data.decode("utf-8"), rule, record, where, keyed=keyed)
            if new is None:
                out = None
            elif isinstance(new, str):
                out = new.encode("utf-8")
            else:
                out = _DROPPED
            hit = (out, tuple(tally.items()), record.taint or None)
            self._remember(cache_key, data, hit)
        out, counts, taint = hit
        if counts:
            tally = self._tally
            for key, n in counts:
                tally[key] = tally.get(key, 0) + n
        if taint is not None:
            self._spread(taint)
        return out

    # --- attributes -------------------------------------------------------------------

    def _kv(self, buf: bytes, start: int, end: int, h: int) -> tuple[bytes | object, int] | None:
        """One KeyValue holding a hit: its new bytes, _DROPPED or None."""
        key_at = key_end = value_at = value_end = -1
        pos = start
        while pos < end:
            tag = buf[pos]
            length = buf[pos + 1]
            if length < 0x80:
                pos += 2
            else:
                if tag >= 0x80:
                    raise Fallback("a key-value field the splice does not read")
                length, pos = _varint(buf, pos + 1)
            fend = pos + length
            if fend > end:
                raise Fallback("field runs past its parent")
            if tag == 0x0A:
                if key_at >= 0:
                    raise Fallback("a key given twice")
                key_at, key_end = pos, fend
            elif tag == 0x12:
                if value_at >= 0:
                    raise Fallback("a value given twice")
                value_at, value_end = pos, fend
            else:
                raise Fallback("a key-value field the splice does not read")
            pos = fend
        if pos != end:
            raise Fallback("field runs past its parent")
        key_bytes = buf[key_at:key_end] if key_at >= 0 else b""
        rule = self._keys.get(key_bytes)
        if rule is None:
            rule = self.key_rule(key_bytes.decode("utf-8"))
            if len(self._keys) >= 4096:
                self._keys.clear()
            self._keys[key_bytes] = rule
        action = rule.action
        if action is KeyAction.IGNORE:
            return None
        if action is not KeyAction.VALUE and action is not KeyAction.BLOCK:
            # Before the value's absence is looked at: a key that holds a finding is rewritten
            # even when it has no value. Renames keep keys unique map-wide.
            raise Fallback("a key that is rewritten or dropped")
        if value_at < 0:
            return None
        key = key_bytes.decode("utf-8")
        # The common case inlined: the value is one string_value of a length of one or two bytes.
        b = buf[value_at] if value_at < value_end else -1
        s_end = value_end
        if b == 0x0A and buf[value_at + 1] < 0x80 and value_at + 2 + buf[value_at + 1] == value_end:
            s_start = value_at + 2
        elif (b == 0x0A and buf[value_at + 2] < 0x80
              and value_at + 3 + ((buf[value_at + 1] & 0x7F) | (buf[value_at + 2] << 7)) == value_end
              and buf[value_at + 1] >= 0x80):
            s_start = value_at + 3
        else:
            s_start, s_end = _only_string(buf, value_at, value_end, scalar_ok=True)
        if s_start >= 0 and action is KeyAction.VALUE:
            if s_start == s_end:
                return None
            # Only the key was hit (a URL or SQL attribute, a key like a context word but not one):
            # no detector, blocked value or free-text pattern matched the value.
            key_only = not rule.context and not rule.geo and not self._hit_in(h, value_at, value_end)
            new = self._verdict(buf[s_start:s_end], rule, key, keyed=True, key_only=key_only)
            if new is None:
                return None
            if new is _DROPPED:
                return _DROPPED, self._past(end, h)
            value = b"\x0a" + encode_varint(len(new)) + new
        else:
            value = self._scalar(buf[value_at:value_end], rule, key)
            if value is None:
                return None
            if value is _DROPPED:
                return _DROPPED, self._past(end, h)
        # The key as it came when it comes first; else written first (fields may come in any order).
        if 0 <= key_at < value_at:
            head = buf[start:key_end]
        else:
            head = (b"\x0a" + encode_varint(len(key_bytes)) + key_bytes) if key_at >= 0 else b""
        return head + b"\x12" + encode_varint(len(value)) + value, self._past(end, h)

    def _scalar(self, data: bytes, rule: Any, key: str) -> bytes | None | object:
        """A value that is not a plain string under a readable key (a number, bytes, a blocked
        key's value), through the walker on a parsed AnyValue; maps and arrays fall back."""
        try:
            v = AnyValue.FromString(data)
        except DecodeError:
            raise Fallback("unreadable value") from None
        tally: Tally = {}
        ch = Record(tally, self.rules)
        if rule.action is KeyAction.BLOCK:
            drop = self.walker.block(v, ch, key)
        else:
            drop = self.walker.value(v, rule, ch, key, keyed=True)
        if not tally:
            return None
        for k, n in tally.items():
            self._tally[k] = self._tally.get(k, 0) + n
        if ch.taint:
            self._spread(ch.taint)
        return _DROPPED if drop else v.SerializeToString()

    def _spread(self, taint: Any) -> None:
        """Values replaced in the current record that the walk would look for in the rest of it."""
        if self._taint is None:
            self._taint = self.rules.taint()
        self._taint.update(taint)

    def _remember(self, cache_key: tuple, data: bytes, hit: tuple) -> None:
        if len(data) <= CACHE_MAX_VALUE_LENGTH and self._cache_size:
            if len(self._verdicts) >= self._cache_size:
                self._verdicts.clear()  # bounded; real traffic refills the repeated values at once
            self._verdicts[cache_key] = hit

    def _hit_in(self, h: int, start: int, end: int) -> bool:
        hits, n = self._hits, len(self._hits)
        while h < n and hits[h] < start:
            h += 1
        return h < n and hits[h] < end

    def _past(self, end: int, h: int) -> int:
        hits, n = self._hits, len(self._hits)
        while h < n and hits[h] < end:
            h += 1
        return h


_DROPPED = object()  # the keyed entry is removed
_UNCHANGED = (None, (), None)  # a verdict: nothing to replace, nothing counted


def _repeats(taint: Any, record: bytes) -> bool:
    """Whether a value replaced in a record may be somewhere in it still (after the rewrites),
    where the walk's taint pass would replace it too. A value whose bytes are nowhere in the
    record's bytes is in none of its strings, so the pass would change nothing: the splice stands."""
    texts = getattr(taint, "texts", None)
    if texts is None:  # not a Taint this module knows how to read: let the walk decide
        return True
    return any(text.encode("utf-8") in record for text in texts())


def _only_string(buf: bytes, start: int, end: int, scalar_ok: bool = False) -> tuple[int, int]:
    """The bounds of an AnyValue's string_value when that is its only field. With
    ``scalar_ok``, (-1, -1) for an empty value or one scalar of another kind (a number, a
    bool, bytes). Anything else (maps, arrays, several fields, unknown fields) falls back."""
    if start == end:
        return (-1, -1) if scalar_ok else (start, start)  # empty AnyValue: nothing to read
    tag, pos = _varint(buf, start)
    field, wire_type = tag >> 3, tag & 7
    if wire_type == _LEN:
        length, pos = _varint(buf, pos)
        pos += length
    else:
        pos = _field_end(buf, pos, end, wire_type)
    if pos != end:
        raise Fallback("an AnyValue with more than one field")
    if field == 1 and wire_type == _LEN:
        return end - length, end
    if scalar_ok and (field, wire_type) in ((2, 0), (3, 0), (4, 1), (7, _LEN)):
        return -1, -1
    raise Fallback("a map, an array or an unknown value kind")
