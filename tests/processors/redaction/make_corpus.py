"""Writes corpus.jsonl: labelled positives and negatives for the redaction detectors.

    .venv/bin/python -m tests.processors.redaction.make_corpus

Each line is one sample: ``text`` (a value as it would appear in telemetry),
``kind`` (the detector that must find it, or null for a negative), ``pii``
(for a positive: the part that must not survive), ``field`` (where the sample
is planted: every field kind the processor covers) and ``key`` (the attribute
key, which matters to the context words of phone and geo). Deterministic:
the same file comes out every time.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import string
from pathlib import Path

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

OUT = Path(__file__).with_name("corpus.jsonl")
FIELDS = (
    "resource_attr", "scope_attr", "span_attr", "span_name", "span_status", "event_attr", "link_attr",
    "log_body_string", "log_body_kvlist", "log_body_array", "log_attr", "metric_dp_attr", "exemplar_attr",
)
KEYED_FIELDS = tuple(f for f in FIELDS if f.endswith(("_attr", "_kvlist")))
rnd = random.Random(20240601)
FIRST = ["anna", "john", "maria", "li", "omar", "sofia", "yusuf", "elena", "raj", "chloe", "mateo", "aylin"]
LAST = ["smith", "mueller", "garcia", "chen", "haddad", "rossi", "yilmaz", "ivanova", "patel", "martin"]
DOMAINS = ["gmail.com", "outlook.de", "mail.example.org", "uni-hamburg.de", "company.co.uk", "yahoo.fr", "proton.me"]
SENTENCES = ["{}", "user={}", "sent to {} ok", "lookup failed for {}", "{} (primary)", "contact: {}"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rand(chars: str, n: int) -> str:
    return "".join(rnd.choice(chars) for _ in range(n))


def emails():
    for i in range(26):
        name = f"{rnd.choice(FIRST)}{rnd.choice(['.', '_', '', '+news.'])}{rnd.choice(LAST)}{rnd.choice(['', str(i)])}"
        addr = f"{name}@{rnd.choice(DOMAINS)}"
        if i % 5 == 0:
            addr = addr.upper() if i % 10 == 0 else addr.capitalize()
        yield rnd.choice(SENTENCES).format(addr), addr, None


def phones():
    regions = ["DE", "GB", "US", "FR", "TR", "BR", "IN", "NG", "ES", "IT", "NL", "MX", "ZA", "JP"]
    for i, region in enumerate(regions):
        number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        intl = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        yield rnd.choice(SENTENCES).format(intl if i % 2 else e164), intl if i % 2 else e164, None
        if i < 7:
            jid_number = e164[1:]
            jid = f"{jid_number}{':' + str(i) if i % 3 == 0 else ''}@s.whatsapp.net"
            yield f"message from {jid}", jid_number, None
        if i < 6:  # a bare number under a key that says what it is
            yield e164[1:], e164[1:], rnd.choice(["wa_id", "user.phone", "msisdn", "whatsapp.recipient_phone"])


def jwts():
    for i in range(22):
        header = {"alg": rnd.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}
        if i % 4 == 0:
            header["kid"] = rand(string.hexdigits.lower(), 16)
        payload = {"sub": str(rnd.randrange(10**9)), "iat": 1700000000 + i, "scope": "read write"}
        token = ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()),
                          b64url(rnd.randbytes(32))])
        yield (f"Bearer {token}" if i % 3 == 0 else rnd.choice(SENTENCES).format(token)), token, None


def api_keys():
    alnum = string.ascii_letters + string.digits
    for _ in range(4):
        t = "AKIA" + rand("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
        yield f"aws key {t}", t, None
    for prefix in ("ghp_", "gho_", "ghs_"):
        t = prefix + rand(alnum, 36)
        yield f"git clone with {t}", t, None
    for prefix in ("xoxb-", "xoxp-"):
        t = f"{prefix}{rnd.randrange(10**11)}-{rnd.randrange(10**12)}-{rand(alnum, 24)}"
        yield t, t, None
    for prefix in ("sk_live_", "rk_live_", "sk_test_"):
        t = prefix + rand(alnum, 24)
        yield f"stripe {t}", t, None
    t = "whsec_" + rand(alnum, 32)
    yield t, t, None
    for _ in range(3):
        t = rand(alnum + "-._~", 40)
        yield f"Authorization: Bearer {t}", t, None
    for user in ("admin", "svc-billing"):
        t = base64.b64encode(f"{user}:{rand(alnum, 14)}".encode()).decode()
        yield f"Basic {t}", t, None
    for name in ("api_key", "apiKey", "client_secret", "access_token"):
        t = rand(alnum, 20)
        yield f"GET /v1/items?{name}={t}" if name == "api_key" else f"{name}={t}", t, None
    upper = string.ascii_uppercase + string.digits
    path = f"T{rand(upper, 8)}/B{rand(upper, 8)}/{rand(alnum, 24)}"
    yield f"posting to https://hooks.slack.com/services/{path}", path, None


def _card(prefix: str, length: int) -> str:
    body = prefix + "".join(rnd.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return body + luhn.calc_check_digit(body)


def cards():
    brands = [("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16),
              ("65", 16), ("3530", 16), ("36", 14), ("62", 16), ("4", 19), ("2720", 16)]
    for i, (prefix, length) in enumerate(itertools.islice(itertools.cycle(brands), 24)):
        number = _card(prefix, length)
        if i % 3 == 1:
            shown = " ".join(number[j:j + 4] for j in range(0, len(number), 4))
        elif i % 3 == 2 and length == 16:
            shown = "-".join(number[j:j + 4] for j in range(0, len(number), 4))
        else:
            shown = number
        yield rnd.choice(SENTENCES).format(shown), shown, None


IBAN_FORMATS = {"DE": "n18", "GB": "a4n14", "NL": "a4n10", "AT": "n16", "CH": "n17", "PL": "n24", "IE": "a4n14",
                "DK": "n14", "SE": "n20", "NO": "n11", "FI": "n14", "LU": "n3c13", "PT": "n21", "BE": "n12"}


def _bban(spec: str) -> str:
    out, i = [], 0
    while i < len(spec):
        kind = spec[i]
        j = i + 1
        while j < len(spec) and spec[j].isdigit():
            j += 1
        n = int(spec[i + 1:j])
        chars = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}[kind]
        out.append(rand(chars, n))
        i = j
    return "".join(out)


def ibans():
    made = 0
    for country in itertools.cycle(IBAN_FORMATS):
        bban = _bban(IBAN_FORMATS[country])
        digits = "".join(str(int(c, 36)) for c in bban + country + "00")
        candidate = f"{country}{98 - int(digits) % 97:02d}{bban}"
        if not stdnum_iban.is_valid(candidate):
            continue  # a few countries add a national check digit
        shown = stdnum_iban.format(candidate) if made % 2 else candidate
        yield rnd.choice(SENTENCES).format(shown), shown, None
        made += 1
        if made == 22:
            return


def ips():
    for _ in range(14):
        a = rnd.choice([23, 45, 62, 81, 91, 104, 151, 176, 185, 203, 212])
        addr = f"{a}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        yield rnd.choice(["{}", "client {} connected", "x-forwarded-for: {}", "{}:8443"]).format(addr), addr, None
    for i in range(10):
        groups = [f"{rnd.randrange(0x2001, 0x2a10):x}"] + [f"{rnd.randrange(0x10000):x}" for _ in range(7)]
        addr = ":".join(groups) if i % 2 else ":".join(groups[:3]) + "::" + groups[7]
        yield rnd.choice(["{}", "peer [{}]:443", "remote {}"]).format(addr), addr, None


def geos():
    for _ in range(12):
        lat = f"{rnd.uniform(-60, 70):.6f}"
        lon = f"{rnd.uniform(-170, 170):.6f}"
        yield rnd.choice(["{}, {}", "location {},{}", "pos=({}, {})"]).format(lat, lon), lat, None
    for i in range(6):
        lat = f"{rnd.uniform(-60, 70):.5f}"
        yield f"lat={lat}&zoom=12" if i % 2 else f'{{"latitude": {lat}}}', lat, None
    for key in ("geo.location.lat", "geo.location.lon", "client.geo.lat", "device.longitude"):
        value = f"{rnd.uniform(-80, 80):.6f}"
        yield value, value, key


NEGATIVES = [
    # trace and span ids
    *(rnd.randbytes(16).hex() for _ in range(10)),
    *(rnd.randbytes(8).hex() for _ in range(8)),
    *(f"00-{rnd.randbytes(16).hex()}-{rnd.randbytes(8).hex()}-01" for _ in range(4)),
    # UUIDs
    "3f2504e0-4f89-11d3-9a0c-0305e82c3301", "c9bf9e57-1685-4c89-bafb-ff5af830be8a",
    "123e4567-e89b-12d3-a456-426614174000", "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "00000000-0000-0000-0000-000000000000", "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
    "request 7c9e6679-7425-40de-944b-e07fc1f90ae7 done", "A987FBC9-4BED-3078-CF07-9141BA07C9F3",
    # ISO timestamps and other times
    "2024-06-01T12:34:56Z", "2024-06-01T12:34:56.789+02:00", "2023-12-31T23:59:59.999999Z", "2024-02-29",
    "2024-06-01 12:34:56,789", "Sat, 01 Jun 2024 12:34:56 GMT", "12:30:45", "1717245296", "1717245296789",
    "1700000000000000000", "20240601T123456Z", "2024-W22-6",
    # versions
    "1.2.3", "v1.2.3", "10.4.12-rc.1+build.5", "2.0.0-beta.11", "v0.159.0", "1.38.0", "HTTP/1.1", "TLSv1.3",
    "Python/3.11.9", "10.0.19041.1", "opentelemetry-sdk 1.45.1", "node v20.11.1", "go1.26.1 linux/amd64",
    # prices and amounts
    "$19.99", "EUR 1,299.00", "19.99 USD", "total=149.50", "price: 4.99", "1.234,56 EUR", "-12.50", "0.15",
    "amount 1000000", "3.14159", "99.5%", "TRY 2.450,00",
    # order numbers and business ids
    "ORD-2024-000123", "#100045", "PO-88812", "order 4512", "INV/2024/06/0042", "SKU-AB-12345-XL",
    "tenant-42", "cart_9f8e7d", "shipment 1Z999AA10123456784", "ticket JIRA-4821", "case 00412873",
    "batch 20240601-0007", "store 0042 lane 3",
    # durations
    "1h23m45s", "250ms", "PT15M", "P1DT2H", "00:01:30.250", "1.5s", "took 342 ms", "timeout=30s", "45µs",
    # hex hashes and digests
    *(rnd.randbytes(16).hex() for _ in range(3)),
    *(rnd.randbytes(20).hex() for _ in range(3)),
    *(rnd.randbytes(32).hex() for _ in range(3)),
    "sha256:" + rnd.randbytes(32).hex(), "a1b2c3d", "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "etag W/\"5e15153d-120f\"",
    # routes, names and everyday telemetry text
    "GET /api/orders/{id}", "/api/v1/users/{user_id}/sessions", "POST /checkout", "checkout-7d9f8b6c5-x2kq9",
    "redis GET session:*", "SELECT * FROM orders WHERE id = $1", "connection reset by peer", "status=200",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "us-east-1", "eu-central-1a", "arn:aws:s3:::my-bucket", "i-0abcd1234efgh5678", "pod/checkout-0",
    "kafka partition 12 offset 4481239", "grpc.health.v1.Health/Check", "icon@2x.png", "logo@3x.webp",
    "@media (max-width: 600px)", "npm i @scope/pkg@1.2.3", "nginx@sha256", "user@localhost",
    "Token expired", "token_count=512", "+1 day", "UTC+05:30", "+100%", "3 + 4 = 7", "A/B test variant b",
    "00:1A:2B:3C:4D:5E", "fe80", "::", "localhost:4317", "127.0.0.1", "0.0.0.0:8080", "::1", "255.255.255.255",
    "DE00123456789012345678", "GB00WEST12345698765432", "AKIAEXAMPLE", "sk_test_short", "eyJhbGciOi",
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "Bearer <token>", "Basic realm=\"api\"",
    "4111 1111 1111 1112", "1234567890123456", "9999999999999995", "0000000000000000", "5555",
    "+49", "phone: unknown", "call center 3", "52.5", "version 52.5202", "13.4", "lat", "geo ok",
    "dGhpcyBpcyBub3QgYSBzZWNyZXQ=", "YWJjZGVmZ2hpams=", "file:///var/log/app.log", "https://example.org/docs",
    "s3://bucket/prefix/", "postgresql://db:5432/shop", "wa.session.heartbeat", "state=CONNECTED",
    "reconnect attempt 3 of 5", "circuit breaker open", "message queued",
]


def main() -> None:
    positives = [("email", emails()), ("phone", phones()), ("jwt", jwts()), ("api_key", api_keys()),
                 ("credit_card", cards()), ("iban", ibans()), ("ip", ips()), ("geo", geos())]
    lines = []
    field_cycle = itertools.cycle(FIELDS)
    for kind, samples in positives:
        for text, pii, key in samples:
            field = next(field_cycle) if key is None else rnd.choice(KEYED_FIELDS)
            lines.append({"text": text, "kind": kind, "pii": pii, "field": field, "key": key})
    for text in NEGATIVES:
        lines.append({"text": text, "kind": None, "pii": None, "field": next(field_cycle), "key": None})
    OUT.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    n_pos = sum(1 for line in lines if line["kind"])
    print(f"wrote {OUT.name}: {n_pos} positives, {len(lines) - n_pos} negatives")


if __name__ == "__main__":
    main()
