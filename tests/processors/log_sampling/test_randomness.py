"""Randomness and thresholds: OTel's T-values, stable hashes, body templates."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from processors.log_sampling import randomness
from tests.support.procs import REPO


@pytest.mark.parametrize(("ratio", "tvalue"), [
    (1.0, "0"), (0.5, "8"), (0.25, "c"), (0.125, "e"), (1 / 16, "f"), (1 / 256, "ff"),
])
def test_thresholds_match_the_otel_t_values(ratio: float, tvalue: str) -> None:
    # From the OTel spec's examples: 25 % is th:c, 50 % is th:8, 100 % is th:0.
    assert randomness.tvalue(randomness.threshold(ratio)) == tvalue


def test_a_threshold_keeps_the_ratio_of_the_randomness_range() -> None:
    for ratio in (0.1, 0.01, 0.333):
        kept_span = randomness.SPAN - randomness.threshold(ratio)
        assert kept_span / randomness.SPAN == pytest.approx(ratio, rel=1e-12)


def test_tiny_ratios_still_keep_something() -> None:
    assert randomness.threshold(1e-30) == randomness.SPAN - 1


def test_trace_id_randomness_is_the_low_56_bits() -> None:
    tid = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
    assert randomness.trace_id_randomness(tid) == 0xce929d0e0e4736


def test_only_16_byte_non_zero_trace_ids_are_valid() -> None:
    assert randomness.valid_trace_id(b"\x01" * 16)
    assert not randomness.valid_trace_id(bytes(16))
    assert not randomness.valid_trace_id(b"\x01" * 8)
    assert not randomness.valid_trace_id(b"")


def test_the_seeded_hash_is_the_same_in_another_process() -> None:
    """Replicas must agree: the hash cannot depend on PYTHONHASHSEED or on the process."""
    keys = [bytes([i]) * 16 for i in range(1, 20)]
    here = [randomness.SeededHash(7)(k) for k in keys]
    code = ("from processors.log_sampling import randomness as r; "
            "print([r.SeededHash(7)(bytes([i]) * 16) for i in range(1, 20)])")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                           check=True, timeout=60).stdout
    assert there.strip() == str(here)
    assert all(0 <= h < randomness.SPAN for h in here)
    assert randomness.SeededHash(8)(keys[0]) != here[0]


@pytest.mark.parametrize(("body", "template"), [
    ("user 4711 logged in from 10.0.0.7", "user  logged in from ..."),
    ("order 9f86d081884c7d65 failed", "order  failed"),
    ("session 3fa85f64-5717-4562-b3fc-2c963f66afa6 closed", "session ---- closed"),
    ("GET /health ok", "GET /health ok"),
])
def test_body_templates_drop_numbers_and_hex_ids(body: str, template: str) -> None:
    assert randomness.body_template(body) == template


def test_structured_bodies_template_on_their_keys_and_message() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList

    def kv_body(msg: str, user: int) -> AnyValue:
        return AnyValue(kvlist_value=KeyValueList(values=[
            KeyValue(key="msg", value=AnyValue(string_value=msg)),
            KeyValue(key="user", value=AnyValue(int_value=user)),
        ]))

    a = randomness.body_key(kv_body("paid order 17", 1), template=True)
    b = randomness.body_key(kv_body("paid order 18", 2), template=True)
    c = randomness.body_key(kv_body("refunded order 18", 2), template=True)
    assert a == b != c
