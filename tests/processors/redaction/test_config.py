"""The redaction config: testdata IDs map to the expected models, the empty ID
is the defaults, and every invalid ID fails naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from processors.config import ConfigError, expand_env, validate_component
from processors.redaction.config import DEFAULT_BLOCKED_KEYS, RedactionConfig
from processors.redaction.factory import FACTORY, default_config

TESTDATA = Path(__file__).resolve().parents[3] / "processors" / "redaction" / "testdata"
HMAC_KEY = "0123456789abcdef-test-key"


def load(name: str, environ: dict[str, str] | None = None) -> dict:
    data = yaml.safe_load((TESTDATA / name).read_text())
    return expand_env(data, environ=environ or {"REDACTION_HMAC_KEY": HMAC_KEY})["processors"]


def build(component_id: str, raw) -> RedactionConfig:
    return validate_component(RedactionConfig, raw, f"processors.{component_id}")


def test_full_config_reads_every_key():
    cfg = build("redaction", load("config.yaml")["redaction"])
    assert cfg.ignored_keys == ["server.address", "net.host.ip"]
    assert cfg.blocked_values == ["cust-[0-9]{8}"]
    assert cfg.operators == {"email": "hash", "phone": "hash", "ip": "hash"}
    assert cfg.operator_for("email") == "hash"
    assert cfg.operator_for("credit_card") == "mask"
    assert cfg.operator_for("geo") == "round"
    assert cfg.hash_key.get_secret_value() == HMAC_KEY
    assert HMAC_KEY not in repr(cfg) and HMAC_KEY not in str(cfg.model_dump())
    assert cfg.truncation.max_string_length == 2048
    assert cfg.url_sanitizer.attributes == ["url.full", "http.url", "url.query", "http.target"]
    assert cfg.db_sanitizer.sql.attributes == ["db.statement", "db.query.text"]
    assert (cfg.summary, cfg.cache_size) == ("info", 8192)


def test_empty_equals_defaults():
    cfg = build("redaction/empty", load("config.yaml")["redaction/empty"])
    assert cfg == default_config() == FACTORY.default_config()
    assert cfg.allow_all_keys is True and cfg.allowed_keys == []
    assert cfg.blocked_keys == list(DEFAULT_BLOCKED_KEYS)
    assert cfg.detectors == ["jwt", "api_key", "email", "phone", "credit_card", "iban", "ip", "geo"]
    assert (cfg.operator, cfg.summary, cfg.hash_key) == ("mask", "silent", None)
    assert (cfg.truncation.max_items, cfg.truncation.max_string_length) == (10, 4096)


def test_allowlist_mode():
    cfg = build("redaction/allowlist", load("config.yaml")["redaction/allowlist"])
    assert cfg.allow_all_keys is False
    assert "user.email" in cfg.allowed_keys


def test_hash_key_from_an_unset_variable_fails_naming_it():
    data = yaml.safe_load((TESTDATA / "config.yaml").read_text())
    with pytest.raises(ConfigError, match="REDACTION_HMAC_KEY is not set") as err:
        expand_env(data, environ={})
    assert err.value.path == "processors.redaction.hash_key"


def test_numeric_key_from_the_environment_is_still_a_key():
    raw = expand_env({"operator": "hash", "hash_key": "${env:K}"}, environ={"K": "12345678901234567890"})
    assert build("redaction", raw).hash_key.get_secret_value() == "12345678901234567890"


INVALID = {
    "redaction/unknown_key": ("blocked_key", "unknown key"),
    # hash_key is checked on the whole mapping, so that the error never quotes the key.
    "redaction/hash_without_key": ("", "hash_key: required when an operator is hash"),
    "redaction/short_hash_key": ("", "hash_key: must be at least 16 bytes"),
    "redaction/bad_regex": ("blocked_values.0", "not a valid RE2 regex"),
    "redaction/non_ascii_pattern": ("blocked_keys.1", "must be ASCII"),
    "redaction/unknown_detector": ("detectors.1", "Input should be"),
    "redaction/duplicate_detector": ("detectors", "email listed more than once"),
    "redaction/unknown_operator": ("operators.email", "Input should be 'mask', 'redact' or 'hash'"),
    "redaction/bad_summary": ("summary", "Input should be 'debug', 'info' or 'silent'"),
    "redaction/allowed_keys_without_mode": ("allowed_keys", "allow_all_keys"),
    "redaction/bad_geo_precision": ("geo_precision", "less than or equal to 6"),
    "redaction/short_string_limit": ("truncation.max_string_length", "too short"),
    "redaction/negative_max_items": ("truncation.max_items", "greater than or equal to 0"),
}


def test_every_invalid_case_is_covered():
    assert set(load("config_invalid.yaml")) == set(INVALID)


@pytest.mark.parametrize("component_id", sorted(INVALID))
def test_invalid_config_names_its_key(component_id):
    key, problem = INVALID[component_id]
    raw = load("config_invalid.yaml")[component_id]
    with pytest.raises(ConfigError) as err:
        build(component_id, raw)
    assert err.value.path == ".".join(p for p in (f"processors.{component_id}", key) if p)
    assert problem in err.value.problem
    assert "tooshort" not in str(err.value)  # a rejected key is not echoed back


def test_taint_and_free_text_sql_defaults():
    cfg = build("redaction", {})
    assert (cfg.taint.enabled, cfg.taint.scope, cfg.taint.min_length) == (True, "record", 6)
    assert cfg.db_sanitizer.sql.free_text is True
    cfg = build("redaction", {"taint": {"scope": "request", "min_length": 8},
                              "db_sanitizer": {"sql": {"free_text": False}}})
    assert (cfg.taint.scope, cfg.taint.min_length, cfg.db_sanitizer.sql.free_text) == ("request", 8, False)


@pytest.mark.parametrize(("raw", "key", "problem"), [
    ({"taint": {"scope": "tenant"}}, "taint.scope", "Input should be 'record' or 'request'"),
    ({"taint": {"min_length": 2}}, "taint.min_length", "greater than or equal to 4"),
    ({"taint": {"spread": True}}, "taint.spread", "unknown key"),
    ({"db_sanitizer": {"sql": {"free_text": "sometimes"}}}, "db_sanitizer.sql.free_text", "valid boolean"),
])
def test_invalid_taint_and_sql_keys_are_named(raw, key, problem):
    with pytest.raises(ConfigError) as err:
        build("redaction", raw)
    assert err.value.path == f"processors.redaction.{key}"
    assert problem in err.value.problem
