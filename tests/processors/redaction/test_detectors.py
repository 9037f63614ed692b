"""Each detector: what it finds, what its validator rejects, the form it hashes,
and the shared Pattern contract. The corpus test measures recall and
precision; these pin down the behaviour case by case."""

from __future__ import annotations

import random

import pytest
import re2

from processors.redaction.config import RedactionConfig
from processors.redaction.detectors import DETECTORS, Pattern, context_tokens
from processors.redaction.detectors.api_key import (
    ApiKeyDetector,
    high_entropy,
    shannon_entropy,
)
from processors.redaction.detectors.geo import GeoDetector
from processors.redaction.fastscan import build_scanner, byte_pattern
from processors.redaction.rules import RuleSet
from tests.processors.redaction.builders import kv


def found(kind: str, text: str, *, context: bool = False) -> list[str]:
    detector = DETECTORS[kind]()
    return [text[f.start:f.end] for f in detector.analyze(text, context)]


class TestPattern:
    def test_a_bad_regex_is_refused_quoting_it(self):
        with pytest.raises(ValueError, match=r"pattern 'x': invalid regex '\(unclosed'"):
            Pattern("x", "(unclosed", 0.5)

    @pytest.mark.parametrize("score", [-0.1, 1.5])
    def test_a_score_outside_0_1_is_refused(self, score):
        with pytest.raises(ValueError, match=f"score must be in \\[0, 1\\], got {score}"):
            Pattern("x", "a", score)

    def test_every_detector_has_patterns_and_a_kind(self):
        for kind, cls in DETECTORS.items():
            assert kind == cls.KIND and cls.PATTERNS


class TestContext:
    @pytest.mark.parametrize(("key", "tokens"), [
        ("geo.location.lat", "_geo_location_lat_"), ("wa_id", "_wa_id_"), ("User-Phone", "_user_phone_"),
        ("a..b", "_a_b_"), ("clé.lat", "_cl_lat_"),
    ])
    def test_keys_split_into_ascii_words(self, key, tokens):
        assert context_tokens(key) == tokens

    def test_words_match_whole_tokens_only(self):
        geo = GeoDetector()
        assert geo.in_context(context_tokens("geo.location.lat"))
        assert not geo.in_context(context_tokens("platform.latency_ms"))

    def test_context_only_patterns_need_the_key(self):
        assert found("phone", "4915112345678") == []
        assert found("phone", "4915112345678", context=True) == ["4915112345678"]
        assert found("geo", "52.520008") == []
        assert found("geo", "52.520008", context=True) == ["52.520008"]


class TestEmail:
    def test_finds_addresses_in_text(self):
        assert found("email", "to Anna.Smith+x@mail.example.org, cc li@proton.me") == [
            "Anna.Smith+x@mail.example.org", "li@proton.me"]

    @pytest.mark.parametrize("text", ["icon@2x.png", "user@localhost", "npm i @scope/pkg@1.2.3",
                                      "4915112345678@s.whatsapp.net", "a..b@example.com", "x.@example.com"])
    def test_rejects_look_alikes(self, text):
        assert found("email", text) == []

    def test_hashes_the_lowercase_form(self):
        assert DETECTORS["email"]().normalize("Anna@Example.COM") == "anna@example.com"


class TestPhone:
    @pytest.mark.parametrize("text", ["+49 151 23456789", "+4915123456789", "+1 (415) 555-2671", "+44 7700 900123"])
    def test_finds_international_numbers(self, text):
        assert found("phone", f"call {text} now") == [text]

    def test_replaces_the_number_of_a_whatsapp_jid_and_keeps_the_domain(self):
        assert found("phone", "from 4915123456789:12@s.whatsapp.net") == ["4915123456789"]

    @pytest.mark.parametrize("text", ["UTC+05:30", "+100%", "+1 day", "+49", "+0 123 456 789"])
    def test_rejects_what_is_not_a_possible_number(self, text):
        assert found("phone", text) == []

    def test_every_spelling_of_a_number_normalises_alike(self):
        phone = DETECTORS["phone"]()
        assert phone.normalize("+49 151 2345-6789") == phone.normalize("4915123456789") == "+4915123456789"


class TestJwt:
    TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
             "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")

    def test_finds_a_token_whose_header_is_jose(self):
        assert found("jwt", f"token={self.TOKEN}&x=1") == [self.TOKEN]

    def test_rejects_base64_that_is_not_a_jose_header(self):
        fake = "eyJub3RhIjoiaGVhZGVyIn0.eyJzdWIiOiIxIn0.sig"  # {"nota":"header"}
        assert found("jwt", fake) == []
        assert found("jwt", "eyJhbGciOi.eyJzdW.x") == []  # not decodable


class TestApiKey:
    @pytest.mark.parametrize(("text", "secret"), [
        ("Authorization: Bearer abcDEF123456ghiJKL789", "abcDEF123456ghiJKL789"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
        ("ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5", "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ("api_key=Zx81kQ02pLmT", "Zx81kQ02pLmT"),
        ("Basic YWRtaW46czNjcmV0", "YWRtaW46czNjcmV0"),  # admin:s3cret
    ])
    def test_finds_credentials_and_keeps_what_names_them(self, text, secret):
        assert found("api_key", text) == [secret]

    @pytest.mark.parametrize("text", [
        "AKIA1234567890189999",  # 0, 1, 8, 9 are not base32
        "ghp_" + "x" * 36,  # a placeholder, not random
        "Basic realm=api", "Basic dGhpcyBpcyBub3Q=",  # "this is not": no colon
        "Bearer <token>",
    ])
    def test_rejects_placeholders_and_look_alikes(self, text):
        assert found("api_key", text) == []


class TestCreditCard:
    @pytest.mark.parametrize("text", ["4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004",
                                      "378282246310005", "6011111111111117", "3530111333300000"])
    def test_finds_numbers_with_an_issuer_and_a_luhn_check(self, text):
        assert found("credit_card", f"card {text} ok") == [text]

    @pytest.mark.parametrize("text", [
        "4111111111111112",  # Luhn fails
        "1700000000000000000",  # a timestamp: no issuer starts with 1
        "7992739871300000",  # Luhn passes, no issuer starts with 7
        "4111111111112",  # a Visa length and prefix, but Luhn fails
        "ORD-4111111111111111",  # part of an identifier
    ])
    def test_rejects_numbers_that_are_not_cards(self, text):
        assert found("credit_card", text) == []

    def test_hashes_the_digits(self):
        assert DETECTORS["credit_card"]().normalize("4111 1111-1111 1111") == "4111111111111111"


class TestIban:
    def test_finds_electronic_and_printed_forms(self):
        assert found("iban", "pay to DE89370400440532013000.") == ["DE89370400440532013000"]
        assert found("iban", "IBAN GB82 WEST 1234 5698 7654 32") == ["GB82 WEST 1234 5698 7654 32"]

    def test_a_printed_iban_does_not_swallow_the_next_word(self):
        assert found("iban", "DE89 3704 0044 0532 0130 00 OK THEN") == ["DE89 3704 0044 0532 0130 00"]

    @pytest.mark.parametrize("text", ["DE00370400440532013000", "GB82WEST12345698765433", "XX89370400440532013000"])
    def test_rejects_wrong_checksums_and_countries(self, text):
        assert found("iban", text) == []


class TestIp:
    @pytest.mark.parametrize("text", ["203.0.113.7", "85.214.132.117:8443", "2001:db8::8a2e:370:7334",
                                      "2a00:1450:4001:82a::200e", "fe80::1%eth0"])
    def test_finds_addresses(self, text):
        assert found("ip", f"peer {text}") == [text.split(":8443")[0]]

    @pytest.mark.parametrize("text", ["127.0.0.1", "0.0.0.0", "::1", "::", "224.0.0.1", "v1.2.3.4",
                                      "10.0.19041.1", "999.1.1.1", "12:34:56", "00:1a:2b:3c:4d:5e",
                                      "2024-06-01T12:34:56Z", "std::vector"])
    def test_rejects_what_identifies_nobody_and_look_alikes(self, text):
        assert found("ip", text) == []


class TestGeo:
    def test_finds_pairs_and_assignments(self):
        assert found("geo", "at 52.520008, 13.404954 now") == ["52.520008, 13.404954"]
        assert found("geo", "lat=48.85661&lon=2.35222") == ["48.85661", "2.35222"]

    def test_reduces_precision_instead_of_masking(self):
        geo = GeoDetector(precision=2)
        assert geo.transform("52.520008, 13.404954") == "52.52, 13.40"
        assert geo.round_value(-33.868820) == -33.87

    @pytest.mark.parametrize("text", ["91.123456, 13.404954", "52.52, 13.40", "1.2.3, 4.5.6", "19.9900"])
    def test_rejects_impossible_or_coarse_coordinates(self, text):
        assert found("geo", text) == []

    def test_what_is_already_coarse_enough_is_left_alone(self):
        assert found("geo", "52.5200", context=True) == ["52.5200"]
        assert GeoDetector(precision=4).analyze("52.5200", True) == []


def _token(chars: str, n: int, seed: int) -> str:
    rnd = random.Random(seed)
    return "".join(rnd.choice(chars) for _ in range(n))


_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_B64URL = _ALNUM + "-_"
TOKEN_SHAPES = {
    "aws_digits": "AKIA" + "Q0R1Z8W9XY7K3M5N",  # digits that base32 lacks
    "aws_asia": "ASIA" + "J3Q4R5S6T7U8V9W0",
    "aws_abia": "ABIA" + _token("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16, 1),
    "aws_acca": "ACCA" + _token("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 16, 2),
    "google": "AIza" + _token(_B64URL, 35, 3),
    "gitlab": "glpat-" + _token(_B64URL, 20, 4),
    "npm": "npm_" + _token(_ALNUM, 36, 5),
    "pypi": "pypi-AgEIcHlwaS5vcmc" + _token(_B64URL, 80, 6),
    "openai": "sk-" + _token(_ALNUM, 48, 7),
    "openai_project": "sk-proj-" + _token(_B64URL, 74, 8) + "T3BlbkFJ" + _token(_B64URL, 74, 9),
    "anthropic": "sk-ant-api03-" + _token(_B64URL, 93, 10) + "AA",
    "sendgrid": "SG." + _token(_B64URL, 22, 11) + "." + _token(_B64URL, 43, 12),
    "twilio_account": "AC" + _token("0123456789abcdef", 32, 13),
    "twilio_api_key": "SK" + _token("0123456789abcdef", 32, 14),
    "azure_key": _token(_ALNUM + "+/", 86, 15) + "==",
    "github_user": "ghu_" + _token(_ALNUM, 36, 16),
    "github_fine_grained": "github_pat_" + _token(_ALNUM, 22, 17) + "_" + _token(_ALNUM, 59, 18),
    "slack_refresh": "xoxr-" + _token(_ALNUM, 30, 19),
    "stripe_restricted": "rk_live_" + _token(_ALNUM, 30, 20),
}
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"


class TestTokenShapes:
    @pytest.mark.parametrize("name", sorted(TOKEN_SHAPES))
    def test_each_shape_is_found_in_text(self, name):
        token = TOKEN_SHAPES[name]
        assert found("api_key", f"client configured with {token} ok") == [token]

    def test_azure_connection_string_account_key(self):
        key = TOKEN_SHAPES["azure_key"]
        text = f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={key};EndpointSuffix=core.windows.net"
        assert key in found("api_key", text)

    @pytest.mark.parametrize("label", ["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY",
                                       "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK"])
    def test_pem_private_key_blocks_lose_their_body_and_keep_their_armour(self, label):
        text = f"loaded:\n-----BEGIN {label}-----\n{PEM_BODY}\n{PEM_BODY[::-1]}\n-----END {label}-----\nok"
        (body,) = found("api_key", text)
        assert PEM_BODY in body and PEM_BODY[::-1] in body and "BEGIN" not in body

    def test_a_pem_block_cut_short_still_loses_its_body(self):
        (body,) = found("api_key", f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}")
        assert PEM_BODY in body

    @pytest.mark.parametrize("text", [
        "AKIA1234567890123456",  # counting digits: a placeholder
        "AKIAEXAMPLE", "AIzaSyShort", "AIza" + "x" * 35,
        "glpat-xxxxxxxxxxxxxxxxxxxx", "npm_" + "a" * 36,
        "sk-this-is-a-long-descriptive-feature-flag-name",  # kebab case: one class of characters
        "task-" + "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",  # sk- inside a word
        "SG.short.x", "AC" + "0" * 32, "ac" + "3f2a9c1d" * 4,  # a lowercase hex hash
        "sha512-" + _token(_ALNUM + "+/", 86, 21) + "==",  # subresource integrity, not a storage key
        "-----BEGIN PUBLIC KEY-----\n" + PEM_BODY + "\n-----END PUBLIC KEY-----",
        "expected a -----BEGIN PRIVATE KEY----- header",  # no key material
        "4bf92f3577b34da6a3ce929d0e0e4736", "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "dGhpcyBpcyBub3QgYSBzZWNyZXQ=",  # base64 of ordinary length
    ])
    def test_near_misses_survive(self, text):
        assert found("api_key", text) == []


class TestHighEntropyUnderCredentialKeys:
    def rules(self):
        return RuleSet(RedactionConfig())

    @pytest.mark.parametrize(("key", "value"), [
        ("service.credentials", "Zq8vN2mK5xR7tY1wB4cF6hJ9"),
        ("http.request.header.x-auth", "9f8e7d6c5b4a39281706f5e4d3c2b1a0"),  # hex: a Twilio auth token
        ("hmac.signing_key", "dGhpc0lzQVJhbmRvbUtleTEyMzQ1Njc4OQ"),
        ("datadog.app_key", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0"),
    ])
    def test_random_values_under_keys_that_name_a_credential_are_replaced(self, key, value):
        rules = self.rules()
        rule = rules.key_rule(key)
        verdict = rules.rewrite(value, rule.context, rule.mode)
        assert verdict is not None and value not in verdict.text

    @pytest.mark.parametrize(("key", "value"), [
        ("cache.key", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),  # not a credential key
        ("trace.id", "4bf92f3577b34da6a3ce929d0e0e4736"),
        ("auth.user_id", "usr_8f3k2m9x7q1w5e4r"),  # names a credential, holds an id
        ("credential.provider", "DefaultAzureCredential"),
        ("auth.flow", "authorization_code_with_pkce"),  # words, no digits
        ("auth.method", "password"),  # short
    ])
    def test_ids_hashes_and_words_survive(self, key, value):
        rules = self.rules()
        rule = rules.key_rule(key)
        assert rules.rewrite(value, rule.context, rule.mode) is None

    def test_entropy_thresholds(self):
        assert shannon_entropy("aaaa") == 0 and shannon_entropy("abcd") == 2
        assert high_entropy("Zq8vN2mK5xR7tY1wB4cF6hJ9")
        assert not high_entropy("aaaaaaaaaaaaaaaaaaaaaa1A")
        assert not high_entropy("Zq8vN2mK5xR7")  # shorter than 16


class TestScanCoversTheNewShapes:
    """The raw scan's byte pattern of every detector is a superset of its exact regex: the fast
    path never misses what the exact rules find."""

    @pytest.mark.parametrize("engine", ["hyperscan", "re2"])
    def test_every_new_shape_makes_a_request_dirty(self, engine):
        rules = RuleSet(RedactionConfig(truncation={"max_string_length": 0, "max_items": 0}))
        scanner = build_scanner(rules.scan_patterns(), engine=engine)
        texts = [f"with {t} ok" for t in TOKEN_SHAPES.values()] + [
            f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----",
            "executing SELECT * FROM users WHERE email = 'x' LIMIT 1",
            "UPDATE customers SET street='Rue Lepic 5' WHERE id = 9",
            "at 52.524, 13.410 now", "52.5244° N, 13.4105° E", "lat=52.524 lon=13.410",
        ]
        for text in texts:
            assert rules.findings(text), text
            data = kv("a", "x").SerializeToString() + kv("app.value", text).SerializeToString()
            assert not scanner.scan(data).clean, text

    @pytest.mark.parametrize("name", sorted(TOKEN_SHAPES))
    def test_each_scan_pattern_matches_its_shape(self, name):
        token = TOKEN_SHAPES[name]
        matched = [p.name for p in ApiKeyDetector.PATTERNS if not p.needs_context and p.compiled.search(token)]
        assert matched
        for p in ApiKeyDetector.PATTERNS:
            if p.name in matched:
                assert re2.search(byte_pattern(p.scan or p.regex).encode(), token.encode()), p.name


class TestGeoPairs:
    @pytest.mark.parametrize(("text", "pair"), [
        ("at 52.524, 13.410 now", "52.524, 13.410"),
        ("driver position (40.7128,-74.0060)", "40.7128,-74.0060"),
        ("geo:48.8584,2.2945", "48.8584,2.2945"),
        ("52.5244° N, 13.4105° E", "52.5244° N, 13.4105° E"),
    ])
    def test_pairs_with_three_decimals_or_more(self, text, pair):
        assert found("geo", text) == [pair]

    def test_the_degree_and_hemisphere_stay_and_the_numbers_are_rounded(self):
        assert GeoDetector(precision=2).transform("52.5244° N, 13.4105° E") == "52.52° N, 13.41° E"

    @pytest.mark.parametrize("text", ["0.123, 0.456", "ratio 0.5000, 0.2500", "1.2.3, 4.5.6", "v1.234, 5.678",
                                      "release 2024.11.3, build 4411", "$19.99, $24.99"])
    def test_versions_fractions_and_prices_survive(self, text):
        assert found("geo", text) == []
