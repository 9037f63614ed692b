"""Offer extraction: prices need a currency marker; the product is what is left."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.extraction import Offer, extract_line, extract_offers, parse_amount


@pytest.mark.parametrize(("line", "offer"), [
    ("Selling Pixel 8 128GB - $520 net", Offer("Pixel 8 128GB", Decimal("520.00"), "USD")),
    ("R$ 1.299,90 iPhone 13", Offer("iPhone 13", Decimal("1299.90"), "BRL")),
    ("USD 1,299.50 Dell XPS", Offer("Dell XPS", Decimal("1299.50"), "USD")),
    ("99 EUR Galaxy S23 x2", Offer("Galaxy S23", Decimal("99.00"), "EUR", 2)),
    ("5 pcs AirPods 120€", Offer("AirPods", Decimal("120.00"), "EUR", 5)),
    ("WTS: Surface Laptop 5 | £980 each", Offer("Surface Laptop 5", Decimal("980.00"), "GBP")),
])
def test_a_priced_line_is_an_offer(line: str, offer: Offer) -> None:
    assert extract_line(line) == offer


@pytest.mark.parametrize("line", ["Pixel 8 128GB", "call me at 5pm", "meeting on 12.05", "2024 model, 256GB"])
def test_numbers_without_a_currency_are_not_prices(line: str) -> None:
    assert extract_line(line) is None


def test_a_price_without_a_product_is_an_error() -> None:
    assert extract_line("$500") == "no_product"
    assert extract_line("- $ 0 -") == "implausible_price"


def test_each_priced_line_of_a_message_is_an_offer() -> None:
    result = extract_offers("Today only:\nPixel 8 - $520\n$15\nMacBook Pro - $900")

    assert [o.product for o in result.offers] == ["Pixel 8", "MacBook Pro"]
    assert result.errors == ["no_product"]
    assert result.status == "extracted"
    assert extract_offers("$15").status == "error"
    assert extract_offers("hello").status == "no_offer"
    assert extract_offers(None).status == "no_offer"


@pytest.mark.parametrize(("text", "value"), [
    ("520", "520"), ("1.299", "1299"), ("1,299", "1299"), ("12,5", "12.5"), ("1.299,90", "1299.90"),
    ("1,299.90", "1299.90"), ("1,000,000.5", "1000000.5"),
])
def test_amounts_read_either_decimal_convention(text: str, value: str) -> None:
    assert parse_amount(text) == Decimal(value)


_words = st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll")), min_size=2, max_size=12)


@settings(max_examples=200, deadline=None)
@given(product=st.lists(_words, min_size=1, max_size=4).map(" ".join),
       cents=st.integers(min_value=1, max_value=99_999_999))
def test_a_formatted_offer_round_trips(product: str, cents: int) -> None:
    price = Decimal(cents) / 100
    offer = extract_line(f"{product} - ${price:,.2f}")

    assert isinstance(offer, Offer)
    assert offer.price == price.quantize(Decimal("0.01"))
    assert offer.currency == "USD"
    # Filler words ("net", "only") are dropped from names, so a product may lose one of them.
    assert set(offer.product.split()) <= set(product.split())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_extracts_without_raising(text: str) -> None:
    result = extract_offers(text)
    assert all(o.price > 0 and o.product for o in result.offers)
