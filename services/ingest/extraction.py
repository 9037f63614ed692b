"""Offer extraction: the product and price of each line of a WhatsApp message.

A deliberately small parser (no model): a price needs a currency marker
(``$520``, ``R$ 1.299,90``, ``99 EUR``), so that ``128GB`` or ``Pixel 8`` are
never read as prices. The product is what remains of the line once the price,
quantity and filler words ("selling", "net", "each") are taken out.

A line with a price but no product name, or with an implausible price, is an
extraction error; a message with no price at all is simply not an offer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

_CURRENCY_SYMBOLS = {"$": "USD", "US$": "USD", "R$": "BRL", "€": "EUR", "£": "GBP", "₹": "INR", "¥": "JPY"}
_CURRENCY_CODES = ("USD", "EUR", "GBP", "BRL", "INR", "JPY", "AED", "ZAR", "CAD", "AUD", "MXN")
_AMOUNT = r"\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_SYMBOL = r"US\$|R\$|[$€£₹¥]"
_CODE = "|".join(_CURRENCY_CODES)

# Currency before the amount ("$520", "USD 99") or after it ("99 EUR", "45€").
_PRICE_RE = re.compile(
    rf"(?:(?P<pre>{_SYMBOL}|\b(?:{_CODE})\b)\s?(?P<amount1>{_AMOUNT}))"
    rf"|(?:(?P<amount2>{_AMOUNT})\s?(?P<post>{_SYMBOL}|\b(?:{_CODE})\b))",
    re.IGNORECASE,
)
_QUANTITY_RE = re.compile(r"\b(?:x\s?(?P<q1>\d{1,5})|(?P<q2>\d{1,5})\s?(?:x|pcs|units?|un)\b)", re.IGNORECASE)
_FILLER_RE = re.compile(
    r"\b(?:selling|for sale|wts|vendo|offer|price|only|net|each|ea|per unit|ono|obo|firm)\b:?", re.IGNORECASE
)
_EDGE_PUNCT = " \t-–—:|,;/@*•·()[]"
_MAX_PRICE = Decimal("1000000000")


@dataclass(frozen=True)
class Offer:
    product: str
    price: Decimal
    currency: str
    quantity: int | None = None


@dataclass
class Extraction:
    offers: list[Offer] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``extracted`` (at least one offer), ``error`` (priced lines, none usable) or ``no_offer``."""
        if self.offers:
            return "extracted"
        return "error" if self.errors else "no_offer"


def parse_amount(text: str) -> Decimal | None:
    """``1.299,90`` → 1299.90, ``1,299.90`` → 1299.90, ``520`` → 520, ``12,5`` → 12.5."""
    cleaned = re.sub(r"\s", "", text)
    last_dot, last_comma = cleaned.rfind("."), cleaned.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        decimal_sep = "." if last_dot > last_comma else ","
        thousands = "," if decimal_sep == "." else "."
        cleaned = cleaned.replace(thousands, "").replace(decimal_sep, ".")
    elif last_dot >= 0 or last_comma >= 0:
        sep = "." if last_dot >= 0 else ","
        head, _, tail = cleaned.rpartition(sep)
        # One separator followed by exactly three digits groups thousands ("1.299"); otherwise it is decimal.
        if len(tail) == 3 and cleaned.count(sep) >= 1:
            cleaned = cleaned.replace(sep, "")
        else:
            cleaned = head.replace(sep, "") + "." + tail
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def _currency(match: re.Match[str]) -> str:
    marker = (match.group("pre") or match.group("post") or "").upper()
    return _CURRENCY_SYMBOLS.get(marker, marker)


def _product_name(line: str) -> str:
    name = _FILLER_RE.sub(" ", line)
    name = re.sub(r"\s+", " ", name).strip(_EDGE_PUNCT)
    return name


def extract_line(line: str) -> Offer | str | None:
    """An Offer, an error reason, or None when the line carries no price."""
    match = _PRICE_RE.search(line)
    if match is None:
        return None
    amount = parse_amount(match.group("amount1") or match.group("amount2") or "")
    if amount is None or amount <= 0 or amount >= _MAX_PRICE:
        return "implausible_price"
    rest = line[: match.start()] + " " + line[match.end() :]
    quantity = None
    if (qmatch := _QUANTITY_RE.search(rest)) is not None:
        quantity = int(qmatch.group("q1") or qmatch.group("q2"))
        rest = rest[: qmatch.start()] + " " + rest[qmatch.end() :]
    product = _product_name(rest)
    if not any(ch.isalpha() for ch in product):
        return "no_product"
    return Offer(product=product[:256], price=amount.quantize(Decimal("0.01")), currency=_currency(match),
                 quantity=quantity)


def extract_offers(text: str | None) -> Extraction:
    """Every offer in a message, one per priced line."""
    result = Extraction()
    for line in (text or "").splitlines():
        outcome = extract_line(line)
        if isinstance(outcome, Offer):
            result.offers.append(outcome)
        elif isinstance(outcome, str):
            result.errors.append(outcome)
    return result
