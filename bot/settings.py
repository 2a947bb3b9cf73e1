"""The product's settings: the one place that reads the environment.

Every other module receives what it needs from `settings()`; tests build a `Settings`
directly instead of patching the environment.
"""

from __future__ import annotations

from functools import cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Names match what other tools rely on: DATABASE_URL, HOST, PORT, CASE_EVENTS_SECRET."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

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
        if value is not None and not value.get_secret_value().startswith("whsec_"):
            raise ValueError("must start with whsec_ (a Standard Webhooks secret)")
        return value


@cache
def settings() -> Settings:
    """Read the environment once per process."""
    return Settings()
