"""The test-only fault injection of the services: off unless switched on, refused in prod, bad values
named by their variable, and when on, the delay and error rate it promises (health probes untouched)."""

from __future__ import annotations

import logging
import time

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.common import faults
from services.divan.app import create_app
from services.divan.settings import Settings

ON = {"OTELPIPE_FAULTS_ENABLED": "true"}


def test_off_by_default_and_values_without_the_switch_are_ignored_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    assert faults.settings_from_env({}) is None
    with caplog.at_level(logging.WARNING, logger="services.common.faults"):
        assert faults.settings_from_env({"OTELPIPE_FAULT_ERROR_RATE": "0.5"}) is None
    assert "OTELPIPE_FAULTS_ENABLED is not true" in caplog.text and "OTELPIPE_FAULT_ERROR_RATE" in caplog.text
    assert faults.settings_from_env({**ON}) is None  # switched on, nothing to inject


def test_refused_in_prod_and_bad_values_name_their_variable() -> None:
    with pytest.raises(ValueError, match="refused with ENV=prod"):
        faults.settings_from_env({**ON, "ENV": "prod", "OTELPIPE_FAULT_DELAY_MS": "10"})
    with pytest.raises(ValueError, match="^OTELPIPE_FAULT_ERROR_RATE: "):
        faults.settings_from_env({**ON, "OTELPIPE_FAULT_ERROR_RATE": "1.5"})
    with pytest.raises(ValueError, match="^OTELPIPE_FAULT_ERROR_STATUS: "):
        faults.settings_from_env({**ON, "OTELPIPE_FAULT_ERROR_RATE": "0.1", "OTELPIPE_FAULT_ERROR_STATUS": "404"})


def _divan(monkeypatch: pytest.MonkeyPatch, **env: str) -> FastAPI:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return create_app(Settings(JWT_SECRET="j" * 40, OTEL_SDK_DISABLED=True, ENV="test"))


def test_a_service_built_with_faults_on_fails_and_delays_requests_but_not_its_probes(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="services.common.faults"):
        app = _divan(monkeypatch, **ON, OTELPIPE_FAULT_ERROR_RATE="1", OTELPIPE_FAULT_ERROR_STATUS="503",
                     OTELPIPE_FAULT_DELAY_MS="120")
    assert "FAULT INJECTION ON" in caplog.text
    with TestClient(app) as client:
        started = time.perf_counter()
        resp = client.get("/leaderboard/daily")
        assert time.perf_counter() - started >= 0.12
        assert resp.status_code == 503 and resp.json() == {"detail": "injected fault"}
        assert client.get("/health/live").status_code == 200


def test_a_service_built_without_the_switch_serves_normally(monkeypatch: pytest.MonkeyPatch) -> None:
    app = _divan(monkeypatch, OTELPIPE_FAULT_ERROR_RATE="1")
    with TestClient(app) as client:
        assert client.get("/chat/unread").status_code == 401  # the route itself answered: no token
