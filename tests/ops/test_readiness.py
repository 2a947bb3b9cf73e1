"""/healthz says the process answers; /readyz that the database answers and is migrated to
this release's head, and otherwise why not, in one short JSON line (never a traceback). On
SQLite and PostgreSQL; an unreachable database on a port nothing listens on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bot.app import build_app
from bot.services import bootstrap
from bot.settings import Settings
from storage.db import Database
from storage.migrate import head, upgrade_database
from tests.conftest import BACKENDS, database
from tests.http.conftest import Api
from tests.ops.helpers import scrape, value

UNREACHABLE = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
"""Port 1: nothing listens there, so every connection is refused at once."""


@asynccontextmanager
async def serving(db: Database) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(build_app(bootstrap(Settings(), database=db)))) as client:
        yield client


async def test_a_migrated_database_is_ready(api: Api) -> None:
    alive = await api.client.get("/healthz")
    assert alive.status == 200 and await alive.json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ready", "migration": head()}
    assert ready.headers["X-Request-Id"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("revision", "shown"), [(None, "none"), ("0003", "0003")])
async def test_behind_is_503_naming_both_revisions_until_migrated(
    backend: str, revision: str | None, shown: str, tmp_path: Path
) -> None:
    async with database(backend, tmp_path, revision) as db, serving(db) as client:
        response = await client.get("/readyz")
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
        assert await response.json() == {
            "error": "not_ready",
            "message": f"migrations behind: at {shown}, need {head()}",
        }
        alive = await client.get("/healthz")  # alive all the same: no restart needed
        assert alive.status == 200
        await upgrade_database(db)
        response = await client.get("/readyz")
        assert response.status == 200, await response.text()


async def test_a_database_a_newer_release_migrated_is_not_ready(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    async with serving(db) as client:
        response = await client.get("/readyz")
        assert response.status == 503
        assert (await response.json())["message"] == (
            f"migrations ahead: at 9999, this release knows {head()}"
        )


async def test_an_unreachable_database_is_503_and_metrics_still_answer() -> None:
    services = bootstrap(Settings(DATABASE_URL=UNREACHABLE))
    async with TestClient(TestServer(build_app(services))) as client:
        alive = await client.get("/healthz")
        assert alive.status == 200
        response = await client.get("/readyz")
        body = await response.text()
        assert response.status == 503
        assert response.content_type == "application/json"
        assert await response.json() == {"error": "not_ready", "message": "database unreachable"}
        assert "Traceback" not in body
        samples = await scrape(client)
        assert value(samples, "caseload_database_up") == 0
        assert value(samples, "caseload_outbox_pending") is None
        assert value(samples, "process_cpu_seconds_total") is not None
