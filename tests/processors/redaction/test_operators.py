"""mask, redact and hash: what stands in for a finding."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from processors.redaction.operators import HashOperator, MaskOperator, RedactOperator

KEY = b"k" * 32


def test_mask_writes_the_rules_placeholder():
    assert MaskOperator().replace("anna@example.org", "****") == "****"
    assert MaskOperator().replace("'anna'", "?") == "?"
    assert not MaskOperator.drops_entry


def test_redact_removes_the_text_and_drops_keyed_entries():
    assert RedactOperator().replace("anna@example.org", "****") == ""
    assert RedactOperator.drops_entry


def test_hash_is_hmac_sha256_of_the_normalised_form():
    expected = hmac.new(KEY, b"+4915123456789", hashlib.sha256).hexdigest()
    assert HashOperator(KEY).replace("+4915123456789", "****") == expected
    assert HashOperator(KEY).replace_bytes(b"\x08\x01", "") == hmac.new(KEY, b"\x08\x01", hashlib.sha256).hexdigest()


def test_hash_depends_on_the_key():
    assert HashOperator(KEY).replace("x", "") != HashOperator(b"j" * 32).replace("x", "")


def test_hash_refuses_a_short_key_and_never_shows_it():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        HashOperator(b"short")
    assert "k" * 32 not in repr(HashOperator(KEY))
