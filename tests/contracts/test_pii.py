"""The obs SDK and the redaction processor apply one PII key policy: the same blocked keys, mask and limits."""

from __future__ import annotations

import pytest
import re2

from contracts import pii
from processors.redaction import rules
from processors.redaction.config import RedactionConfig
from services.obs import export
from services.obs import pii as obs_pii

KEYS = [
    "password", "db.passwd", "client_secret", "auth.token", "x-csrf-token", "authorization",
    "http.request.header.cookie",
    "signature", "api_key", "aws.access_key", "upload.file_key", "s3.key", "message.body", "msg_text", "body",
    "user.email", "phone", "id.jwt", "note.text",
    "http.route", "http.response.status_code", "room_id", "net.peer.port", "tokenizer", "keyboard",
]


def test_both_sides_read_the_contracts_values() -> None:
    config = RedactionConfig()
    assert obs_pii.REDACTED == rules.MASK == pii.MASK == "****"
    limits = (config.truncation.max_items, config.truncation.max_string_length)
    assert limits == (obs_pii.MAX_ITEMS, obs_pii.MAX_STRING)
    assert config.blocked_keys == [f"(?i){p}" for p in pii.BLOCKED_KEY_PATTERNS]
    assert tuple(config.db_sanitizer.sql.attributes) == pii.SQL_STATEMENT_KEYS
    assert export.SQL_STATEMENT_KEYS is pii.SQL_STATEMENT_KEYS


@pytest.mark.parametrize("key", KEYS)
def test_a_key_the_processor_blocks_by_default_the_sdk_masks_with_the_same_token(key: str) -> None:
    processor_blocks = any(re2.search(p, key) for p in RedactionConfig().blocked_keys)
    sdk_value = obs_pii.scrub_value(key, "hunter2-value")
    if processor_blocks:
        assert sdk_value == pii.MASK
    assert (sdk_value == pii.MASK) == (processor_blocks or any(
        re2.search(f"(?i){p}", key) for p in pii.SDK_BLOCKED_KEY_PATTERNS))


def test_the_sdk_cuts_long_strings_at_the_shared_limit_with_the_shared_mark() -> None:
    out = obs_pii.scrub_text("a" * (pii.MAX_STRING_LENGTH + 500))
    assert len(out) == pii.MAX_STRING_LENGTH and out.endswith(pii.TRUNCATION_MARK)
    assert obs_pii.scrub_text("a" * pii.MAX_STRING_LENGTH) == "a" * pii.MAX_STRING_LENGTH
