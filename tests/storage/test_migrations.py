"""Migrations: they build exactly the models' schema, and applying them again is harmless."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from storage.db import Database
from storage.migrate import alembic_config, current, upgrade_database
from storage.models import Base
from storage.repositories import Storage
from tests.conftest import T0


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


async def test_upgrading_a_first_release_database_keeps_its_rows(db: Database) -> None:
    """0002 rebuilds `webhook_receipts` around a new key: every delivery recorded before it
    must still be recognised as a redelivery after it."""
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0001"))
    # SQLite is given the timestamps as text: Python 3.12 deprecates sqlite3's default adapter.
    naive = T0.replace(tzinfo=None)
    at = naive if db.engine.dialect.name == "postgresql" else naive.isoformat(" ")
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO organisations (id, name, policy_id, policy_version, policy_source,"
                " policy_yaml, time_zone, created_at)"
                " VALUES ('acme', 'Acme', 'tiny', '1', 't', 'x', 'Europe/London', :at)"
            ),
            {"at": at},
        )
        await conn.execute(
            text(
                "INSERT INTO webhook_receipts (webhook_id, org_id, event_type, received_at)"
                " VALUES ('msg_1', 'acme', 'case.upserted', :at)"
            ),
            {"at": at},
        )
        await conn.execute(
            text(
                "INSERT INTO api_tokens (org_id, token_sha256, label, created_at)"
                " VALUES ('acme', :digest, 'old', :at)"
            ),
            {"digest": "a" * 64, "at": at},
        )
    await upgrade_database(db)
    storage = Storage(db)
    async with storage.write() as s:
        assert not await s.receipts.record("acme", "msg_1", "case.upserted", T0)
        assert await s.receipts.record("acme", "msg_2", "case.upserted", T0)
        org = await s.orgs.get("acme")
        assert org is not None and org.name == "Acme"
        (token,) = await s.tokens.of_org("acme")
        assert (token.label, token.last_used_at) == ("old", None)
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
