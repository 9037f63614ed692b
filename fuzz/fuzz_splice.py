"""Fuzz target: the redaction processor's in-place wire edit (processors/redaction/splice.py)
against parsing, walking and serialising the whole request.

Invariants, for each config, the processor as configured (scan, then the
splice) against the same config with ``fast_path: false``:

- when both accept a request, the decoded messages are equal and so are the
  findings counted per rule and action;
- a request the splice refuses (``MalformedPayload``), the walk refuses too;
- nothing but ``MalformedPayload`` is raised.

The first byte picks the config (bits 2-3), the signal (bit 0: traces or logs)
and the mode (bits 4-7):

- 0x00-0x3f: the rest drives a request builder (``_support.OtlpBuilder``:
  every field, values nested as maps and arrays, strings drawn from PII,
  secrets, URLs, SQL and sensitive keys);
- 0x40-0xff: a real-shaped request (``bench.realshape``, 24 items, a seed and
  a PII share from the next bytes) with the remaining bytes overwriting it at
  offsets they choose: framing, lengths, UTF-8 and values damaged on purpose.

    python fuzz/fuzz_splice.py -atheris_runs=20000
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["processors.redaction"]):
    from bench import realshape
    from processors.api import CreateSettings, MalformedPayload, Payload, Signal
    from processors.config import validate_component
    from processors.redaction.audit import FINDINGS
    from processors.redaction.config import RedactionConfig
    from processors.redaction.factory import create
    from processors.telemetry import SelfTelemetry

from _support import OtlpBuilder, run

_KEY = "fuzz-hmac-key-not-a-secret-0123456789"
_CONFIGS = [
    {},
    {"operators": {"email": "hash", "phone": "hash"}, "hash_key": _KEY, "ignored_keys": ["server.address"]},
    {"operator": "redact", "blocked_values": ["cust-[0-9]{6}"], "taint": {"enabled": False}},
    {"truncation": {"max_items": 2, "max_string_length": 48}, "allowed_values": [r"@example\.org$"]},
]
SIGNALS = (Signal.TRACES, Signal.LOGS)


def _build(raw: dict, name: str):
    telemetry = SelfTelemetry()
    config = validate_component(RedactionConfig, raw, f"processors.{name}")
    proc = create(config, CreateSettings(component_id="redaction", telemetry=telemetry,
                                         logger=logging.getLogger("fuzz")))
    return proc, telemetry


PAIRS = [(_build(c, f"redaction/{i}"), _build({**c, "fast_path": False}, f"redaction/{i}/reference"))
         for i, c in enumerate(_CONFIGS)]


def _findings(telemetry: SelfTelemetry) -> dict:
    return {(s.labels["signal"], s.labels["rule"], s.labels["action"]): s.value
            for m in telemetry.registry.collect() for s in m.samples if s.name == f"{FINDINGS}_total"}


def _delta(after: dict, before: dict) -> dict:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def test_one_input(data: bytes) -> None:
    if len(data) < 2:
        return
    head = data[0]
    (proc, telemetry), (ref, ref_telemetry) = PAIRS[(head >> 2) & 3]
    signal = SIGNALS[head & 1]
    fdp = atheris.FuzzedDataProvider(data[1:])
    if head < 0x40:
        body = OtlpBuilder(fdp, max_depth=8).fill(signal.request_type()).SerializeToString()
    else:
        seed, share = fdp.ConsumeIntInRange(0, 1 << 20), fdp.ConsumeIntInRange(0, 100) / 100
        make = realshape.spans if signal is Signal.TRACES else realshape.logs
        raw = bytearray(make(share, n=24, seed=seed).SerializeToString())
        for _ in range(fdp.ConsumeIntInRange(0, 4)):
            raw[fdp.ConsumeIntInRange(0, len(raw) - 1)] = fdp.ConsumeIntInRange(0, 255)
        body = bytes(raw)

    before = _findings(telemetry), _findings(ref_telemetry)
    try:
        out = proc.process(Payload(signal, raw=body))
    except MalformedPayload:
        try:
            ref.process(Payload(signal, raw=body))
        except MalformedPayload:
            return
        raise AssertionError("the splice refused a request the walk accepts") from None
    try:
        expected = ref.process(Payload(signal, raw=body))
    except MalformedPayload:
        return  # bytes the splice never read are forwarded as they came, as a request without hits is
    got, want = signal.request_type.FromString(out.raw), signal.request_type.FromString(expected.raw)
    if got != want:
        raise AssertionError(f"the splice's result differs from the walk's (splice: {out.raw[:300]!r}, "
                             f"walk: {expected.raw[:300]!r})")
    counted, reference = _delta(_findings(telemetry), before[0]), _delta(_findings(ref_telemetry), before[1])
    if counted != reference:
        raise AssertionError(f"findings differ: splice {counted}, walk {reference}")


if __name__ == "__main__":
    run(test_one_input)
