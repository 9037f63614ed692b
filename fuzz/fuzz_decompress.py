"""Fuzz target: processors.standalone.otlp_http._decompress, the bounded gzip/deflate
decoder of the OTLP/HTTP receiver.

Invariant: it never returns more than the limit for a compressed body, and
raises nothing but _TooLarge, OSError, zlib.error or EOFError (the receiver
turns those into 413 and 400). An identity body comes back as it is (the
body limit is aiohttp's, before this). A complete stream of at most the limit
decompresses to exactly what was compressed (every member of a multi-member
gzip body, together), a stream cut short is refused (as a body cut in transit
must not pass for the whole request), and so are bytes after the stream that
are not another gzip member (the request would be acknowledged half-read).

The first byte picks the mode:

- even: the rest is [encoding length][encoding][limit: 4 bytes LE][body],
  arbitrary bytes everywhere (the seeds hold real gzip and deflate bodies),
  checked against a plain, unbounded reading of the same body (zlib member
  after member, nothing but members to the end; one zlib stream ending at the
  body's end): what one accepts within the limit the other accepts, with the
  same bytes; and what is accepted as gzip, ``gzip.decompress`` reads to the
  same bytes too (it is laxer: it also skips trailing zero padding);
- odd: the rest drives a well-formed body (gzip or deflate of fuzzer bytes, any
  level, sometimes several gzip members) that is then cut, corrupted or
  extended, with a limit near its decompressed size.

    python fuzz/fuzz_decompress.py -atheris_runs=200000 fuzz/corpus/decompress
"""

from __future__ import annotations

import gzip
import zlib

import atheris

with atheris.instrument_imports(include=["processors.standalone.otlp_http"]):
    from processors.standalone.otlp_http import _decompress, _TooLarge

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
    body = rest[5 + n:]
    _check(body, encoding, limit, original=None)
    expected = _reference(body, encoding.strip().lower())
    try:
        out = _decompress(body, encoding, limit)
    except _TooLarge:
        assert expected is None or len(expected) > limit, f"{encoding}: {len(expected)} <= {limit} bytes was 413"
        return
    except ALLOWED:
        assert expected is None or len(expected) > limit, f"{encoding}: a body the standard library reads was refused"
        return
    if encoding.strip().lower() in ("gzip", "deflate"):
        assert expected is not None, f"{encoding}: a body the reference refuses was accepted"
        assert out == expected, f"{encoding}: decompressed to something else than the reference"
    if encoding.strip().lower() == "gzip":
        assert gzip.decompress(body) == out, "gzip: decompressed to something else than gzip.decompress"


def _reference(body: bytes, encoding: str) -> bytes | None:
    """The body inflated without bounds or chunks, None when it is refused (or the encoding is not one)."""
    if encoding not in ("gzip", "deflate"):
        return None
    out, rest = b"", body
    try:
        while True:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
            out += d.decompress(rest)
            if not d.eof:
                return None
            rest = d.unused_data
            if not rest:
                return out
            if encoding == "deflate" or rest[:2] != b"\x1f\x8b":
                return None
    except zlib.error:
        return None


def _built(fdp: atheris.FuzzedDataProvider) -> None:
    original = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    if fdp.ConsumeBool() and original:  # compressible: the ratio matters for the limit
        original = original * fdp.ConsumeIntInRange(1, 64)
    level = fdp.ConsumeIntInRange(0, 9)
    encoding = pick(fdp, ("gzip", "deflate"))
    if encoding == "gzip":
        body = gzip.compress(original, compresslevel=level)
        ends = {len(body): original}  # where a member ends: what the body up to there inflates to
        for _ in range(fdp.ConsumeIntInRange(0, 3) if fdp.ConsumeIntInRange(0, 3) == 0 else 0):  # more members
            more = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 256))
            body += gzip.compress(more, compresslevel=level)
            original += more  # every member counts: cat a.gz b.gz is one gzip body
            ends[len(body)] = original
    else:
        body = zlib.compress(original, level)
        ends = {len(body): original}
    damage = fdp.ConsumeIntInRange(0, 5)
    if damage == 1 and body:  # cut: a truncated upload must not pass as whole
        cut = body[:fdp.ConsumeIntInRange(0, len(body) - 1)]
        if len(cut) in ends:  # between two members: a complete, shorter gzip body
            _check(cut, encoding, max(len(ends[len(cut)]), 1), ends[len(cut)])
        else:
            _check_refused(cut, encoding, limit=max(len(original), 1), what=f"a stream cut after {len(cut)} bytes")
        return
    elif damage == 2 and body:  # flip a byte
        at = fdp.ConsumeIntInRange(0, len(body) - 1)
        body = body[:at] + bytes([body[at] ^ (fdp.ConsumeIntInRange(1, 255))]) + body[at + 1:]
        original = None
    elif damage == 3:  # trailing bytes: fewer than a gzip member's 20 can never be one
        tail = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 19))
        if tail:
            _check_refused(body + tail, encoding, limit=max(len(original), 1), what=f"{len(tail)} trailing bytes")
            return
    size = len(original) if original is not None else 4096
    limit = max(0, min(MAX_LIMIT, size + fdp.ConsumeIntInRange(-8, 8)))
    _check(body, encoding, limit, original)


def _check_refused(body: bytes, encoding: str, limit: int, what: str) -> None:
    try:
        out = _decompress(body, encoding, limit)
    except ALLOWED:
        return
    raise AssertionError(f"{encoding}: {what} accepted ({len(out)} bytes out)")


def _check(body: bytes, encoding: str, limit: int, original: bytes | None) -> None:
    try:
        out = _decompress(body, encoding, limit)
    except ALLOWED:
        if original is not None and len(original) <= limit:
            raise AssertionError(
                f"a complete {encoding} stream of {len(original)} <= {limit} bytes was refused") from None
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
