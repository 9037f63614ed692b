"""Fuzz target: processors.standalone.otlp_json.decode / encode, the OTLP/JSON codec of the
OTLP/HTTP receiver and the file sinks.

The first byte picks the signal (its value mod 3, low 7 bits) and the mode:

- 0x00-0x7f: the rest is a request body (bit 0x40: given as ``str``, bytes
  that are not UTF-8 becoming lone surrogates; else as ``bytes``). ``decode``
  raises MalformedPayload or returns a message; a message it returns encodes to one line of JSON that decodes equal, and
  encoding is stable (encode(decode(encode(m))) is the same JSON as encode(m)).
  "Equal" is as pdata sees it: an absent embedded message that pdata declares
  non-nullable (resource, scope, status, ...) equals an empty one.
- 0x80-0xff: the rest drives a request builder (every field, OTLP-sized ids);
  ``decode(encode(m))`` equals ``m`` with all-zero ids cleared, as pdata clears them.

    python fuzz/fuzz_otlp_json.py -atheris_runs=100000 fuzz/corpus/otlp_json
"""

from __future__ import annotations

import json

import atheris

with atheris.instrument_imports(include=["processors"]):
    from processors.api import MalformedPayload, Signal
    from processors.standalone import otlp_json

from _support import OtlpBuilder, StructureFeedback, run

SIGNALS = tuple(Signal)
FEEDBACK = StructureFeedback()
_ID_FIELDS = ("trace_id", "span_id", "parent_span_id")
_LINE_BREAKS = ("\n", "\r", "\x85", "\u2028", "\u2029")


def test_one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0], data[1:]
    signal = SIGNALS[(mode & 0x7F) % len(SIGNALS)]
    if mode & 0x80:
        _round_trip_built(signal, rest)
    else:
        _decode_body(signal, rest.decode("utf-8", "surrogateescape") if mode & 0x40 else rest)


def _decode_body(signal: Signal, body: str | bytes) -> None:
    try:
        message = otlp_json.decode(signal, body)
    except MalformedPayload as exc:
        assert str(exc), "MalformedPayload without a message"
        return
    assert isinstance(message, signal.request_type)
    FEEDBACK.visit(message)
    line = _encode(signal, message)
    again = otlp_json.decode(signal, line)
    assert _pdata_view(again) == _pdata_view(message), f"decode(encode(m)) != m; line: {line[:500]}"
    # Key order may differ (encode appends the non-nullable members it adds), the content may not.
    assert json.loads(_encode(signal, again)) == json.loads(line), "encoding is not stable"


def _round_trip_built(signal: Signal, rest: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(rest)
    message = OtlpBuilder(fdp, max_depth=9, long_strings=False).fill(signal.request_type())
    expected = signal.request_type()
    expected.CopyFrom(message)
    _clear_zero_ids(expected)
    line = _encode(signal, message)
    try:
        again = otlp_json.decode(signal, line)
    except MalformedPayload as exc:
        raise AssertionError(f"decode refused what encode wrote: {exc}; line: {line[:500]}") from None
    assert _pdata_view(again) == _pdata_view(expected), f"decode(encode(m)) != m; line: {line[:500]}"


def _encode(signal: Signal, message) -> str:
    line = otlp_json.encode(signal, message)
    assert not any(c in line for c in _LINE_BREAKS), "an encoded request must stay on one line"
    assert isinstance(json.loads(line), dict)
    return line


def _pdata_view(message):
    """A copy without empty embedded messages outside oneofs.

    pdata has no "absent" for the embedded messages it declares non-nullable
    (resource, scope, status, ...): ``encode`` writes them empty and ``decode``
    reads them back present. Inside a oneof an empty message is a value (an
    empty map is not no value), so those stay.
    """
    copy = type(message)()
    copy.CopyFrom(message)
    _drop_empty(copy)
    return copy


def _drop_empty(message) -> None:
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for sub in value if field.is_repeated else (value,):
            _drop_empty(sub)
        if not field.is_repeated and field.containing_oneof is None and not value.ListFields():
            message.ClearField(field.name)


def _clear_zero_ids(message) -> None:
    """pdata reads an all-zero trace or span id as no id, and writes none."""
    for field, value in message.ListFields():
        if field.message_type is not None:
            for sub in value if field.is_repeated else (value,):
                _clear_zero_ids(sub)
        elif field.name in _ID_FIELDS and not any(value):
            message.ClearField(field.name)


if __name__ == "__main__":
    run(test_one_input)
