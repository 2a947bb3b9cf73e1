"""The product's settings: the one place that reads the environment.

Every other module receives what it needs from `settings()`; tests build a `Settings`
directly instead of patching the environment.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.webhook_signature import WebhookSecrets


class Settings(BaseSettings):
    """Names match what other tools rely on: DATABASE_URL, HOST, PORT, CASE_EVENTS_SECRET,
    and Slack's own SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and SLACK_APP_TOKEN."""

    model_config = SettingsConfigDict(
        case_sensitive=True, extra="ignore", hide_input_in_errors=True
    )
    """An error never echoes a value: CASE_EVENTS_SECRET, DATABASE_URL and the Slack tokens
    hold secrets."""

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
    OUTBOX_LEASE_S: float = Field(default=60.0, gt=0, le=3600)
    """How long a replica holds the messages it claimed: one killed mid-send leaves them to
    another after this long (each is then sent at most twice)."""
    METRICS_TOKEN: SecretStr | None = None
    """With it, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; unset, /metrics
    is open to whoever reaches the port (it carries ids and counts, never names)."""
    LOG_FORMAT: Literal["json", "text"] = "json"
    """`caseload-bot serve`'s log lines: one JSON object each, or plain text to read locally."""

    SLACK_BOT_TOKEN: SecretStr | None = None
    """`xoxb-...`: the bot's own token, needed in either Slack mode."""
    SLACK_SIGNING_SECRET: SecretStr | None = None
    """HTTP mode: proves that a request to /slack/events comes from Slack."""
    SLACK_APP_TOKEN: SecretStr | None = None
    """Socket Mode: `xapp-...` with `connections:write`; the bot dials out, no public URL."""
    SLACK_API_URL: str = "https://slack.com/api/"
    """The Slack Web API; tests point it at their fake."""
    # Microsoft Teams, under the Microsoft 365 Agents SDK's own names (as in its samples).
    CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID: str | None = None
    """The Azure Bot's app (client) id: with it, every request to /api/messages must carry
    a token the Bot Connector signed for this app."""
    CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET: SecretStr | None = None
    CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID: str | None = None
    """The council's Microsoft Entra tenant, where the single-tenant Azure Bot lives."""
    TEAMS_ALLOW_ANONYMOUS: bool = False
    """Without a client id: accept unauthenticated requests (local try-out with the Agents
    Playground or the Bot Framework Emulator). Never in production."""

    @field_validator("CASE_EVENTS_SECRET")
    @classmethod
    def _whsec(cls, value: SecretStr | None) -> SecretStr | None:
        """A secret that cannot be decoded is refused with the setting named, not by build_app."""
        if value is not None:
            WebhookSecrets.parse([value.get_secret_value()])
        return value

    @model_validator(mode="after")
    def _slack_modes(self) -> Settings:
        """Half a Slack configuration is refused at start-up, naming what is missing."""
        bot, secret, app = self.SLACK_BOT_TOKEN, self.SLACK_SIGNING_SECRET, self.SLACK_APP_TOKEN
        if bot is None:
            for name, value in (("SLACK_SIGNING_SECRET", secret), ("SLACK_APP_TOKEN", app)):
                if value is not None:
                    raise ValueError(f"{name} is set but SLACK_BOT_TOKEN is not: set both")
            return self
        if not bot.get_secret_value().startswith("xoxb-"):
            raise ValueError("SLACK_BOT_TOKEN must be the bot token, xoxb-...")
        if app is not None and not app.get_secret_value().startswith("xapp-"):
            raise ValueError("SLACK_APP_TOKEN must be an app-level token, xapp-...")
        if secret is None and app is None:
            raise ValueError(
                "SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP mode)"
                " nor SLACK_APP_TOKEN (Socket Mode) is"
            )
        return self

    @property
    def slack_modes(self) -> tuple[Literal["HTTP", "Socket Mode"], ...]:
        """How Slack reaches the bot: none, either or both."""
        modes: list[Literal["HTTP", "Socket Mode"]] = []
        if self.SLACK_SIGNING_SECRET is not None:
            modes.append("HTTP")
        if self.SLACK_APP_TOKEN is not None:
            modes.append("Socket Mode")
        return tuple(modes)

    @model_validator(mode="after")
    def _teams(self) -> Settings:
        """Half a Teams configuration, or anonymous beside a client id, is refused."""
        if self.teams_client_id is None:
            return self
        if self.TEAMS_ALLOW_ANONYMOUS:
            raise ValueError("TEAMS_ALLOW_ANONYMOUS=true beside a client id: unset one of them")
        for name in ("CLIENTSECRET", "TENANTID"):
            if not getattr(self, f"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__{name}"):
                raise ValueError(
                    f"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__{name} is not set beside the"
                    " client id"
                )
        return self

    @property
    def teams_client_id(self) -> str | None:
        return self.CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID or None

    @property
    def teams_mode(self) -> Literal["authenticated", "anonymous"] | None:
        """How /api/messages is served; None: it is not mounted."""
        if self.teams_client_id is not None:
            return "authenticated"
        return "anonymous" if self.TEAMS_ALLOW_ANONYMOUS else None

    def teams_sdk_settings(self) -> dict[str, str]:
        """The Teams settings under the SDK's names, as its configuration loader reads them."""
        prefix = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
        out: dict[str, str] = {}
        for name in ("CLIENTID", "CLIENTSECRET", "TENANTID"):
            value = getattr(self, prefix + name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value:
                out[prefix + name] = value
        return out


@cache
def settings() -> Settings:
    """Read the environment once per process."""
    return Settings()
