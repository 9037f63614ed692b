"""What the harnesses share: the atheris entry point and a builder of OTLP
export requests driven by the fuzzer's bytes.

The builder walks a request type's protobuf descriptor, so it covers every
field of traces, metrics and logs (AnyValue trees included) without a list
of them to keep up to date. Strings come either from the fuzzer's bytes or
from a pool of values the redaction rules and the OTLP/JSON codec care about
(PII, secrets, URLs, SQL, sensitive keys, ids), so the fuzzer reaches the
interesting branches in thousands of runs rather than millions.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import atheris
from google.protobuf.descriptor import FieldDescriptor

T = TypeVar("T")
_ID_LENGTHS = {"trace_id": 16, "span_id": 8, "parent_span_id": 8}

# Values detectors and sanitisers look for, and keys that change what happens to a value.
TEXT_POOL: tuple[str, ...] = (
    "alice.smith@example.org", "AYLINCHEN@UNI-HAMBURG.DE", "+1 415 555 0100", "+49 30 901820",
    "4111 1111 1111 1111", "5500-0000-0000-0004", "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432",
    "203.0.113.7", "10.0.0.1", "2001:db8::8a2e:370:7334", "52.5200,13.4050", "-33.8688",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "AKIAIOSFODNN7EXAMPLE", "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "https://bob:hunter2@shop.example.com/cart?email=bob@example.org&token=abc123#frag",
    "/api/orders/42?session=xyz&q=1", "email=bob@example.org&page=2", "http://[::1]:8080/",
    "SELECT * FROM users WHERE email = 'a@b.example' AND id = 42", "INSERT INTO t VALUES ($1, 'x', 3.5)",
    "cust-12345678", "wa.session.start", "GET /api/orders/{id}", "", " ", "\n", "\u2028", "\x00", "é", "😀",
)
KEY_POOL: tuple[str, ...] = (
    "service.name", "http.route", "user.email", "password", "db.password", "authorization", "Cookie",
    "session.token", "api_key", "file_key", "message.body", "body", "http.url", "url.full", "url.query",
    "http.target", "db.statement", "db.query.text", "geo.lat", "location.longitude", "client_ip",
    "phone_number", "wa_id", "card_number", "iban", "jwt", "server.address", "redaction.masked.count",
    "event.name", "session.id", "",
)


def run(test_one_input: Callable[[bytes], None]) -> None:
    """Fuzz ``test_one_input`` with libFuzzer's command line (``-atheris_runs=N``, corpus dirs, files)."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


def pick(fdp: atheris.FuzzedDataProvider, options: Sequence[T]) -> T:
    """One of ``options`` (PickValueInList takes lists only)."""
    return options[fdp.ConsumeIntInRange(0, len(options) - 1)]


class StructureFeedback:
    """Coverage for what a C-implemented parser (upb, json) produced.

    libFuzzer only sees Python code's edges, so two requests that parse into
    differently shaped messages look the same to it, and it throws away seeds
    that differ only in shape. Calling one instrumented function per
    (message type, field) that a parsed message holds makes every new shape a
    new edge, and how often each is hit (libFuzzer buckets hit counts) a new
    feature, so the fuzzer keeps and mutates the inputs that parse to new shapes.
    """

    def __init__(self) -> None:
        self._marks: dict[tuple[str, int], Callable[[], None]] = {}

    def visit(self, message: Any) -> None:
        name = message.DESCRIPTOR.full_name
        for field, value in message.ListFields():
            self._mark(name, field.number)()
            if field.message_type is not None:
                for sub in value if field.is_repeated else (value,):
                    self.visit(sub)

    def _mark(self, name: str, number: int) -> Callable[[], None]:
        mark = self._marks.get((name, number))
        if mark is None:
            # A code object of its own (its own file name), so instrumentation gives it its own edge.
            namespace: dict[str, Any] = {}
            exec(compile("def mark():\n    return None\n", f"<{name}.{number}>", "exec"), namespace)
            mark = self._marks[(name, number)] = atheris.instrument_func(namespace["mark"])
        return mark


class OtlpBuilder:
    """Fills protobuf messages from a FuzzedDataProvider.

    Every choice consumes fuzzer bytes, so when they run out the builder
    stops adding (FuzzedDataProvider answers zeros and False): a build always
    ends, and short inputs make small messages.
    """

    def __init__(self, fdp: atheris.FuzzedDataProvider, *, max_depth: int = 10, max_repeat: int = 3,
                 valid_ids: bool = True, long_strings: bool = True) -> None:
        self.fdp = fdp
        self.max_depth = max_depth
        self.max_repeat = max_repeat
        self.valid_ids = valid_ids  # ids of the OTLP lengths (or empty); else any length
        self.long_strings = long_strings

    def fill(self, message: Any, depth: int = 0) -> Any:
        fdp = self.fdp
        desc = message.DESCRIPTOR
        chosen_oneofs = {o.name: self._pick_oneof(o) for o in desc.oneofs}
        for field in desc.fields:
            oneof = field.containing_oneof
            if oneof is not None and chosen_oneofs[oneof.name] != field.name:
                continue
            if oneof is None and not fdp.ConsumeBool():
                continue
            if field.is_repeated:
                count = fdp.ConsumeIntInRange(0, self.max_repeat if depth < self.max_depth else 0)
                target = getattr(message, field.name)
                for _ in range(count):
                    if field.type == FieldDescriptor.TYPE_MESSAGE:
                        self.fill(target.add(), depth + 1)
                    else:
                        target.append(self.scalar(field))
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                sub = getattr(message, field.name)
                sub.SetInParent()  # present even when left empty, as a oneof choice must be
                if depth < self.max_depth:
                    self.fill(sub, depth + 1)
            else:
                setattr(message, field.name, self.scalar(field))
        return message

    def _pick_oneof(self, oneof: Any) -> str | None:
        names = [f.name for f in oneof.fields]
        i = self.fdp.ConsumeIntInRange(0, len(names))
        return names[i] if i < len(names) else None

    def scalar(self, field: FieldDescriptor) -> Any:
        fdp = self.fdp
        t = field.type
        if t == FieldDescriptor.TYPE_STRING:
            return self.key() if field.name == "key" else self.text()
        if t == FieldDescriptor.TYPE_BYTES:
            size = _ID_LENGTHS.get(field.name)
            if size is not None and self.valid_ids:
                return fdp.ConsumeBytes(size).ljust(size, b"\0") if fdp.ConsumeBool() else b""
            return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 24))
        if t == FieldDescriptor.TYPE_BOOL:
            return fdp.ConsumeBool()
        if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return fdp.ConsumeFloat() if t == FieldDescriptor.TYPE_DOUBLE else fdp.ConsumeRegularFloat()
        if t == FieldDescriptor.TYPE_ENUM:
            values = [v.number for v in field.enum_type.values]
            # Open enums keep numbers they do not name; senders may use them.
            return pick(fdp, values) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(-5, 2**31 - 1)
        lo, hi = _INT_RANGES[t]
        return fdp.ConsumeIntInRange(lo, hi)

    def key(self) -> str:
        return pick(self.fdp, KEY_POOL) if self.fdp.ConsumeBool() else self._unicode(24)

    def text(self) -> str:
        fdp = self.fdp
        choice = fdp.ConsumeIntInRange(0, 9)
        if choice < 4:
            return pick(fdp, TEXT_POOL)
        if choice < 7:
            return self._unicode(64)
        if choice < 9:
            return f"{self._unicode(16)}{pick(fdp, TEXT_POOL)} {self._unicode(16)}"
        if self.long_strings:  # past the redaction processor's default truncation (4096 characters)
            return pick(fdp, TEXT_POOL) * fdp.ConsumeIntInRange(1, 200) + "x" * fdp.ConsumeIntInRange(0, 5000)
        return self._unicode(256)

    def _unicode(self, max_len: int) -> str:
        return self.fdp.ConsumeUnicodeNoSurrogates(self.fdp.ConsumeIntInRange(0, max_len))


_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
