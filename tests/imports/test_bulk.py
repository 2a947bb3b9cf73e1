"""The import's bulk path (`apply_batch` over `apply_group`) on SQLite and PostgreSQL: the
same database as applying each event on its own, and an interrupted run (a database that
stays busy, a cancelled task) run again leaves the database of one uninterrupted run."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Row, Table, func, select

from handlers import admin, imports
from handlers.case_events import GROUP_EVENTS, apply_event
from handlers.errors import Busy, CaseloadError, NotYetKnown
from handlers.events import CaseEvent
from handlers.imports import BatchResult, apply_batch, delivery_id
from handlers.ports import Source, Transactions
from policy import PolicyError
from storage.db import Database
from storage.models import Base, BreachRow, Organisation, WebhookReceipt
from storage.repositories import Storage
from tests.conftest import BACKENDS, database
from tests.fakes import BusyAfter
from tests.handlers.world import STOKE, event, stoke_policy
from tests.imports.helpers import CancelledAfter

AT = dt.datetime(2025, 8, 6, 9, 0, tzinfo=dt.UTC)
"""When the import runs (and when its events occurred)."""
CREATED = AT - dt.timedelta(days=300)
BATCH = "files-digest"
CHUNK = 150
"""`CHUNK_EVENTS` in these tests: a few chunks, each of more than one group, from ~300 events."""

WORKERS = 24
CASES = 90


def world() -> list[CaseEvent]:
    """Teams; workers, every third an NQSW 200 days into the ASYE; cases, every fifth child
    protection and some of many children; each case led by one worker and co-worked by
    another. The NQSWs' child protection and large caseloads open breaches."""
    events = [
        event("team.upserted", {"ref": f"T-{t}", "name": f"Team {t}", "kind": "assessment"}, AT)
        for t in range(3)
    ]
    for w in range(WORKERS):
        data: dict[str, object] = {
            "ref": f"W-{w:02d}",
            "name": f"Worker {w}",
            "roles": ["nqsw"] if w % 3 == 0 else ["social_worker"],
            "team_ref": f"T-{w % 3}",
        }
        if w % 3 == 0:
            data["asye"] = {"start": (AT.date() - dt.timedelta(days=200)).isoformat()}
        events.append(event("worker.upserted", data, AT))
    for c in range(CASES):
        work_type = "child_protection" if c % 5 == 0 else "child_in_need"
        data = {"ref": f"C-{c:03d}", "work_type": work_type, "children": 1 + c % 4}
        events.append(event("case.upserted", data, AT))
    for c in range(CASES):
        for worker, role in ((c % WORKERS, "lead"), ((c + 7) % WORKERS, "co_work")):
            data = {"case_ref": f"C-{c:03d}", "worker_ref": f"W-{worker:02d}", "role": role}
            events.append(event("allocation.started", data, AT))
    return events


EVENTS = world()
REFUSED_AT = 2 * GROUP_EVENTS + 37
"""Past two whole groups, in the middle of a group and of the second chunk."""
REFUSED = event(
    "allocation.started", {"case_ref": "C-NONE", "worker_ref": "W-00", "role": "lead"}, AT
)
WITH_REFUSAL = [*EVENTS[:REFUSED_AT], REFUSED, *EVENTS[REFUSED_AT:]]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "CHUNK_EVENTS", CHUNK)


@asynccontextmanager
async def stoke(backend: str, path: Path) -> AsyncIterator[Storage]:
    """A fresh database with organisation `stoke`, created at a fixed time (so that its
    first audit row, and every hash chained to it, is the same in every database)."""
    async with database(backend, path) as db:
        storage = Storage(db)
        policy, source, text = stoke_policy()
        await admin.create_organisation(
            storage, STOKE, "Stoke", policy, source, text, "cli", CREATED
        )
        yield storage


async def one_by_one(tx: Transactions, events: Sequence[CaseEvent]) -> BatchResult:
    """The event-by-event path: `apply_event` per event, in order, at the same time, with
    the same delivery ids; stops at the first refusal."""
    result = BatchResult()
    for index, item in enumerate(events):
        try:
            applied = await apply_event(
                tx, delivery_id(STOKE, BATCH, item), item, AT, Source.IMPORT
            )
        except (CaseloadError, PolicyError) as exc:
            return dataclasses.replace(result, failed_at=index, failure=exc)
        opened = sum(1 for c in applied.breach_changes if c.change == "opened")
        result = dataclasses.replace(
            result,
            applied=result.applied + (not applied.duplicate and applied.changed),
            unchanged=result.unchanged + (not applied.duplicate and not applied.changed),
            already_imported=result.already_imported + applied.duplicate,
            breaches_opened=result.breaches_opened + opened,
            breaches_resolved=result.breaches_resolved + len(applied.breach_changes) - opened,
        )
    return result


async def snapshot(db: Database, backend: str) -> dict[str, list[str]]:
    """Every row of every table, in a stable order (as `tests.http.conftest.snapshot`), but
    for the organisation's `created_at` (the setup's clock, not the import's).

    On PostgreSQL a surrogate id is given as its rank in its table, and a reference to one
    as the rank it refers to: a sequence is not rolled back with its transaction, so the
    bulk path's retry of a group without its refused event takes new ids for the same rows
    in the same order. SQLite's ids are compared as they are.
    """
    found: dict[Table, tuple[list[Column[Any]], Sequence[Row[Any]]]] = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if c is not Organisation.__table__.c.created_at]
            found[table] = (columns, (await session.execute(select(*columns))).all())
    ranks: dict[Column[Any], dict[int, int]] = {}
    if backend == "postgresql":
        for table, (columns, rows_) in found.items():
            if "id" in table.c and table.c.id.primary_key and not table.c.id.foreign_keys:
                at = columns.index(table.c.id)
                ids = sorted(row[at] for row in rows_)
                ranks[table.c.id] = {value: rank for rank, value in enumerate(ids, 1)}

    def value(column: Column[Any], stored: Any) -> Any:
        target = next(iter(column.foreign_keys)).column if column.foreign_keys else column
        return ranks[target][stored] if target in ranks and stored is not None else stored

    return {
        table.name: sorted(
            repr(tuple(value(c, v) for c, v in zip(columns, row, strict=True))) for row in rows_
        )
        for table, (columns, rows_) in found.items()
    }


async def rows(storage: Storage, table: type[BreachRow] | type[WebhookReceipt]) -> int:
    async with storage.read() as s:
        return int(await s.session.scalar(select(func.count()).select_from(table)) or 0)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_bulk_and_event_by_event_leave_identical_databases(
    backend: str, tmp_path: Path
) -> None:
    """Every row of every table, audit rows and their hashes, breaches and outbox included."""
    async with (
        stoke(backend, tmp_path / "bulk") as bulk,
        stoke(backend, tmp_path / "single") as single,
    ):
        seen: list[tuple[int, int]] = []
        result = await apply_batch(
            bulk, STOKE, BATCH, WITH_REFUSAL, AT, lambda done, total: seen.append((done, total))
        )
        expected = await one_by_one(single, WITH_REFUSAL)
        assert isinstance(result.failure, NotYetKnown)
        assert result == dataclasses.replace(expected, failure=result.failure)
        assert result.failed_at == REFUSED_AT and result.applied == REFUSED_AT
        assert result.breaches_opened > 0
        assert await rows(bulk, BreachRow) > 0
        assert await snapshot(bulk.db, backend) == await snapshot(single.db, backend)
    total = len(WITH_REFUSAL)
    assert seen == [(0, total), (CHUNK, total)], "after each whole chunk, not the refused one"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_run_to_the_end_matches_event_by_event_and_again_is_already_imported(
    backend: str, tmp_path: Path
) -> None:
    async with (
        stoke(backend, tmp_path / "bulk") as bulk,
        stoke(backend, tmp_path / "single") as single,
    ):
        seen: list[int] = []
        result = await apply_batch(
            bulk, STOKE, BATCH, EVENTS, AT, lambda done, total: seen.append(done)
        )
        assert result == await one_by_one(single, EVENTS)
        assert result.failed_at is None and result.applied == len(EVENTS)
        assert seen == [0, CHUNK, len(EVENTS)]
        assert await snapshot(bulk.db, backend) == await snapshot(single.db, backend)
        before = await snapshot(bulk.db, backend)
        again = await apply_batch(bulk, STOKE, BATCH, EVENTS, AT + dt.timedelta(hours=1))
        assert again == BatchResult(already_imported=len(EVENTS))
        assert await snapshot(bulk.db, backend) == before


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("stop", [BusyAfter, CancelledAfter])
async def test_an_interrupted_import_run_again_leaves_the_database_of_one_run(
    backend: str, stop: type[BusyAfter], tmp_path: Path
) -> None:
    """How many events the first transactions hold is `apply_group`'s business: what is
    asserted is that the interrupted run left exactly the first events it committed, whole,
    and that running it again completes it as one run would have."""
    async with (
        stoke(backend, tmp_path / "interrupted") as interrupted,
        stoke(backend, tmp_path / "prefix") as prefix,
        stoke(backend, tmp_path / "whole") as whole,
    ):
        seen: list[int] = []
        stopped = asyncio.create_task(
            apply_batch(
                stop(interrupted, 3),
                STOKE,
                BATCH,
                EVENTS,
                AT,
                lambda done, total: seen.append(done),
            )
        )
        with pytest.raises(Busy if stop is BusyAfter else asyncio.CancelledError):
            await stopped
        committed = await rows(interrupted, WebhookReceipt)
        assert 0 < committed < len(EVENTS)
        # A busy database is told how far the run got; a cancel, the last whole chunk.
        assert seen[-1] == committed if stop is BusyAfter else seen[-1] <= committed
        # The transaction cut short left nothing behind: the database of those events alone.
        await apply_batch(prefix, STOKE, BATCH, EVENTS[:committed], AT)
        assert await snapshot(interrupted.db, backend) == await snapshot(prefix.db, backend)
        resumed = await apply_batch(interrupted, STOKE, BATCH, EVENTS, AT)
        assert resumed.already_imported == committed
        assert resumed.applied == len(EVENTS) - committed
        await apply_batch(whole, STOKE, BATCH, EVENTS, AT)
        assert await snapshot(interrupted.db, backend) == await snapshot(whole.db, backend)
