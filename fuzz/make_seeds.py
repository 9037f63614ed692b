"""Writes the seed corpus of every fuzz target: small valid inputs to mutate.

Seeds are generated rather than committed: run this before a campaign (the
tests in tests/fuzz/ run it into a temporary directory).

    python fuzz/make_seeds.py [--out fuzz/corpus] [TARGET ...]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import random
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from processors.api import Signal, count_items
from processors.standalone import otlp_json

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SIGNALS = tuple(Signal)
SEEDS_PER_SIGNAL = 12


def _random_bytes(rnd: random.Random, n: int) -> bytes:
    return bytes(rnd.randrange(256) for _ in range(n))


def _requests(signal: Signal, count: int, seed: int) -> Iterator[object]:
    """Distinct valid requests of ``signal`` holding at least one item, built the way the
    harnesses build them, from seeded random bytes."""
    import atheris

    sys.path.insert(0, str(HERE))
    from _support import OtlpBuilder

    rnd = random.Random(seed)
    seen: set[bytes] = set()
    for _ in range(50 * count):
        if len(seen) == count:
            return
        fdp = atheris.FuzzedDataProvider(_random_bytes(rnd, rnd.randrange(64, 1536)))
        msg = OtlpBuilder(fdp, max_depth=8, long_strings=False).fill(signal.request_type())
        raw = msg.SerializeToString()
        if count_items(signal, msg) and raw not in seen:
            seen.add(raw)
            yield msg


def _nested_value(depth: int) -> bytes:
    """An AnyValue of kvlists ``depth`` deep, encoded by hand (the runtime will not build it)."""

    def field(tag: int, body: bytes) -> bytes:
        return bytes([tag]) + _varint(len(body)) + body

    value = b""
    for _ in range(depth):
        value = field(0x32, field(0x0A, field(0x0A, b"k") + field(0x12, value)))
    return value


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def payload_seeds() -> Iterator[bytes]:
    for n, signal in enumerate(SIGNALS):
        for msg in _requests(signal, SEEDS_PER_SIGNAL, seed=n):
            yield bytes([n]) + msg.SerializeToString()
    # Too deep for upb: the receiver truncates the value (Payload.truncating). A span attribute and a log body.
    for depth in (31, 40, 200):
        attr = b"\x0a\x04root\x12" + _varint(len(_nested_value(depth))) + _nested_value(depth)
        span = b"\x4a" + _varint(len(attr)) + attr
        yield b"\x00" + _wrap_chain(span, (0x12, 0x12, 0x0A))
        body = _nested_value(depth)
        record = b"\x2a" + _varint(len(body)) + body
        yield b"\x02" + _wrap_chain(record, (0x12, 0x12, 0x0A))


def _wrap_chain(inner: bytes, tags: tuple[int, ...]) -> bytes:
    """``inner`` (a message's fields) as a message in field ``tags[0]``, that in ``tags[1]``, and so on."""
    for tag in tags:
        inner = bytes([tag]) + _varint(len(inner)) + inner
    return inner


def otlp_json_seeds() -> Iterator[bytes]:
    # First byte: signal (low bits) and mode (see fuzz_otlp_json.py); 0x00-0x7f decode the rest as text.
    for n, signal in enumerate(SIGNALS):
        for msg in _requests(signal, SEEDS_PER_SIGNAL, seed=10 + n):
            yield bytes([n]) + otlp_json.encode(signal, msg).encode()
    yield b"\x00" + b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",' \
        b'"spanId":"eee19b7ec3c1b174","name":"x","kind":"SPAN_KIND_SERVER","startTimeUnixNano":1}]}]}]}'
    yield b"\x02" + b'{"resource_logs":[{"scope_logs":[{"log_records":[{"severity_number":9,"time_unix_nano":"17",' \
        b'"body":{"string_value":"hi"},"trace_id":""}]}]}]}'
    # 0x80-0xff: build a request from the rest and round-trip it.
    rnd = random.Random(20)
    for n in range(3):
        for _ in range(4):
            yield bytes([0x80 | n]) + _random_bytes(rnd, 256)


def config_seeds() -> Iterator[bytes]:
    # First byte: mode (see fuzz_config.py). Mode 0 parses the rest as text, with no environment.
    for path in sorted((REPO / "processors" / "configs").glob("*.yaml")):
        yield b"\x00" + path.read_bytes()
    yield b"\x00" + _with_redaction().encode()
    # Mode 3: NAME=value lines, an empty line, the text.
    for path in sorted((REPO / "processors" / "configs").glob("*.yaml")):
        yield b"\x03OTELPROC_RECEIVER_ENDPOINT=127.0.0.1:0\nLOG_SAMPLING_RATE_INFO=0.5\n\n" + path.read_bytes()
    rnd = random.Random(30)
    for mode in (1, 2):
        for _ in range(6):
            yield bytes([mode]) + _random_bytes(rnd, 128)


def _with_redaction() -> str:
    """The passthrough config with the redaction processor's testdata components in every pipeline."""
    base = yaml.safe_load((REPO / "processors" / "configs" / "passthrough.yaml").read_text())
    testdata = yaml.safe_load((REPO / "processors" / "redaction" / "testdata" / "config.yaml").read_text())
    base["processors"] = testdata["processors"]
    for spec in base["service"]["pipelines"].values():
        spec["processors"] = ["redaction/empty", "redaction"]
    return yaml.safe_dump(base, sort_keys=False)


def decompress_seeds() -> Iterator[bytes]:
    # First byte: mode (see fuzz_decompress.py); 0 = raw body with a fuzzed encoding and limit.
    rnd = random.Random(40)
    body = b"\x0a\x10" + b"otlp " * 30
    two = gzip.compress(body) + gzip.compress(body[::-1], compresslevel=1)  # cat a.gz b.gz: one body of both
    raw = (
        (b"gzip", gzip.compress(body), len(body)), (b"deflate", zlib.compress(body), len(body)),
        (b"identity", body, len(body)), (b"gzip", two, 2 * len(body)),
        (b"gzip", gzip.compress(b"") * 3 + gzip.compress(body), len(body)),  # empty members first
        (b"gzip", gzip.compress(body) + b"trailing garbage", len(body)),
        (b"gzip", gzip.compress(body) + b"\x00" * 8, len(body)),  # zero padding is not a member
        (b"gzip", two[:-5], 2 * len(body)),  # the second member cut short
        (b"deflate", zlib.compress(body) + b"\x1f\x8b", len(body)),
        (b"deflate", zlib.compress(body) * 2, 2 * len(body)),  # deflate has no members
        (b"gzip", two, 2 * len(body) - 1),  # the members together just over the limit
    )
    for encoding, packed, limit in raw:
        yield b"\x00" + bytes([len(encoding)]) + encoding + limit.to_bytes(4, "little") + packed
    for _ in range(6):
        yield b"\x01" + _random_bytes(rnd, 96)


def redaction_seeds() -> Iterator[bytes]:
    # First byte (see fuzz_redaction.py): bits 0-1 the signal (0, 1 logs; 2 traces; 3 metrics),
    # bits 2-4 the config; below 0x20 the rest is the raw request.
    n = 0
    for index, signal in ((0, Signal.LOGS), (2, Signal.TRACES), (3, Signal.METRICS)):
        for msg in _requests(signal, SEEDS_PER_SIGNAL, seed=50 + index):
            yield bytes([(n % 5) << 2 | index]) + msg.SerializeToString()
            n += 1
    rnd = random.Random(51)
    for _ in range(SEEDS_PER_SIGNAL):
        yield bytes([0x20 + rnd.randrange(0xE0)]) + _random_bytes(rnd, 384)


# --- dictionaries: tokens libFuzzer splices into inputs (-dict=) -------------------


def _otlp_names() -> tuple[set[str], set[str]]:
    """Field names (proto and JSON spellings) and enum value names of every OTLP request."""
    names: set[str] = set()
    enums: set[str] = set()
    todo = [s.request_type.DESCRIPTOR for s in SIGNALS]
    seen: set[str] = set()
    while todo:
        desc = todo.pop()
        if desc.full_name in seen:
            continue
        seen.add(desc.full_name)
        for field in desc.fields:
            names |= {field.name, field.json_name}
            if field.enum_type is not None:
                enums |= {v.name for v in field.enum_type.values}
            if field.message_type is not None:
                todo.append(field.message_type)
    return names, enums


def otlp_json_dict() -> Iterator[bytes]:
    names, enums = _otlp_names()
    for name in sorted(names):
        yield f'"{name}":'.encode()
    for name in sorted(enums):
        yield f'"{name}"'.encode()
    yield from (b"{", b"}", b"[", b"]", b'""', b"null", b"true", b'"NaN"', b'"Infinity"', b"1e309", b"-0",
                b'"18446744073709551615"', b'"5b8efff798038103d269b633813fc60c"', b'"eee19b7ec3c1b174"', b"\\u0000",
                b"\\ud800")


def config_dict() -> Iterator[bytes]:
    sys.path.insert(0, str(HERE))
    keys: set[str] = set()
    for path in sorted(REPO.glob("processors/**/*.yaml")):
        doc = yaml.safe_load(path.read_text())
        stack = [doc]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                keys |= {k for k in node if isinstance(k, str)}
                stack += list(node.values())
            elif isinstance(node, list):
                stack += node
    for key in sorted(keys):
        yield f"{key}: ".encode()
    yield from (b"${env:", b"${", b":-", b"}", b"&a ", b"*a", b"!!str ", b"!!binary ", b"!!python/name:x", b"---",
                b"...", b"? ", b"- ", b": ", b"{", b"[", b"|", b">", b"\t", b"\n  ", b"~", b".nan", b"0x1f", b"1e309")


DICTS: dict[str, Callable[[], Iterator[bytes]]] = {"otlp_json": otlp_json_dict, "config": config_dict}


def write_dict(target: str, out: Path) -> Path | None:
    """``out/<target>.dict`` in libFuzzer's format, or None for targets without one."""
    if target not in DICTS:
        return None
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{target}.dict"
    lines = []
    for token in DICTS[target]():
        escaped = "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02x}" for b in token)
        lines.append(f'"{escaped}"')
    path.write_text("\n".join(lines) + "\n")
    return path


TARGETS: dict[str, Callable[[], Iterator[bytes]]] = {
    "payload": payload_seeds,
    "otlp_json": otlp_json_seeds,
    "config": config_seeds,
    "decompress": decompress_seeds,
    "redaction": redaction_seeds,
}


def write(target: str, out: Path) -> int:
    folder = out / target
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for seed in TARGETS[target]():
        # Named by content, as libFuzzer names corpus files: rerunning adds no duplicates.
        (folder / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "corpus", help="corpus root (default: fuzz/corpus)")
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=f"default: all of {', '.join(TARGETS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    for target in args.targets or TARGETS:
        print(f"{target}: {write(target, args.out)} seeds in {args.out / target}")
        write_dict(target, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
