"""testdata/config.yaml ids -> the config they build; config_invalid.yaml ids -> the key path they name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from processors.config import ConfigError, validate_component
from processors.session_health.config import SessionHealthConfig
from processors.session_health.factory import FACTORY

TESTDATA = Path(__file__).resolve().parents[3] / "processors" / "session_health" / "testdata"
VALID = yaml.safe_load((TESTDATA / "config.yaml").read_text())
INVALID = yaml.safe_load((TESTDATA / "config_invalid.yaml").read_text())


def load(cid: str, data: dict) -> SessionHealthConfig:
    return validate_component(SessionHealthConfig, data[cid], f"connectors.{cid}")  # type: ignore[return-value]


def test_empty_is_the_seed_defaults() -> None:
    cfg = load("session_health/empty", VALID)
    assert cfg == FACTORY.default_config()
    w, c = cfg.thresholds.warning, cfg.thresholds.critical
    # The warning and critical defaults listed in processors/session_health/README.md.
    assert (w.heartbeat_age_s, w.reconnect_attempts, w.credential_age_h, w.reconnect_latency_s,
            w.missed_heartbeats, w.validation_failures) == (60, 3, 24, 30, 3, 1)
    assert (c.heartbeat_age_s, c.reconnect_attempts, c.credential_age_h, c.reconnect_latency_s,
            c.missed_heartbeats, c.circuit_breaker_open, c.corruption, c.disconnected_min) == (
        300, 7, 168, 120, 10, True, True, 30)
    assert cfg.store == "memory"
    assert cfg.max_reconnect_attempts == 10
    assert (cfg.api.enabled, cfg.api.port, cfg.api.admin_token_env, cfg.api.public) == (
        True, 8890, "SESSION_HEALTH_ADMIN_TOKEN", False)


def test_full_config() -> None:
    cfg = load("session_health", VALID)
    assert cfg.thresholds.critical.disconnected_min == 45
    assert cfg.thresholds.warning == FACTORY.default_config().thresholds.warning
    assert cfg.store == "redis://127.0.0.1:6379/0"
    assert cfg.store_key_prefix == "wa_prod"
    assert (cfg.api.host, cfg.api.port) == ("0.0.0.0", 8890)
    assert cfg.evaluation_interval_s == 2
    assert cfg.session_ttl_h == 48
    assert (cfg.max_sessions, cfg.max_session_id_bytes, cfg.max_tenant_id_bytes) == (20000, 96, 64)


def test_headless() -> None:
    assert load("session_health/headless", VALID).api.enabled is False


INVALID_CASES = [
    ("session_health/critical_below_warning", "connectors.session_health/critical_below_warning.thresholds",
     "critical.heartbeat_age_s (60) is below warning.heartbeat_age_s (120)"),
    ("session_health/zero_heartbeat",
     "connectors.session_health/zero_heartbeat.thresholds.warning.heartbeat_age_s", "greater than 0"),
    ("session_health/typo", "connectors.session_health/typo.thresholds.warning.heartbet_age_s", "unknown key"),
    ("session_health/bad_store", "connectors.session_health/bad_store.store", "postgres://localhost/db"),
    ("session_health/bad_endpoint", "connectors.session_health/bad_endpoint.api.endpoint", "is not host:port"),
    ("session_health/bad_token_env", "connectors.session_health/bad_token_env.api.admin_token_env",
     "not an environment variable name"),
    ("session_health/zero_interval", "connectors.session_health/zero_interval.evaluation_interval_s",
     "greater than 0"),
    ("session_health/max_below_critical", "connectors.session_health/max_below_critical",
     "thresholds.critical.reconnect_attempts (7) is above max_reconnect_attempts (5)"),
    ("session_health/corruption_not_bool",
     "connectors.session_health/corruption_not_bool.thresholds.critical.corruption", "valid boolean"),
    ("session_health/zero_sessions", "connectors.session_health/zero_sessions.max_sessions",
     "greater than or equal to 1"),
    ("session_health/huge_session_ids", "connectors.session_health/huge_session_ids.max_session_id_bytes",
     "less than or equal to 4096"),
]


@pytest.mark.parametrize(("cid", "path", "problem"), INVALID_CASES)
def test_invalid_names_the_key(cid: str, path: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(cid, INVALID)
    assert err.value.path == path
    assert problem in err.value.problem


def test_every_invalid_case_is_tested() -> None:
    assert {case[0] for case in INVALID_CASES} == set(INVALID)
