"""Settings: documented defaults, and a webhook secret must be one (never echoed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.settings import Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "HOST", "PORT", "CASE_EVENTS_SECRET", "BODY_READ_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)
    s = Settings()
    assert s.DATABASE_URL == "sqlite+aiosqlite:///var/caseload-bot.sqlite3"
    assert (s.HOST, s.PORT, s.CASE_EVENTS_SECRET) == ("127.0.0.1", 3978, None)
    assert s.BODY_READ_TIMEOUT_S == 10


def test_environment_is_read_and_secret_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("CASE_EVENTS_SECRET", "whsec_c2VjcmV0")
    s = Settings()
    assert s.PORT == 8080 and s.CASE_EVENTS_SECRET is not None
    assert "c2VjcmV0" not in repr(s)
    monkeypatch.setenv("CASE_EVENTS_SECRET", "plain")
    with pytest.raises(ValidationError, match="whsec_"):
        Settings()


@pytest.mark.parametrize("secret", ["whsec_not/base64!", "whsec_c2VjcmV0c"])
def test_a_webhook_secret_that_does_not_decode_is_refused_unechoed(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("CASE_EVENTS_SECRET", secret)
    with pytest.raises(ValidationError, match="base64") as refused:
        Settings()
    assert "CASE_EVENTS_SECRET" in str(refused.value)
    assert secret not in str(refused.value)


def test_body_read_timeout_is_read_and_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BODY_READ_TIMEOUT_S", "2.5")
    assert Settings().BODY_READ_TIMEOUT_S == 2.5
    monkeypatch.setenv("BODY_READ_TIMEOUT_S", "0")
    with pytest.raises(ValidationError, match="BODY_READ_TIMEOUT_S"):
        Settings()
