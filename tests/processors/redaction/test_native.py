"""The compiled field reader (native/redaction_wire) and the pure-Python one give the same bytes.

Both readers behind the same splice, on the real-shaped corpus and on generated
and damaged requests: the outputs are byte-identical, and so are the readers'
answers (fields or refusal) on arbitrary bytes.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import realshape
from processors.api import MalformedPayload, Payload, Signal
from processors.redaction import splice
from processors.redaction.splice import PyFields, Splicer
from tests.processors.redaction.conftest import build
from tests.processors.redaction.test_splice import CONFIGS, log_requests, trace_requests


@pytest.fixture(scope="module", autouse=True)
def _native_built() -> None:
    if splice._native is None:
        pytest.fail("processors/redaction/_wire is not built: `make native` (needs cargo: https://rustup.rs)")


def _pair(config: dict):
    """Two processors of one config: the compiled reader and the Python one."""
    native, python = build(config), build(config)
    python.splicer = Splicer(python.walker, python.config.cache_size, native=False)
    assert native.splicer.native and not python.splicer.native
    return native, python


PAIRS = {name: _pair(config) for name, config in CONFIGS.items()}


def _same(signal: Signal, raw: bytes, config: str) -> None:
    native, python = PAIRS[config]
    outcomes = []
    for proc in (native, python):
        try:
            outcomes.append(proc.process(Payload(signal, raw=raw)).raw)
        except MalformedPayload:
            outcomes.append("refused")
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("config", list(CONFIGS))
def test_the_corpus_comes_out_byte_identical(config):
    for seed in range(3):
        for pii in (0.05, 1.0):
            _same(Signal.TRACES, realshape.spans(pii, n=128, seed=seed).SerializeToString(), config)
            _same(Signal.LOGS, realshape.logs(pii, n=128, seed=seed).SerializeToString(), config)


@settings(max_examples=150, deadline=None)
@given(req=st.one_of(trace_requests().map(lambda r: (Signal.TRACES, r)),
                     log_requests().map(lambda r: (Signal.LOGS, r))),
       cuts=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=2),
       config=st.sampled_from(list(CONFIGS)))
def test_generated_and_damaged_requests_come_out_byte_identical(req, cuts, config):
    signal, message = req
    raw = bytearray(message.SerializeToString())
    for at, byte in cuts if raw else ():
        raw[at % len(raw)] = byte
    _same(signal, bytes(raw), config)


@settings(max_examples=300, deadline=None)
@given(buf=st.binary(max_size=64), hits=st.lists(st.integers(0, 70), max_size=6, unique=True),
       known=st.integers(0, 2**16 - 1), singular=st.integers(0, 2**16 - 1), start=st.integers(0, 8))
def test_the_readers_agree_on_arbitrary_bytes(buf, hits, known, singular, start):
    hits = sorted(hits)
    start = min(start, len(buf))
    answers = []
    for reader in (splice._native.Fields(buf, hits), PyFields(buf, hits)):
        try:
            answers.append([tuple(f) for f in reader.hit_fields(start, len(buf), 0, known, singular)])
        except ValueError:
            answers.append("refused")
    assert answers[0] == answers[1]
