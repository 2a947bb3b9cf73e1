"""Database fixtures: every storage test runs on SQLite (a temp file), and on PostgreSQL
too when TEST_DATABASE_URL is set (each PostgreSQL test gets a fresh schema)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from policy import parse_policy
from storage.db import Database, connect
from storage.migrate import upgrade_database
from storage.repositories import Storage

# The test runner's own switch (set by `make test`), not a product setting.
PG_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

TINY_POLICY = """\
id: tiny
version: "1"
effective_from: 2024-01-01
name: Tiny test policy
source: {title: Test, date: "2024"}
work_types: [{id: child_in_need, name: Child in need}, {id: child_protection, name: Child protection}]
gates:
  - {id: cp, clause: "1.1", summary: "No CP lead before month 6.", applies_to: {work_types: [child_protection]}, lead: {months: 6}, override: {by: [service_manager]}}
caps:
  children: {id: cap, clause: "1.2", summary: "At most 3 children.", phases: [{max: 3}]}
escalation:
  summary: "To the team manager at once, the service manager a day later."
  ladder:
    - {step: 1, wait: {calendar_days: 0}, notify: [team_manager], clause: "1.3"}
    - {step: 2, wait: {calendar_days: 1}, notify: [service_manager], clause: "1.4"}
"""


@asynccontextmanager
async def database(
    backend: str, tmp_path: Path, revision: str | None = "head"
) -> AsyncIterator[Database]:
    """A database migrated to `revision` (None: not at all): a SQLite file in `tmp_path`, or a
    fresh PostgreSQL schema."""
    if backend == "sqlite":
        database = connect(f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}")
        if revision is not None:
            await upgrade_database(database, revision)
        yield database
        await database.dispose()
        return
    assert PG_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = connect(PG_URL)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = connect(PG_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        if revision is not None:
            await upgrade_database(database, revision)
        yield database
    finally:
        await database.dispose()
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with database(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def storage(db: Database) -> Storage:
    return Storage(db)


T0 = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.UTC)
"""A fixed event time; tests add or subtract from it to send events out of order."""


@pytest.fixture
async def org(storage: Storage) -> str:
    """Organisation `acme` on the tiny policy (a children's cap of 3, a CP lead gate)."""
    async with storage.write() as s:
        await s.orgs.create(
            "acme", "Acme Council", parse_policy(TINY_POLICY, "tiny.yaml"), "tiny.yaml", TINY_POLICY
        )
    return "acme"
