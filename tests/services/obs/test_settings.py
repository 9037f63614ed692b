"""ObsSettings reads every flag of services/obs/README.md (Configuration) from the environment, with its default."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.obs import ObsSettings

SEED_FLAGS = {
    "OBS_ENABLED": "false",
    "OBS_METRICS_PUBLIC": "true",
    "OBS_TRACING_ENABLED": "false",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://otel-collector:4317",
    "LOG_LEVEL": "warning",
    "LOG_SAMPLING_RATE_INFO": "0.25",
    "HEALTH_MIN_MIGRATION": "0009",
}


def test_defaults_are_the_seed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SEED_FLAGS:
        monkeypatch.delenv(name, raising=False)
    s = ObsSettings()
    assert (s.OBS_ENABLED, s.OBS_METRICS_PUBLIC, s.OBS_TRACING_ENABLED) == (True, False, True)
    assert (s.LOG_LEVEL, s.LOG_SAMPLING_RATE_INFO, s.HEALTH_MIN_MIGRATION) == ("INFO", 0.1, "0008")
    # Unset endpoint: the SDK exports nothing rather than retrying against a collector that is not there.
    assert s.OTEL_EXPORTER_OTLP_ENDPOINT is None and not s.exporting


def test_every_seed_flag_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SEED_FLAGS.items():
        monkeypatch.setenv(name, value)
    s = ObsSettings()
    assert s.OBS_ENABLED is False and s.OBS_METRICS_PUBLIC is True and s.OBS_TRACING_ENABLED is False
    assert s.OTEL_EXPORTER_OTLP_ENDPOINT == "grpc://otel-collector:4317"
    assert s.LOG_LEVEL == "WARNING" and s.LOG_SAMPLING_RATE_INFO == 0.25 and s.HEALTH_MIN_MIGRATION == "0009"


@pytest.mark.parametrize(("endpoint", "target"), [
    ("grpc://otel-collector:4317", ("otel-collector:4317", True)),
    ("http://127.0.0.1:4317/", ("127.0.0.1:4317", True)),
    ("https://collector.example:4317", ("collector.example:4317", False)),
    ("127.0.0.1:4317", ("127.0.0.1:4317", True)),
])
def test_endpoint_scheme_decides_plaintext(endpoint: str, target: tuple[str, bool]) -> None:
    assert ObsSettings(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint).otlp_target == target


def test_otel_sdk_disabled_turns_export_off() -> None:
    s = ObsSettings(OTEL_EXPORTER_OTLP_ENDPOINT="grpc://c:4317", OTEL_SDK_DISABLED=True)
    assert not s.enabled and not s.exporting


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("LOG_SAMPLING_RATE_INFO", 1.5, "LOG_SAMPLING_RATE_INFO"),
    ("HEALTH_MIN_MIGRATION", "latest", "HEALTH_MIN_MIGRATION"),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://c:4317", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
])
def test_bad_values_name_the_flag(field: str, value: object, fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        ObsSettings(**{field: value})
    assert fragment in str(err.value)


def test_public_metrics_are_refused_in_prod() -> None:
    with pytest.raises(ValidationError, match="OBS_METRICS_PUBLIC"):
        ObsSettings(OBS_METRICS_PUBLIC=True, ENV="prod")


def test_admin_token_is_never_shown() -> None:
    s = ObsSettings(OBS_ADMIN_TOKEN="s3cret-admin-token-value")
    assert "s3cret" not in repr(s) and "s3cret" not in str(s.model_dump())


def test_the_instrumentation_mode_is_upstream_unless_told_and_a_typo_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBS_INSTRUMENTATION", raising=False)
    assert ObsSettings().OBS_INSTRUMENTATION == "opentelemetry"
    monkeypatch.setenv("OBS_INSTRUMENTATION", "lean")
    assert ObsSettings().OBS_INSTRUMENTATION == "lean"
    monkeypatch.setenv("OBS_INSTRUMENTATION", "otel")
    with pytest.raises(ValidationError, match="OBS_INSTRUMENTATION"):
        ObsSettings()
