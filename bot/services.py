"""What the routes share: built once by the composition root (`bot.app.build_app`)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.settings import Settings
from bot.webhook_signature import WebhookSecrets
from storage.repositories import Storage


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    storage: Storage
    webhook_secrets: WebhookSecrets | None
    """What the case system signs with; None until CASE_EVENTS_SECRET is set."""


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
"""Set on every request; carried in the answer's X-Request-Id and in the logs."""
