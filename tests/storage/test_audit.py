"""The audit chain: verify names the first row altered or removed; export filters by date."""

from __future__ import annotations

import datetime as dt
import io

from sqlalchemy import delete, update

from handlers.ports import AuditKind
from storage.audit import ALTERED, REMOVED, TAIL_REMOVED
from storage.models import AuditEntry
from storage.repositories import Storage
from tests.conftest import T0


async def _append(storage: Storage, org: str, n: int) -> None:
    async with storage.write() as s:
        for i in range(n):
            await s.audit.append(
                org, AuditKind.DECISION, "cli", {"i": i}, T0 + dt.timedelta(days=i)
            )


async def _tamper(storage: Storage, statement: object) -> None:
    async with storage.write() as s:
        await s.session.execute(statement)  # type: ignore[call-overload]


async def _verify(storage: Storage) -> tuple[int, str] | None:
    async with storage.read() as s:
        problem = await s.audit.verify()
    return None if problem is None else (problem.seq, problem.problem)


async def test_intact_chain_verifies(storage: Storage, org: str) -> None:
    await _append(storage, org, 4)
    assert await _verify(storage) is None


async def test_altered_row_is_named(storage: Storage, org: str) -> None:
    await _append(storage, org, 4)
    await _tamper(storage, update(AuditEntry).where(AuditEntry.seq == 3).values(data='{"i":99}'))
    assert await _verify(storage) == (3, ALTERED)


async def test_removed_row_is_named(storage: Storage, org: str) -> None:
    await _append(storage, org, 4)
    await _tamper(storage, delete(AuditEntry).where(AuditEntry.seq == 2))
    assert await _verify(storage) == (2, REMOVED)


async def test_removed_last_rows_are_detected(storage: Storage, org: str) -> None:
    await _append(storage, org, 4)
    await _tamper(storage, delete(AuditEntry).where(AuditEntry.seq >= 3))
    assert await _verify(storage) == (3, TAIL_REMOVED)


async def test_export_writes_rows_within_the_range(storage: Storage, org: str) -> None:
    await _append(storage, org, 5)
    out = io.StringIO()
    async with storage.read() as s:
        count = await s.audit.export_csv(
            org, T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=3), out
        )
    lines = out.getvalue().splitlines()
    assert count == 2 and lines[0] == "seq,at,kind,actor,data,prev_hash,hash"
    assert [line.split(",")[0] for line in lines[1:]] == ["2", "3"]
