"""Fuzz target: the redaction processor (processors/redaction) on arbitrary requests.

Invariants:

- a request that parses is processed without raising, keeps every item
  (span, log record, metric), and comes out as bytes that parse;
- bytes that do not parse raise nothing but MalformedPayload (the fast path
  may forward them unparsed when its scan finds nothing: the next hop refuses
  them, as it would have);
- the fast path (scan the raw bytes, walk only what the scan hit) gives the
  same result as walking everything with the exact rules (``fast_path:
  false``): the scan must never miss what the rules would change.

The first byte picks the processor config (bits 2-4) and the mode:

- 0x00-0x1f: the rest is the raw request, of the signal in bits 0-1 (seeds hold valid ones);
- 0x20-0xff: the rest drives a request builder: logs (AnyValue bodies and
  attributes nested as maps and arrays), and traces and metrics, with
  strings drawn from PII, secrets, URLs, SQL and sensitive keys.

    python fuzz/fuzz_redaction.py -atheris_runs=20000 fuzz/corpus/redaction
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports(include=["processors"]):
    import yaml

    from processors.api import CreateSettings, MalformedPayload, Payload, Signal, count_items
    from processors.config import expand_env, validate_component
    from processors.redaction.config import RedactionConfig
    from processors.redaction.factory import create
    from processors.telemetry import SelfTelemetry

from _support import OtlpBuilder, StructureFeedback, run

REPO = Path(__file__).resolve().parents[1]
SIGNALS = (Signal.LOGS, Signal.LOGS, Signal.TRACES, Signal.METRICS)
FEEDBACK = StructureFeedback()
_ENV = {"REDACTION_HMAC_KEY": "fuzz-hmac-key-not-a-secret-0123456789"}


def _testdata(component_id: str) -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "processors/redaction/testdata/config.yaml").read_text())
    return expand_env(doc["processors"][component_id] or {}, environ=_ENV)


def _processor(raw: dict[str, Any], name: str):
    config = validate_component(RedactionConfig, raw, f"processors.{name}")
    return create(config, CreateSettings(component_id=name, telemetry=SelfTelemetry(),
                                         logger=logging.getLogger("fuzz")))


# (name, config): each is built twice, as given and with fast_path off (the reference).
_CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("redaction/empty", {}),
    ("redaction", _testdata("redaction")),
    ("redaction/re2", {"scan_engine": "re2"}),
    ("redaction/tight", {"truncation": {"max_items": 2, "max_string_length": 16}, "summary": "debug",
                         "operator": "redact", "blocked_values": ["cust-[0-9]{8}"],
                         "allowed_values": ["@example\\.org$"]}),
    ("redaction/allowlist", _testdata("redaction/allowlist")),
]
PROCESSORS = [(name, _processor(raw, name), _processor({**raw, "fast_path": False}, f"{name}/reference"))
              for name, raw in _CONFIGS]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    head, rest = data[0], data[1:]
    name, processor, reference = PROCESSORS[(head >> 2 & 7) % len(PROCESSORS)]
    signal = SIGNALS[head & 3]
    if head < 0x20:
        body, built = rest, None
    else:
        built = OtlpBuilder(atheris.FuzzedDataProvider(rest), max_depth=12).fill(signal.request_type())
        body = built.SerializeToString()

    try:
        out = processor.process(Payload(signal, raw=body))
    except MalformedPayload:
        assert built is None, f"{name}: MalformedPayload on a request we serialised"
        return
    assert out is not None, f"{name}: the redaction processor never drops a whole request"
    try:
        request = signal.request_type.FromString(body)
    except Exception:  # noqa: BLE001 - unparseable input, forwarded as it came: nothing more to check
        return
    FEEDBACK.visit(request)
    result = signal.request_type.FromString(out.raw)  # must parse
    assert count_items(signal, result) == count_items(signal, request), f"{name}: items lost"

    expected = reference.process(Payload(signal, raw=body))
    assert expected is not None
    if result != signal.request_type.FromString(expected.raw):
        raise AssertionError(f"{name}: the fast path's result differs from walking everything "
                             f"(fast: {out.raw[:300]!r}, walked: {expected.raw[:300]!r})")


if __name__ == "__main__":
    run(test_one_input)
