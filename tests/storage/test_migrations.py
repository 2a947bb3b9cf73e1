"""Migrations: they build exactly the models' schema, and applying them again is harmless."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from policy import Breach
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


async def test_0004_keeps_breaches_on_the_way_down_and_up(db: Database, org: str) -> None:
    """Down to 0003 an acknowledged breach is open again (still unresolved) and the outbox
    goes; back up from 0003 every breach is still there, on the new lifecycle."""
    storage = Storage(db)
    cap = Breach("cap", "1.2", "At most 3.", "4 children", "Move one.", ("C-1", "C-2"))
    cp = Breach("cp", "1.1", "No CP lead.", "CP lead", "Co-work it.", ("C-9",))
    async with storage.write() as s:
        nq = await s.people.ensure(org, "NQ-1")
        opened = await s.breaches.reconcile(org, nq, [cap, cp], T0)
        cap_id, cp_id = (c.id for c in opened)
        await s.breaches.acknowledge(cap_id, nq, "A plan", T0)
        await s.breaches.escalate(cap_id, 2, T0)
        await s.breaches.resolve(cp_id, nq, "Not one", T0)
        await s.supervisions.record(nq, T0.date(), T0)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0003"))
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT id, rule_id, status FROM breaches ORDER BY id"))
        assert [tuple(r) for r in rows] == [(cap_id, "cap", "open"), (cp_id, "cp", "resolved")]
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert not tables & {"outbox", "supervisions", "job_runs"}
    await upgrade_database(db)
    async with storage.write() as s:
        kept = await s.breaches.get(cap_id)
        assert kept is not None
        assert (kept.status, kept.breach, kept.plan, kept.escalated_step) == ("open", cap, None, 0)
        gone = await s.breaches.get(cp_id)
        assert gone is not None and (gone.status, gone.resolved_by) == ("resolved", None)
        assert await s.breaches.acknowledge(cap_id, nq, None, T0) is not None
        # Still the one unresolved cap breach: found again, nothing opens.
        assert await s.breaches.reconcile(org, nq, [cap], T0) == ()
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
