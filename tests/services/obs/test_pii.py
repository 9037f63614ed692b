"""The PII policy of services/obs/README.md, value by value."""

from __future__ import annotations

import pytest

from services.obs.export import clean_attributes
from services.obs.pii import MAX_ITEMS, REDACTED, TRUNCATED_KEY, anonymise_ip, scrub_text, scrub_value

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlLXZhbHVl"


@pytest.mark.parametrize(("text", "gone"), [
    ("user bob.smith@example.com failed", "bob.smith@example.com"),
    (f"auth {JWT}", JWT),
    ("Authorization: Bearer abc.def-123", "abc.def-123"),
    ("GET /nearby?lat=41.00823&lon=28.97843&radius=500", "41.00823"),
    ("at 41.008234, 28.978359 now", "41.008234"),
    ("postgresql://admin:pw@db.internal/app", "admin:pw"),
])
def test_text_loses_the_sensitive_part(text: str, gone: str) -> None:
    assert gone not in scrub_text(text)


def test_plain_operational_text_is_untouched() -> None:
    text = "GET /rooms/{room_id}/join 200 in 12.5 ms, trace 4bf92f3577b34da6a3ce929d0e0e4736"
    assert scrub_text(text) == text


@pytest.mark.parametrize("key", ["body", "message.body", "token", "access_token", "authorization", "email",
                                 "user_email", "file_key", "password", "http.request.header.cookie", "signature"])
def test_blocked_keys_are_redacted(key: str) -> None:
    assert scrub_value(key, "anything") == REDACTED


def test_sizes_of_blocked_things_are_kept() -> None:
    assert scrub_value("http.request.body.size", 512) == 512


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("lat", 41.008234, 41.0), ("geo.lon", 28.978, 29.0), ("longitude", "28.978", "29.0"), ("lng", [1], REDACTED),
])
def test_geo_is_coarsened(key: str, value: object, expected: object) -> None:
    assert scrub_value(key, value) == expected


def test_arrays_and_maps_over_ten_items_are_truncated() -> None:
    assert len(scrub_value("ids", list(range(25)))) == MAX_ITEMS
    mapping = scrub_value("ctx", {f"k{i}": i for i in range(15)})
    assert len(mapping) == MAX_ITEMS + 1 and mapping[TRUNCATED_KEY] == 5


def test_nested_values_are_scrubbed() -> None:
    out = scrub_value("ctx", {"who": {"email": "x@y.io"}, "note": "mail z@q.io"})
    assert out == {"who": {"email": REDACTED}, "note": "mail [EMAIL]"}


def test_ips_keep_the_network_only() -> None:
    assert anonymise_ip("203.0.113.77") == "203.0.113.0"
    assert anonymise_ip("2001:db8:85a3:8d3:1319:8a2e:370:7348") == "2001:db8:85a3::"


def test_span_attributes_get_statement_and_query_sanitising() -> None:
    attrs = clean_attributes({
        "db.system": "postgresql", "db.statement": "SELECT * FROM u WHERE email = 'a@b.co'",
        "url.query": "email=a@b.co&page=2", "client.address": "198.51.100.23", "http.route": "/u/{id}",
    })
    assert attrs["db.statement"] == "SELECT * FROM u WHERE email = ?"
    assert "a@b.co" not in attrs["url.query"] and "page=" in attrs["url.query"]
    assert attrs["client.address"] == "198.51.100.0" and attrs["http.route"] == "/u/{id}"


def test_clean_attributes_keeps_plain_values_and_the_same_object_when_nothing_changes() -> None:
    attrs = {"http.route": "/u/{id}", "http.status_code": 200, "net.peer.port": 5000, "ok": True, "ratio": 0.5}
    assert clean_attributes(attrs) is attrs


def test_numbers_under_blocked_keys_are_judged_by_the_key_not_the_type() -> None:
    # `db.query.text` holds a statement when it is a string; any other value falls under its `text` segment.
    out = clean_attributes({"db.query.text": 7, "auth.token": 12345, "geo.lat": 41.008234,
                            "http.request.body.size": 512, "net.peer.port": 443})
    assert out == {"db.query.text": REDACTED, "auth.token": REDACTED, "geo.lat": 41.0,
                   "http.request.body.size": 512, "net.peer.port": 443}
