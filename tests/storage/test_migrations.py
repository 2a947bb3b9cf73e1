"""Migrations: they build exactly the models' schema, and applying them again is harmless."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.migrate import current, upgrade_database
from storage.models import Base


def _diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def test_migrations_match_the_models(db: Database) -> None:
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert set(Base.metadata.tables) <= tables


async def test_upgrade_is_idempotent(db: Database) -> None:
    head = await current(db)
    await upgrade_database(db)
    assert head is not None and await current(db) == head


async def test_no_column_can_hold_a_childs_identity(db: Database) -> None:
    names = {c.name for t in Base.metadata.tables.values() for c in t.columns}
    assert not names & {"child_name", "address", "date_of_birth", "dob", "notes", "description"}
