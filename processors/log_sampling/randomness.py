"""The 56-bit randomness that decides a record, and thresholds in OTel's terms.

A record is kept when its randomness R is at or above the threshold
T = (1 - ratio) * 2**56, as in OpenTelemetry's consistent probability sampling
("th" in ``tracestate``). Because the same R meets every threshold, a record kept
at a ratio is also kept at every higher ratio, and every record of a trace gets
the same R: a kept trace keeps all its logs, in every process and replica that
shares the config.
"""

from __future__ import annotations

import hashlib
import re

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

BITS = 56
SPAN = 1 << BITS
TRACE_ID_BYTES = 16
_TVALUE_DIGITS = BITS // 4
_INVALID_TRACE_ID = bytes(TRACE_ID_BYTES)

# Runs of hex characters that contain a digit: numbers, hex ids and UUID parts.
# Removing them turns "user 4711 logged in from 10.0.0.7" into one template.
_VARIABLE = re.compile(r"[0-9A-Fa-f]*[0-9][0-9A-Fa-f]*")


def threshold(ratio: float) -> int:
    """Rejection threshold for ``ratio``: keep when randomness >= threshold (0 keeps all)."""
    if ratio >= 1.0:
        return 0
    return SPAN - max(1, round(ratio * SPAN))


def tvalue(th: int) -> str:
    """The threshold as an OTel T-value: 14 hex digits, trailing zeros dropped (``0`` keeps all)."""
    if th <= 0:
        return "0"
    return f"{th:0{_TVALUE_DIGITS}x}".rstrip("0")


def valid_trace_id(trace_id: bytes) -> bool:
    return len(trace_id) == TRACE_ID_BYTES and trace_id != _INVALID_TRACE_ID


def trace_id_randomness(trace_id: bytes) -> int:
    """The low 56 bits of the trace id (W3C Trace Context level 2 random trace ids)."""
    return int.from_bytes(trace_id[-7:], "big")


class SeededHash:
    """56 bits of keyed BLAKE2b: stable across processes and Python versions, unlike ``hash()``."""

    __slots__ = ("_base",)

    def __init__(self, seed: int) -> None:
        self._base = hashlib.blake2b(digest_size=BITS // 8, key=seed.to_bytes(4, "big"))

    def __call__(self, data: bytes) -> int:
        h = self._base.copy()  # copying the keyed state skips re-keying per record
        h.update(data)
        return int.from_bytes(h.digest(), "big")


def body_template(text: str) -> str:
    return _VARIABLE.sub("", text)


def body_key(body: AnyValue, *, template: bool) -> bytes:
    """Bytes that stand for a body: its template (or text), or for structured bodies their shape."""
    kind = body.WhichOneof("value")
    if kind == "string_value":
        text = body.string_value
        return (body_template(text) if template else text).encode()
    if kind == "kvlist_value" and template:
        # A structured body's template is its set of keys, plus the template of a message field.
        parts = []
        for kv in body.kvlist_value.values:
            parts.append(kv.key)
            if kv.key in ("message", "msg") and kv.value.WhichOneof("value") == "string_value":
                parts.append(body_template(kv.value.string_value))
        return "\x00".join(sorted(parts)).encode()
    if kind is None:
        return b""
    return body.SerializeToString(deterministic=True)
