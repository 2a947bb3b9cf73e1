"""`caseload-bot serve --demo`: on a loopback address only, and it says what is live, then
`ready` once it listens (after the migrations and the demo's seed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.cli import main
from bot.settings import settings
from handlers import demo
from storage.db import connect
from storage.repositories import Storage
from tests.teams.test_serve import UNSET


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    database = tmp_path / "serve.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    settings.cache_clear()
    yield database
    settings.cache_clear()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_demo_refuses_a_host_others_can_reach(
    host: str,
    environment: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HOST", host)
    assert main(["serve", "--migrate", "--demo"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [
        "caseload-bot: --demo serves a page with no sign-in, so only on a loopback HOST"
        f" (127.0.0.1, ::1 or localhost), not {host}"
    ]
    assert not environment.exists(), "refused before anything was opened"


def _listen(app: web.Application, print: Callable[[str], None], **_: Any) -> None:
    """In place of `web.run_app`: start (migrate, seed), say it listens as run_app does,
    stop."""

    async def once() -> None:
        runner = web.AppRunner(app)
        await runner.setup()
        print("======== Running on http://127.0.0.1:3978 ========")
        await runner.cleanup()

    asyncio.run(once())


@pytest.mark.parametrize(
    ("host", "base"), [("127.0.0.1", "http://127.0.0.1:3978"), ("::1", "http://[::1]:3978")]
)
def test_demo_says_what_is_live_then_ready(
    host: str,
    base: str,
    environment: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HOST", host)
    monkeypatch.setattr(web, "run_app", _listen)
    assert main(["serve", "--migrate", "--demo"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"caseload-bot on {base}  (OpenAPI at /openapi.json)",
        "Slack: not configured",
        "Teams: not configured",
        f"Webhooks: {base}/webhooks/case-events",
        f"Try-out page: {base}/try",
        "ready",
    ]

    async def seeded() -> bool:
        db = connect(f"sqlite+aiosqlite:///{environment}")
        try:
            async with Storage(db).read() as uow:
                return await uow.orgs.get(demo.ORG) is not None
        finally:
            await db.dispose()

    assert asyncio.run(seeded())


def test_without_demo_the_page_is_off(
    environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(web, "run_app", _listen)
    assert main(["serve", "--migrate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["Try-out page: off (start with --demo)", "ready"]
