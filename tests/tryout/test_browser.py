"""The try-out page in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright without any browser download of its own) against the real app, as `serve --demo`
builds it (composition root, migrations, the demo's seed, the outbox's delivery loop), on a
temporary SQLite file and an ephemeral port.

Skipped when no chromium is installed, unless REQUIRE_BROWSER=1 (CI sets it): then a
missing browser fails the suite rather than passing it silently.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Page, async_playwright, expect

from bot.alerts import add_alerts
from bot.app import build_app
from bot.services import bootstrap
from bot.settings import Settings

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox will not start
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",  # the machine's network is closed: no calls home
    "--disable-component-update",
    "--disable-sync",
]
PATIENCE_MS = 20_000
"""Generous: two cores shared with other work."""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = (
            "no chromium on PATH (apt-get install chromium) for the try-out page's browser test"
        )
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return found


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[str]:
    """The app as `caseload-bot serve --migrate --demo` runs it; its base URL."""
    settings = Settings(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'demo.sqlite3'}")
    services = bootstrap(settings, demo=True)
    await services.migrate()
    app = build_app(services)
    add_alerts(app, services)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def page(served: str) -> AsyncIterator[Page]:
    executable = chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            page.set_default_timeout(PATIENCE_MS)
            await page.goto(f"{served}/try")
            yield page
        finally:
            await browser.close()


async def test_a_manager_checks_and_records_an_allocation_and_sees_the_breach_alert(
    page: Page,
) -> None:
    expect.set_options(timeout=PATIENCE_MS)
    await page.select_option("#person", "alex.rivers")
    await expect(page.locator("#about")).to_contain_text("Demo Manager Alex Rivers")

    await page.fill("#say-text", "/allocate C-1042 to @sam.okafor as lead")
    await page.press("#say-text", "Enter")
    verdict = page.locator("#chat .reply .headline").last
    await expect(verdict).to_have_text(
        "Allowed: Demo NQSW Sam Okafor for C-1042 (child in need) as lead"
    )

    await page.locator("#chat").get_by_role("button", name="Record allocation").click()
    await expect(page.locator("#chat .reply .headline").last).to_contain_text(
        "Recorded: Demo NQSW Sam Okafor holds C-1042"
    )

    channel = page.locator("#channel .reply .headline").first
    await expect(channel).to_have_text(
        "Breach: Demo NQSW Sam Okafor (month 2): C-2001 (Child protection) held as co-worker"
    )
    await expect(page.locator("#channel")).to_contain_text("I'm on it")
