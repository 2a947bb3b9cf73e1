"""The product's settings: the one place that reads the environment.

Every other module receives what it needs from `settings()`; tests build a `Settings`
directly instead of patching the environment.
"""

from __future__ import annotations

from functools import cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.webhook_signature import WebhookSecrets


class Settings(BaseSettings):
    """Names match what other tools rely on: DATABASE_URL, HOST, PORT, CASE_EVENTS_SECRET."""

    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", hide_input_in_errors=True
    )
    """An error never echoes a value: CASE_EVENTS_SECRET and DATABASE_URL hold secrets."""

    DATABASE_URL: str = "sqlite+aiosqlite:///var/caseload-bot.sqlite3"
    """Relative SQLite paths are relative to the working directory; `var/` is created on use."""
    HOST: str = "127.0.0.1"
    PORT: int = Field(default=3978, ge=1, le=65535)
    CASE_EVENTS_SECRET: SecretStr | None = None
    """The Standard Webhooks secret (`whsec_...`) the case-management system signs with."""
    DB_BUSY_TIMEOUT_MS: int = Field(default=5000, ge=0)
    """How long a SQLite writer waits for another writer before giving up."""
    BODY_READ_TIMEOUT_S: float = Field(default=10.0, gt=0)
    """How long a client may take to send a request body: a slow or stalled sender would
    otherwise hold its connection (and a file descriptor) for as long as it likes."""

    @field_validator("CASE_EVENTS_SECRET")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        """A secret that cannot be decoded is refused with the setting named, not by build_app."""
        if value is not None:
            WebhookSecrets.parse([value.get_secret_value()])
        return value


@cache
def settings() -> Settings:
    """Read the environment once per process."""
    return Settings()
