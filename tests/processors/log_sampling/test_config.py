"""The config keys of log_sampling: testdata/config.yaml parses to what it says, and each
mistake in testdata/config_invalid.yaml fails with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from processors.config import ConfigError, validate_component
from processors.log_sampling.config import KeepRules, SamplingConfig
from processors.log_sampling.factory import FACTORY, default_config

TESTDATA = Path(__file__).resolve().parents[3] / "processors" / "log_sampling" / "testdata"


def load(name: str) -> dict:
    return yaml.safe_load((TESTDATA / name).read_text())


def build(cid: str, raw) -> SamplingConfig:
    return validate_component(SamplingConfig, raw, f"processors.{cid}")


EXPECTED = {
    "log_sampling": SamplingConfig(
        info_ratio=0.1,
        keep_severity_at_least="WARN",
        keep=KeepRules(
            event_names=["wa.session.*"],
            attributes={"audit": [True], "tenant.tier": ["gold", "platinum"]},
            services=["payments"],
        ),
        hash_seed=42,
    ),
    "log_sampling/empty": SamplingConfig(),
    "log_sampling/adaptive": SamplingConfig(
        info_ratio=1.0, per_service_budget=2000.0, rate_window_s=2.0, max_services=200,
    ),
    "log_sampling/trace_id": SamplingConfig(
        info_ratio=0.1, randomness="trace_id", fallback_key="attribute", fallback_attribute="log.id",
        weight_attribute="sample.weight", keep_severity_at_least="ERROR", unspecified_severity="WARN",
    ),
}


@pytest.mark.parametrize("cid", sorted(EXPECTED))
def test_testdata_config_parses_to_the_expected_model(cid: str) -> None:
    assert build(cid, load("config.yaml")[cid]) == EXPECTED[cid]


def test_every_testdata_id_is_checked() -> None:
    assert set(load("config.yaml")) == set(EXPECTED)


def test_empty_config_is_the_factory_default() -> None:
    assert build("log_sampling", None) == default_config() == FACTORY.default_config()
    assert default_config().info_ratio == 0.1
    assert default_config().keep_severity_at_least == "WARN"
    assert not default_config().adaptive


INVALID = {
    "log_sampling/ratio_above_one": ("info_ratio", "15"),
    "log_sampling/ratio_zero": ("info_ratio", "0"),
    "log_sampling/unknown_severity": ("keep_severity_at_least", "LOUD"),
    "log_sampling/budget_per_hour": ("per_service_budget", "100/h"),
    "log_sampling/budget_zero": ("per_service_budget", "0"),
    "log_sampling/hash_seed_negative": ("hash_seed", "-1"),
    "log_sampling/unknown_randomness": ("randomness", "span_id"),
    "log_sampling/fallback_attribute_missing": ("fallback_attribute", "required"),
    "log_sampling/unknown_key": ("keep_severity_above", "unknown key"),
    "log_sampling/keep_attribute_without_values": ("keep.attributes", "audit"),
    "log_sampling/empty_weight_attribute": ("weight_attribute", "''"),
}


@pytest.mark.parametrize("cid", sorted(INVALID))
def test_invalid_config_names_its_key_and_value(cid: str) -> None:
    key, quoted = INVALID[cid]
    with pytest.raises(ConfigError) as err:
        build(cid, load("config_invalid.yaml")[cid])
    assert err.value.path == f"processors.{cid}.{key}"
    assert quoted in str(err.value)


def test_every_invalid_id_is_checked() -> None:
    assert set(load("config_invalid.yaml")) == set(INVALID)


@pytest.mark.parametrize(("raw", "per_s"), [
    (2000, 2000.0), ("2000", 2000.0), ("2000/s", 2000.0), ("1.5/s", 1.5), ("600/min", 10.0), ("120 / m", 2.0),
])
def test_budget_accepts_a_number_or_a_rate(raw, per_s: float) -> None:
    assert build("log_sampling", {"per_service_budget": raw}).per_service_budget == per_s


@pytest.mark.parametrize(("raw", "name"), [("warning", "WARN"), ("Error", "ERROR"), ("critical", "FATAL")])
def test_severity_names_are_case_insensitive_with_common_aliases(raw: str, name: str) -> None:
    assert build("log_sampling", {"keep_severity_at_least": raw}).keep_severity_at_least == name


def test_config_is_frozen() -> None:
    cfg = SamplingConfig()
    with pytest.raises(ValueError):
        cfg.info_ratio = 0.5  # type: ignore[misc]


def test_the_readme_documents_every_key() -> None:
    readme = (TESTDATA.parent / "README.md").read_text()
    keys = list(SamplingConfig.model_fields) + [f"keep.{k}" for k in KeepRules.model_fields]
    missing = [k for k in keys if f"- `{k}` (" not in readme]
    assert not missing, f"README.md lacks a `key` (type, ...) entry for {missing}"
