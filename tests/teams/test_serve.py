"""`caseload-bot serve` says at start-up what is live for Teams, beside Slack, so that whoever
starts it sees at once whether /api/messages is served and how."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.cli import main
from bot.settings import settings

PREFIX = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
AUTHENTICATED = {
    PREFIX + "CLIENTID": "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
    PREFIX + "CLIENTSECRET": "not-a-real-secret",
    PREFIX + "TENANTID": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
}
UNSET = (
    *AUTHENTICATED,
    "TEAMS_ALLOW_ANONYMOUS",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "CASE_EVENTS_SECRET",
)


def _start_and_stop(app: web.Application, **_: Any) -> None:
    """In place of `web.run_app`: the application starts (and so could serve) and stops,
    without taking a port."""

    async def once() -> None:
        runner = web.AppRunner(app)
        await runner.setup()
        await runner.cleanup()

    asyncio.run(once())


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ({}, "not configured"),
        ({"TEAMS_ALLOW_ANONYMOUS": "true"}, "anonymous (local try-out only)"),
        (AUTHENTICATED, "authenticated"),
    ],
)
def test_serve_prints_what_is_live_for_teams(
    given: dict[str, str],
    shown: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/serve.sqlite3")
    monkeypatch.setattr(web, "run_app", _start_and_stop)
    settings.cache_clear()
    try:
        assert main(["serve", "--migrate"]) == 0
    finally:
        settings.cache_clear()
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:3] == ["Slack: not configured", f"Teams: {shown}"]
