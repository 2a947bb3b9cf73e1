"""SQLite's read transactions run sqlite3 inline on the event loop: they see what writers
committed, never what a writer has yet to commit, and cannot write themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from handlers.errors import StorageError
from storage.db import Database, connect
from storage.inline_sqlite import InlineConnection
from storage.migrate import upgrade_database
from storage.repositories import Storage
from tests.conftest import T0


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite only (the inline readers are SQLite's); overrides conftest's `db`."""
    database = connect(f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}")
    await upgrade_database(database)
    yield database
    await database.dispose()


async def test_reads_are_inline(storage: Storage) -> None:
    async with storage.db.read() as session:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, InlineConnection)


async def test_a_read_sees_committed_writes_only(storage: Storage, org: str) -> None:
    async with storage.write() as w:
        await w.cases.upsert(org, "C-1", work_type="child_protection", children=2, occurred_at=T0)
        async with storage.read() as r:
            assert await r.cases.get(org, "C-1") is None
    async with storage.read() as r:
        case = await r.cases.get(org, "C-1")
    assert case is not None and case.children == 2


async def test_a_read_that_writes_is_refused(storage: Storage, org: str) -> None:
    with pytest.raises(StorageError):
        async with storage.read() as r:
            await r.cases.upsert(
                org, "C-1", work_type="child_protection", children=2, occurred_at=T0
            )
    async with storage.read() as r:
        assert await r.cases.get(org, "C-1") is None


async def test_a_kept_reader_sees_what_was_committed_since_its_last_read(
    storage: Storage, org: str
) -> None:
    async with storage.read() as r:
        assert await r.cases.get(org, "C-1") is None
    assert storage.db.idle_readers, "the reader is kept for the next read"
    async with storage.write() as w:
        await w.cases.upsert(org, "C-1", work_type="child_protection", children=2, occurred_at=T0)
    async with storage.read() as r:
        assert await r.cases.get(org, "C-1") is not None


async def test_plain_reads_and_the_session_share_one_snapshot(storage: Storage, org: str) -> None:
    async with storage.read() as r:
        assert await r.cases.get(org, "C-1") is None  # a plain read: the snapshot starts
        async with storage.write() as w:
            await w.cases.upsert(
                org, "C-1", work_type="child_protection", children=2, occurred_at=T0
            )
            await w.teams.upsert(
                org,
                "T-1",
                name="Team",
                kind="assessment",
                slack_channel_id=None,
                teams_channel_id=None,
                occurred_at=T0,
            )
        assert await r.teams.get(org, "T-1") is None  # through the session: the same snapshot
        assert await r.cases.get(org, "C-1") is None
    async with storage.read() as r:  # the same reader, kept: a new snapshot
        assert await r.teams.get(org, "T-1") is not None
        assert await r.cases.get(org, "C-1") is not None
