"""URL query values and userinfo; SQL literals."""

from __future__ import annotations

import pytest

from processors.redaction.sanitizers import sql, url


def parts(text: str, findings) -> list[str]:
    return [text[f.start:f.end] for f in findings]


class TestUrl:
    def test_query_values_and_userinfo_of_urls_in_text(self):
        text = "GET https://bob:pw@api.example.org/v1/items?email=a%40b.de&page=2#top then done"
        assert parts(text, url.free_text_findings(text)) == ["bob:pw", "a%40b.de", "2"]

    def test_a_fragment_is_not_a_query(self):
        text = "https://example.org/docs#section?x=1"
        assert url.free_text_findings(text) == []

    def test_empty_values_and_plain_urls_are_left_alone(self):
        assert url.free_text_findings("https://example.org/a?flag&x=") == []
        assert url.free_text_findings("no url here ?q=1") == []

    @pytest.mark.parametrize(("key", "text", "expected"), [
        ("url.full", "https://u@h/p?q=1", ["u", "1"]),
        ("http.target", "/search?q=anna&lang=de", ["anna", "de"]),
        ("url.query", "q=anna&lang=de", ["anna", "de"]),
        ("http.target", "/plain/path", []),
    ])
    def test_url_attributes_in_any_shape(self, key, text, expected):
        assert parts(text, url.attribute_findings(text, key)) == expected


class TestSql:
    def test_literals_go_identifiers_and_placeholders_stay(self):
        text = "SELECT * FROM users2 WHERE email = 'anna@x.de' AND id = 42 AND t > $1 AND x = :name"
        assert parts(text, sql.findings(text)) == ["'anna@x.de'", "42"]

    def test_escaped_quotes_hex_and_floats(self):
        text = "INSERT INTO t VALUES ('it''s', 3.14, 1e9, 0xBEEF, E'a\\'b')"
        assert parts(text, sql.findings(text)) == ["'it''s'", "3.14", "1e9", "0xBEEF", "'a\\'b'"]


class TestSqlInText:
    @pytest.mark.parametrize(("text", "literals"), [
        ("executing SELECT * FROM users WHERE email = 'a@b.c'", ["'a@b.c'"]),
        ("slow query (1532 ms): UPDATE customers SET street = 'Via Roma 1' WHERE id = 991", ["'Via Roma 1'", "991"]),
        ("INSERT INTO addresses (street, city) VALUES ('Rue Lepic 5', 'Lyon')", ["'Rue Lepic 5'", "'Lyon'"]),
        ("DELETE FROM carts WHERE session_ref = 'c4rt77'", ["'c4rt77'"]),
        ("failed: select id from users where last_name like 'nowak%'", ["'nowak%'"]),
        ("user's query: SELECT id FROM t WHERE a = 'x'", ["'x'"]),  # the prose before it is not read
    ])
    def test_statements_with_a_literal_operand_lose_their_literals(self, text, literals):
        assert parts(text, sql.free_text_findings(text)) == literals

    @pytest.mark.parametrize("text", [
        "please select an item from the list and click 'Buy'",
        "couldn't update the profile: field 'nickname' is required",
        "delete from favourites requested by 'mobile-app' client",
        "it's 'ok' to retry, said the 'gateway'",
        "SELECT id FROM orders WHERE customer_id = $1 LIMIT 50",  # placeholders only
        "{'retries': 3, 'backoff': 'exponential'}",
    ])
    def test_prose_with_quotes_and_statements_without_literals_are_left_alone(self, text):
        assert sql.free_text_findings(text) == []
