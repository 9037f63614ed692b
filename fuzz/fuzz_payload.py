"""Fuzz target: processors.api.Payload decoding arbitrary bytes as each signal's request.

Invariant: reading ``.message`` either raises MalformedPayload or gives a
message whose re-serialisation parses back equal; an unedited payload keeps
forwarding exactly the bytes it arrived as, and an edited one re-serialises.
Bytes that do not parse go to ``Payload.truncating`` as the receiver sends
them: it gives None, or a payload that parses, holds at least one replaced
value and forwards bytes that parse to the same message.

    python fuzz/fuzz_payload.py -atheris_runs=100000 fuzz/corpus/payload
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["processors"]):
    from processors.api import MalformedPayload, Payload, Signal

from _support import StructureFeedback, run

SIGNALS = tuple(Signal)
FEEDBACK = StructureFeedback()


def test_one_input(data: bytes) -> None:
    if not data:
        return
    signal = SIGNALS[data[0] % len(SIGNALS)]
    raw = data[1:]
    payload = Payload(signal, raw=raw)
    try:
        message = payload.message
    except MalformedPayload as exc:
        assert str(exc), "MalformedPayload without a message"
        truncated = Payload.truncating(signal, raw, exc)
        if truncated is not None:
            assert truncated.truncated_values > 0
            assert signal.request_type.FromString(truncated.raw) == truncated.message
        return
    FEEDBACK.visit(message)
    payload.item_count()  # the pipeline counts items of every parsed payload
    assert payload.raw == raw, "an unedited payload must forward its original bytes"

    reserialised = message.SerializeToString()
    again = Payload(signal, raw=reserialised).message  # MalformedPayload here is a bug: we wrote those bytes
    assert again == message, "re-serialised request parses to a different message"
    assert again.SerializeToString(deterministic=True) == message.SerializeToString(deterministic=True)

    edited = Payload(signal, raw=raw)
    edited.edit()
    assert edited.modified
    assert signal.request_type.FromString(edited.raw) == message, "an edited payload re-serialises its message"


if __name__ == "__main__":
    run(test_one_input)
