"""Settings: required secrets, placeholder secrets, aliases, and secrets that never print."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.ingest.settings import IngestSettings


def test_the_ingest_token_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHATSAPP_INGEST_TOKEN", raising=False)
    with pytest.raises(ValidationError, match="WHATSAPP_INGEST_TOKEN"):
        IngestSettings()


def test_secrets_come_from_the_environment_and_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_INGEST_TOKEN", "tok-abcdef-123456")
    monkeypatch.setenv("WHATSAPP_INGEST_HMAC_SECRET", "hmac-abcdef-123456")
    s = IngestSettings()

    assert s.WHATSAPP_INGEST_TOKEN.get_secret_value() == "tok-abcdef-123456"
    assert s.WHATSAPP_HMAC_SECRET is not None and s.WHATSAPP_HMAC_SECRET.get_secret_value() == "hmac-abcdef-123456"
    assert "abcdef" not in repr(s) and "abcdef" not in str(s.model_dump())


def test_a_placeholder_secret_warns_in_dev_and_fails_elsewhere() -> None:
    with pytest.warns(UserWarning, match="WHATSAPP_INGEST_TOKEN"):
        IngestSettings(WHATSAPP_INGEST_TOKEN="changethis", ENV="dev")
    with pytest.raises(ValidationError, match="WHATSAPP_HMAC_SECRET"):
        IngestSettings(WHATSAPP_INGEST_TOKEN="fine-token-123", WHATSAPP_HMAC_SECRET="changethis", ENV="prod")


def test_blank_store_urls_mean_the_in_process_fallback() -> None:
    s = IngestSettings(WHATSAPP_INGEST_TOKEN="t", REDIS_URL=" ", DATABASE_URL="")
    assert s.REDIS_URL is None and s.DATABASE_URL is None
