"""Writes heldout.jsonl: the held-out half of the redaction corpus.

    .venv/bin/python -m tests.processors.redaction.make_heldout

NOBODY TUNES DETECTORS AGAINST THIS FILE. It measures whether the detectors
generalise: when a sample here is missed, fix the class of values it belongs
to (a token shape, a text form), never the sample, and never regenerate the
file with other seeds until it passes. The development half is corpus.jsonl
(make_corpus.py); this generator shares none of its templates, keys, names,
domains, regions or seed.

Each line is one sample planted in one record:

- ``field``: where the value goes: a resource attribute, a span attribute, a
  span event attribute, a log body (string, or an entry of a map body), a log
  attribute or a metric data point attribute;
- ``key``: the attribute (or map body entry) key; null for a string body;
- ``value``: a string, or a number (coordinates under geo keys);
- ``kind``: the class that must be caught, or null for a negative;
- ``secret``: for a positive, the text that must appear nowhere in the
  processed record (for a number, its repr); null for a negative, whose value
  must come back unchanged;
- ``with``: other attributes of the same record, as ``[key, value]`` pairs
  (a password under a blocked key whose value the text repeats, the other half
  of a coordinate pair).

Deterministic: the same file comes out every time.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import string
import uuid
from pathlib import Path

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

OUT = Path(__file__).with_name("heldout.jsonl")
FIELDS = ("resource_attr", "span_attr", "event_attr", "log_body_string", "log_body_kvlist", "log_attr",
          "metric_dp_attr")
KEYED = tuple(f for f in FIELDS if f != "log_body_string")
rnd = random.Random(77_031_9)

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
GIVEN = ["kenji", "fatima", "lars", "priya", "diego", "ngozi", "tomasz", "ines", "wei", "olga", "kwame", "sven",
         "amara", "jonas", "leila", "mikael"]
FAMILY = ["tanaka", "alsayed", "johansson", "sharma", "fernandez", "okafor", "nowak", "dubois", "zhang", "petrov",
          "mensah", "lindqvist", "moreau", "costa"]
MAIL_DOMAINS = ["icloud.com", "hotmail.co.uk", "web.de", "gmx.net", "fastmail.fm", "acme-corp.io",
                "students.uni-wien.ac.at", "example.travel", "posteo.de", "zoho.eu", "mail.ru", "naver.com"]
# Neutral keys: none is a blocked key, none names a detector's context.
NEUTRAL_KEYS = ["detail", "app.note", "event.payload", "audit.entry", "request.summary", "error.message",
                "job.input", "webhook.preview", "rpc.request.excerpt", "debug.context", "task.args", "notification"]


def rand(chars: str, n: int) -> str:
    return "".join(rnd.choice(chars) for _ in range(n))


def b64(n_bytes: int) -> str:
    return base64.b64encode(rnd.randbytes(n_bytes)).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def person() -> tuple[str, str]:
    return rnd.choice(GIVEN), rnd.choice(FAMILY)


# --- positives ---------------------------------------------------------------------------------


def emails():
    forms = ["password reset requested for {}", 'From: "{name}" <{}>', '{{"customer_email":"{}"}}', "mailto:{}",
             "subscriber={} status=active", "bounce: {} (550 mailbox full)", "invite accepted by {} via SSO",
             "Reply-To: {}"]
    for i in range(30):
        g, f = person()
        local = rnd.choice([f"{g}.{f}", f"{g[0]}{f}", f"{g}_{f}{rnd.randrange(100)}", f"{g}+orders", f"{f}.{g}"])
        addr = f"{local}@{rnd.choice(MAIL_DOMAINS)}"
        if i % 7 == 3:
            addr = addr.upper()
        yield rnd.choice(forms).format(addr, name=f"{g.title()} {f.title()}"), addr


def _random_number(region: str):
    base = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    national = str(base.national_number)
    for _ in range(50):
        digits = national[:3] + rand(string.digits, len(national) - 3)
        number = phonenumbers.parse(f"+{base.country_code}{digits}", None)
        if phonenumbers.is_valid_number(number):
            return number
    return base


def phones():
    regions = ["AU", "CA", "PL", "SE", "KR", "EG", "AR", "PH", "ID", "CH", "AT", "BE", "PT", "IE", "KE", "VN"]
    forms = ["SMS sent to {}", "callback {} requested", "whatsapp:{}", "2FA code delivered to {}",
             "caller id {} (verified)", "recipient {}"]
    for i, region in enumerate(regions):
        number = _random_number(region)
        fmt = [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
               phonenumbers.PhoneNumberFormat.RFC3966][i % 3]
        shown = phonenumbers.format_number(number, fmt)
        core = shown.removeprefix("tel:")
        yield rnd.choice(forms).format(shown), core
        if i % 2 == 0:
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
            yield f"chat {e164}@c.us opened", e164


def jwts():
    forms = ["id_token={}", "jwt {} rejected: expired", "Cookie: access={}", "upstream returned {}",
             "X-Amzn-Oidc-Data: {}"]
    for i in range(16):
        header = {"alg": rnd.choice(["RS384", "EdDSA", "PS256", "ES384", "HS512"]), "typ": "JWT"}
        if i % 3:
            header["kid"] = str(uuid.UUID(bytes=rnd.randbytes(16)))
        claims = {"iss": "https://auth.example.net/", "aud": "orders-api", "exp": 1735689600 + i * 97,
                  "email_verified": bool(i % 2), "sid": rand(HEX, 12)}
        token = ".".join([b64url(json.dumps(header, separators=(",", ":")).encode()),
                          b64url(json.dumps(claims, separators=(",", ":")).encode()),
                          b64url(rnd.randbytes(rnd.choice([64, 96, 256])))])
        yield rnd.choice(forms).format(token), token


def _pem(label: str) -> tuple[str, str]:
    body = base64.b64encode(rnd.randbytes(rnd.choice([121, 240, 600]))).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----", lines[0]


def tokens():
    """Cloud and SaaS token shapes, each in text as a log line or an attribute would carry it."""
    upper_digits = string.ascii_uppercase + string.digits
    for i, prefix in enumerate(itertools.islice(itertools.cycle(["AKIA", "ASIA", "ABIA", "ACCA"]), 8)):
        tail = rand(upper_digits, 15)
        tail = tail[:i % 15] + rnd.choice("0189") + tail[i % 15:]  # a digit base32 lacks
        t = prefix + tail
        yield rnd.choice(["loaded credentials {} from env", "AccessKeyId: {}", "s3 client using {}",
                          "sts assumed role, key {}"]).format(t), t
    for _ in range(5):
        t = "AIza" + rand(ALNUM + "-_", 35)
        yield rnd.choice(["firebase apiKey {}", "geocoder configured with {}", "maps key={}",
                          "places client key {} quota exceeded"]).format(t), t
    for _ in range(3):
        t = "glpat-" + rand(ALNUM + "-_", 20)
        yield rnd.choice(["PRIVATE-TOKEN: {}", "gitlab runner registered with {}", "ci token {}"]).format(t), t
    for _ in range(3):
        t = "npm_" + rand(ALNUM, 36)
        yield rnd.choice(["//registry.npmjs.org/:_authToken={}", "publishing with {}", "npm token {}"]).format(t), t
    for _ in range(3):
        t = "pypi-AgEIcHlwaS5vcmc" + rand(B64URL, rnd.randrange(60, 160))
        yield rnd.choice(["twine upload -u __token__ -p {}", "uploading with {}"]).format(t), t
    for _ in range(3):
        t = "sk-proj-" + rand(B64URL, 74) + "T3BlbkFJ" + rand(B64URL, 74)
        yield rnd.choice(["openai client init key={}", "LLM provider key {}"]).format(t), t
    for _ in range(2):
        t = "sk-" + rand(ALNUM, 20) + "T3BlbkFJ" + rand(ALNUM, 20)
        yield f"OPENAI_API_KEY {t}", t
    for _ in range(2):
        t = "sk-" + rand(ALNUM, 48)
        yield f"completion request signed with {t}", t
    for _ in range(3):
        t = "sk-ant-api03-" + rand(B64URL, 93) + "AA"
        yield rnd.choice(["anthropic key {}", "x-api-key: {}", "claude client {}"]).format(t), t
    for _ in range(3):
        t = "SG." + rand(B64URL, 22) + "." + rand(B64URL, 43)
        yield rnd.choice(["sendgrid {}", "mail transport key {}"]).format(t), t
    for prefix in ("AC", "SK", "AC"):
        t = prefix + rand(HEX, 32)
        yield rnd.choice(["twilio account {}", "twilio api key {} rotated", "messaging via {}"]).format(t), t
    for _ in range(3):
        k = b64(64)  # 88 characters, ending ==
        yield (f"DefaultEndpointsProtocol=https;AccountName=acme{rnd.randrange(99)};AccountKey={k};"
               f"EndpointSuffix=core.windows.net"), k
    for _ in range(2):
        k = b64(64)
        yield f"blob storage key {k} expires soon", k
    for label in ("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY"):
        pem, first = _pem(label)
        yield f"loaded signing key:\n{pem}", first
    for prefix in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"):
        t = prefix + rand(ALNUM, 36)
        yield rnd.choice(["git remote set-url origin https://x-access-token:{}@github.com/acme/app",
                          "gh auth with {}", "actions token {}"]).format(t), t
    t = "github_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59)
    yield f"fine-grained token {t}", t
    for prefix in ("xoxb", "xoxp", "xoxa-2", "xoxr"):
        t = f"{prefix}-{rnd.randrange(10**10, 10**12)}-{rnd.randrange(10**10, 10**12)}-{rand(ALNUM, 24)}"
        yield rnd.choice(["slack client {}", "posting with {}"]).format(t), t
    for prefix in ("sk_live_", "rk_live_", "sk_live_"):
        t = prefix + rand(ALNUM, rnd.choice([24, 34, 99]))
        yield rnd.choice(["stripe charge via {}", "payment provider key {}"]).format(t), t


# High-entropy values under keys that name a credential, none of them a default blocked key.
SECRET_LIKE_KEYS = ["service.credentials", "oauth.client_credential", "http.request.header.x-auth",
                    "hmac.signing_key", "webhook.auth", "encryption_key", "datadog.app_key", "twilio.auth",
                    "storage.account_key", "license_key"]


def entropy_values():
    for i, key in enumerate(SECRET_LIKE_KEYS):
        v = [rand(HEX, 32), rand(ALNUM, 40), b64(30), rand(B64URL, 24)][i % 4]
        yield key, v


def cards():
    brands = [("4", 16, "4"), ("2", 16, "2"), ("51", 16, "4"), ("37", 15, "amex"), ("6011", 16, "4"),
              ("3566", 16, "4"), ("36", 14, "diners"), ("62", 19, "none"), ("6759", 16, "none"), ("4", 16, "4")]
    forms = ["charge failed for card {}", "pan:{}", "{}|12/27|cvv ok", "tokenizing {} for merchant 88",
             "card number {} flagged"]
    for i, (prefix, length, grouping) in enumerate(itertools.islice(itertools.cycle(brands), 20)):
        if prefix == "2":
            prefix = str(rnd.randrange(2221, 2721))
        body = prefix + rand(string.digits, length - len(prefix) - 1)
        number = body + luhn.calc_check_digit(body)
        sep = rnd.choice([" ", "-"])
        if grouping == "4" and i % 2:
            shown = sep.join(number[j:j + 4] for j in range(0, length, 4))
        elif grouping == "amex" or grouping == "diners":
            shown = f"{number[:4]} {number[4:10]} {number[10:]}"
        else:
            shown = number
        yield rnd.choice(forms).format(shown), shown


IBAN_COUNTRIES = {"FR": "n10c11n2", "ES": "n20", "IT": "a1n10c12", "HR": "n17", "CZ": "n20", "SK": "n20",
                  "SI": "n15", "RO": "a4c16", "HU": "n24", "GR": "n7c16", "LT": "n16", "LV": "a4c13",
                  "EE": "n16", "MT": "a4n5c18", "BG": "a4n6c8", "LI": "n5c12"}


def _bban(spec: str) -> str:
    out = []
    for kind, n in ((m[0], int(m[1:])) for m in _split(spec)):
        chars = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}[kind]
        out.append(rand(chars, n))
    return "".join(out)


def _split(spec: str) -> list[str]:
    parts, cur = [], ""
    for ch in spec:
        if ch.isalpha() and cur:
            parts.append(cur)
            cur = ""
        cur += ch
    return parts + [cur]


def ibans():
    forms = ["refund to {}", "IBAN: {}", "beneficiary account {} (SEPA)", "payout {} scheduled",
             "mandate for {} signed"]
    made = 0
    for country in itertools.cycle(IBAN_COUNTRIES):
        for _ in range(200):
            bban = _bban(IBAN_COUNTRIES[country])
            digits = "".join(str(int(c, 36)) for c in bban + country + "00")
            candidate = f"{country}{98 - int(digits) % 97:02d}{bban}"
            if stdnum_iban.is_valid(candidate):
                break
        else:
            continue  # a national check digit this generator does not compute
        shown = stdnum_iban.format(candidate) if made % 3 == 1 else candidate
        yield rnd.choice(forms).format(shown), shown
        made += 1
        if made == 18:
            return


def ips():
    for _ in range(12):
        a = rnd.choice([31, 46, 77, 88, 93, 109, 134, 141, 178, 188, 195, 217])
        addr = f"{a}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        yield rnd.choice(["login from {}", "{}:51234 -> 443", "X-Forwarded-For: {}, 10.0.3.7", "geoip lookup {}",
                          "rate limited {}"]).format(addr), addr
    for i in range(8):
        head = rnd.choice(["2a02:8108", "2600:1f18", "2a01:4f8", "2001:67c", "2406:da00"])
        groups = [f"{rnd.randrange(0x10000):x}" for _ in range(6)]
        addr = f"{head}:{':'.join(groups)}" if i % 2 else f"{head}:{groups[0]}::{groups[1]}"
        yield rnd.choice(["client [{}]:443", "peer {} closed", "remote_addr={}"]).format(addr), addr


def geo_texts():
    for i in range(14):
        lat, lon = rnd.uniform(-55, 65), rnd.uniform(-160, 175)
        d = rnd.choice([3, 4, 5, 6])
        la, lo = f"{lat:.{d}f}", f"{lon:.{d}f}"
        form = i % 7
        if form == 0:
            text = f"{la}, {lo}"
        elif form == 1:
            text = f"driver position ({la},{lo})"
        elif form == 2:
            text = f"geo:{la},{lo}"
        elif form == 3:
            text = f"lat={la} lon={lo}"
        elif form == 4:
            text = f'{{"lat":{la},"lng":{lo}}}'
        elif form == 5:
            text = f"latitude: {la} longitude: {lo}"
        else:
            text = f"pickup at {la},{lo} confirmed"
        yield text, la


def geo_numbers():
    pairs = [("geo.lat", "geo.lon"), ("client.geo.latitude", "client.geo.longitude"),
             ("device.location.lat", "device.location.lon"), ("store.latitude", "store.longitude"),
             ("geo.location.lat", "geo.location.lon")]
    for lat_key, lon_key in pairs:
        lat, lon = round(rnd.uniform(-50, 60), 6), round(rnd.uniform(-120, 150), 6)
        yield lat_key, lat, lon_key, lon


def sql_texts():
    for _ in range(14):
        g, f = person()
        name = f"{g.title()} {f.title()}"
        road = rnd.choice(["Calle de Alcala", "Rue Lepic", "Karl-Marx-Allee", "Via Roma"])
        street = f"{road} {rnd.randrange(1, 200)}"
        ref = rand(string.ascii_lowercase + string.digits, 10)
        form, secret = rnd.choice([
            (f"executing SELECT id, balance FROM accounts WHERE owner_name = '{name}' AND status = 'active'", name),
            (f"slow query (1532 ms): UPDATE customers SET street = '{street}' WHERE id = 991", street),
            (f"INSERT INTO addresses (street, city) VALUES ('{street}', 'Lyon')", street),
            (f"DELETE FROM carts WHERE session_ref = '{ref}'", ref),
            (f"query failed: select * from users where lower(last_name) like '{f}%'", f),
            (f"sqlalchemy.exc.IntegrityError: INSERT INTO members (display_name) VALUES ('{name}')", name),
        ])
        yield form, secret


PASSWORDS_KEYS = ["db.password", "user.passphrase", "smtp.passwd", "http.request.header.cookie", "vault.secret"]


def taints():
    """A value masked under a blocked key, or found by a detector, repeated elsewhere in the record."""
    for i in range(14):
        secret = rnd.choice([rand(ALNUM, 4) + rnd.choice("!#%*-") + rand(ALNUM, 6),
                             f"Summer{rnd.randrange(1990, 2030)}!",
                             rand(string.ascii_lowercase, 5) + rand(string.digits, 3)
                             + rand(string.ascii_uppercase, 2)])
        text = rnd.choice([f"auth failed for svc-reports using {secret}", f"retrying login with '{secret}'",
                           f"config reloaded: {secret} accepted", f"bind as cn=admin with {secret} failed"])
        if i % 4 == 3:  # found by a detector in another value, not under a blocked key
            yield text, secret, ["config.dump", f"db_password={secret} pool=5"]
        else:
            key = PASSWORDS_KEYS[i % len(PASSWORDS_KEYS)]
            yield text, secret, [key, f"sessionid={secret}" if "cookie" in key else secret]


# --- negatives ---------------------------------------------------------------------------------


def _uuid7() -> uuid.UUID:
    # Time-ordered: 48 bits of milliseconds, then version 7 and random bits.
    ms = 1_731_600_000_000 + rnd.randrange(10**9)
    raw = (ms << 80) | (0x7 << 76) | (rnd.getrandbits(12) << 64) | (0b10 << 62) | rnd.getrandbits(62)
    return uuid.UUID(int=raw)


def negatives():
    out: list[tuple[str, str | None]] = []
    for _ in range(8):
        out.append((rnd.randbytes(16).hex(), "trace.id"))
        out.append((rnd.randbytes(8).hex(), "span.parent_id"))
    for _ in range(4):
        out.append((f"00-{rnd.randbytes(16).hex()}-{rnd.randbytes(8).hex()}-0{rnd.choice('01')}", "traceparent"))
        out.append((f"{rnd.randbytes(16).hex()}-{rnd.randbytes(8).hex()}-1", "b3"))
    for i in range(10):
        u = uuid.UUID(bytes=rnd.randbytes(16), version=4) if i % 2 else _uuid7()
        out.append(([str(u), str(u).upper(), f"{{{u}}}", f"job {u} finished"][i % 4], rnd.choice(
            ["k8s.pod.uid", "idempotency_key", "http.request.header.x-request-id", None])))
    for s in ["2024-11-03T01:59:59.123456789-07:00", "2025-01-15T08:00:00Z", "2024-12-24 18:30:00.5+01",
              "Tue, 15 Oct 2024 07:28:00 GMT", "1731600000123", "1731600000123456789", "2024-06-30",
              "15/Oct/2024:07:28:00 +0000", "T+00:03:12.450", "2025-03-09T02:30:00+05:45"]:
        out.append((s, rnd.choice(["event.time", "log.timestamp", None])))
    for s in ["£24.99", "¥1,200", "CHF 89.90", "price_eur=1299.00", "$0.99/mo", "12,50 €", "total 3,499.95 SEK",
              "discount -15.00", "unit_price=0.0042", "R$ 1.050,75"]:
        out.append((s, rnd.choice(["order.total", "pricing.display", None])))
    for s in ["3.12.4-alpine", "v2.45.0", "1.0.0-rc.2+sha.5114f85", "node:20.11.1-bookworm", "otelcol-contrib 0.115.1",
              "libssl3 3.0.13-0ubuntu3.4", "kernel 6.8.0-45-generic", "chrome/131.0.6778.86", "v0.0.1-alpha.3",
              "postgres 16.4"]:
        out.append((s, rnd.choice(["service.version", "telemetry.sdk.version", None])))
    for _ in range(4):
        out.append((rnd.randbytes(32).hex(), "cache.key"))
        out.append((rnd.randbytes(16).hex(), "file.hash.md5"))
    out.append(("sha256:" + rnd.randbytes(32).hex(), "container.image.id"))
    out.append((rnd.randbytes(20).hex(), "vcs.ref.head.revision"))
    out.append(("sha512-" + b64(64), "npm.integrity"))
    out.append(("sha384-" + b64(48), "subresource.integrity"))
    for _ in range(6):
        dep = rand(string.ascii_lowercase + string.digits, 9)
        app = rnd.choice(["payments-api", "cart", "notifier", "search-indexer"])
        out.append((f"{app}-{dep}-{rand(string.ascii_lowercase + string.digits, 5)}", "k8s.pod.name"))
    for s in [b64(12), b64(18), b64url(rnd.randbytes(15)), "Y2hlY2tvdXQ6b3JkZXI6NDUxMg==", b64(9), b64(24)]:
        out.append((s, rnd.choice(["messaging.message.id", "cursor", None])))
    for s in ["SELECT id FROM orders WHERE customer_id = $1 AND status = ANY($2) LIMIT 50",
              "UPDATE carts SET updated_at = now() WHERE id = :cart_id",
              "please select an item from the list and click 'Buy'",
              "couldn't update the profile: field 'nickname' is required",
              "delete from favourites requested by 'mobile-app' client",
              "user's session expired after 30 min", "it's 'ok' to retry, said the 'gateway'",
              "INSERT INTO audit_log (kind, at) VALUES (?, ?)",
              "{'retries': 3, 'backoff': 'exponential'}"]:
        out.append((s, None))
    for s in ["GET /api/v2/stores/{store_id}/inventory 200 12.4ms", "grpc.status_code=UNAVAILABLE retry in 250ms",
              "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
              "pool exhausted: 20/20 connections busy", "eu-west-3", "ip-10-0-12-34.eu-west-1.compute.internal",
              "arn:aws:lambda:eu-west-1:123456789012:function:resize", "topic orders.v1 partition 7 lag 1203",
              "feature_flag new_checkout=on (rollout 25%)", "HTTP/2 503 upstream connect error",
              "0.123, 0.456", "p50=0.123 p99=1.870", "ratio 0.5000, 0.2500", "release 2024.11.3, build 4411",
              "token bucket refilled", "auth ok", "credential rotation scheduled"]:
        out.append((s, None))
    return out


# Short values under blocked keys (a flag, a count): they never spread to the text beside them.
SHORT_BLOCKED = [["http.cookie.secure", "true"], ["auth.token_count", 3], ["session.token", "1"],
                 ["db.password_set", "yes"]]
SHORT_TEXTS = ["retry=true after 3 attempts", "secure=true samesite=lax", "window 1 of 3", "answer: yes, proceed"]


def main() -> None:
    lines: list[dict] = []
    cycle = itertools.cycle(FIELDS)
    keyed = itertools.cycle(KEYED)
    neutral = itertools.cycle(NEUTRAL_KEYS)

    def add(field, value, kind, secret, key=None, with_=()):
        if field != "log_body_string" and key is None:
            key = next(neutral)
        lines.append({"field": field, "key": key if field != "log_body_string" else None, "value": value,
                      "kind": kind, "secret": secret, "with": [list(w) for w in with_]})

    for kind, samples in [("email", emails()), ("phone", phones()), ("jwt", jwts()), ("api_key", tokens()),
                          ("credit_card", cards()), ("iban", ibans()), ("ip", ips()), ("geo", geo_texts()),
                          ("sql", sql_texts())]:
        for text, secret in samples:
            add(next(cycle), text, kind, secret)
    for key, value in entropy_values():
        add(next(keyed), value, "api_key", value, key=key)
    for field, (lat_key, lat, lon_key, lon) in zip(keyed, geo_numbers(), strict=False):
        add(field, lat, "geo", repr(lat), key=lat_key, with_=[(lon_key, lon)])
    for field, (text, secret, companion) in zip(cycle, taints(), strict=False):
        add(field, text, "taint", secret, with_=[companion])
    for text, key in negatives():
        field = next(cycle)
        add(field, text, None, None, key=key if field != "log_body_string" else None)
    for field, companion, text in zip(cycle, SHORT_BLOCKED, SHORT_TEXTS, strict=False):
        add(field, text, None, None, with_=[companion])
    fixed = ["order ORD-88120 shipped", "GET /healthz 200", "cache miss for user:42"]
    for field, text in zip(cycle, fixed, strict=False):
        add(field, text, None, None, with_=[("db.password", "Xq7#long-enough-secret")])
    OUT.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    n_pos = sum(1 for line in lines if line["kind"])
    print(f"wrote {OUT.name}: {n_pos} positives, {len(lines) - n_pos} negatives")


if __name__ == "__main__":
    main()
