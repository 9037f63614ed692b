"""Each detector: what it finds, what its validator rejects, the form it hashes,
and the shared Pattern contract. The corpus test measures recall and
precision; these pin down the behaviour case by case."""

from __future__ import annotations

import pytest

from processors.redaction.detectors import DETECTORS, Pattern, context_tokens
from processors.redaction.detectors.geo import GeoDetector


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
