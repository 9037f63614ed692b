"""Fuzz target: processors.receivers.http._decompress, the bounded gzip/deflate
decoder of the OTLP/HTTP receiver.

Invariant: it never returns more than the limit for a compressed body, and
raises nothing but _TooLarge, OSError, zlib.error or EOFError (the receiver
turns those into 413 and 400). An identity body comes back as it is (the
body limit is aiohttp's, before this). A complete stream of at most the limit
decompresses to exactly what was compressed, and a stream cut short is
refused (as a body cut in transit must not pass for the whole request).

The first byte picks the mode:

- even: the rest is [encoding length][encoding][limit: 4 bytes LE][body],
  arbitrary bytes everywhere (the seeds hold real gzip and deflate bodies);
- odd: the rest drives a well-formed body (gzip or deflate of fuzzer bytes, any
  level, sometimes several gzip members) that is then cut, corrupted or
  extended, with a limit near its decompressed size.

    python fuzz/fuzz_decompress.py -atheris_runs=200000 fuzz/corpus/decompress
"""

from __future__ import annotations

import gzip
import zlib

import atheris

with atheris.instrument_imports(include=["processors.receivers.http"]):
    from processors.receivers.http import _decompress, _TooLarge

from _support import pick, run

ALLOWED = (_TooLarge, OSError, zlib.error, EOFError)
ENCODINGS = ("gzip", "deflate", "identity", "", " GZIP ", "Deflate", "br", "zstd", "gzip, deflate", "x-gzip")
MAX_LIMIT = 1 << 16


def test_one_input(data: bytes) -> None:
    if not data:
        return
    if data[0] % 2 == 0:
        _raw(data[1:])
    else:
        _built(atheris.FuzzedDataProvider(data[1:]))


def _raw(rest: bytes) -> None:
    n = rest[0] if rest else 0
    encoding = rest[1:1 + n].decode("latin-1")
    limit = int.from_bytes(rest[1 + n:5 + n], "little") % (MAX_LIMIT + 1)
    _check(rest[5 + n:], encoding, limit, original=None)


def _built(fdp: atheris.FuzzedDataProvider) -> None:
    original = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    if fdp.ConsumeBool() and original:  # compressible: the ratio matters for the limit
        original = original * fdp.ConsumeIntInRange(1, 64)
    level = fdp.ConsumeIntInRange(0, 9)
    encoding = pick(fdp, ("gzip", "deflate"))
    if encoding == "gzip":
        body = gzip.compress(original, compresslevel=level)
        if fdp.ConsumeIntInRange(0, 7) == 0:  # a second member
            body += gzip.compress(fdp.ConsumeBytes(64), compresslevel=level)
            original = None  # how many members are read is not part of the contract
    else:
        body = zlib.compress(original, level)
    damage = fdp.ConsumeIntInRange(0, 5)
    if damage == 1 and body and original is not None:  # cut: a truncated upload must not pass as whole
        cut = body[:fdp.ConsumeIntInRange(0, len(body) - 1)]
        _check_refused(cut, encoding, limit=max(len(original), 1))
        return
    elif damage == 2 and body:  # flip a byte
        at = fdp.ConsumeIntInRange(0, len(body) - 1)
        body = body[:at] + bytes([body[at] ^ (fdp.ConsumeIntInRange(1, 255))]) + body[at + 1:]
        original = None
    elif damage == 3:  # trailing bytes
        body += fdp.ConsumeBytes(16)
        original = None
    size = len(original) if original is not None else 4096
    limit = max(0, min(MAX_LIMIT, size + fdp.ConsumeIntInRange(-8, 8)))
    _check(body, encoding, limit, original)


def _check_refused(body: bytes, encoding: str, limit: int) -> None:
    try:
        out = _decompress(body, encoding, limit)
    except ALLOWED:
        return
    raise AssertionError(f"{encoding}: a stream cut after {len(body)} bytes was accepted ({len(out)} bytes out)")


def _check(body: bytes, encoding: str, limit: int, original: bytes | None) -> None:
    try:
        out = _decompress(body, encoding, limit)
    except ALLOWED:
        if original is not None and len(original) <= limit:
            raise AssertionError(f"a complete {encoding} stream of {len(original)} <= {limit} bytes was refused") from None
        return
    assert isinstance(out, bytes)
    if encoding.strip().lower() in ("", "identity"):
        assert out == body, "an identity body must come back unchanged"
        return
    assert len(out) <= limit, f"{encoding}: {len(out)} bytes out, over the limit of {limit}"
    if original is not None:
        assert out == original, f"{encoding}: a complete stream decompressed to something else"


if __name__ == "__main__":
    run(test_one_input)
