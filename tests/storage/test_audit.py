"""The audit chain: verify names the first row altered or removed in every organisation,
checkpoints kept elsewhere catch a chain cut short with its head rewound, and export
filters by date."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import delete, event, update

from handlers import admin, audit
from handlers.errors import StorageError
from handlers.ports import Checkpoint
from policy import parse_policy
from storage.audit import (
    ALTERED,
    CHECKPOINT_ALTERED,
    CHECKPOINT_MISSING,
    REMOVED,
    TAIL_REMOVED,
    UNKNOWN_ORG,
    row_hash,
)
from storage.models import AuditEntry, AuditHead
from storage.repositories import Storage
from tests.conftest import T0, TINY_POLICY


async def _append(storage: Storage, org: str, n: int) -> None:
    async with storage.write() as s:
        for i in range(n):
            record = audit.TokenCreated(token_id=i, label=f"t{i}")
            await s.audit.append(org, record, "cli", T0 + dt.timedelta(days=i))


async def _tamper(storage: Storage, *statements: object) -> None:
    async with storage.write() as s:
        for statement in statements:
            await s.session.execute(statement)  # type: ignore[call-overload]


async def _verify(
    storage: Storage, checkpoints: tuple[Checkpoint, ...] = ()
) -> list[tuple[str, int, str]]:
    problems = await admin.verify_audit(storage, checkpoints)
    return [(p.org_id, p.seq, p.problem) for p in problems]


async def _second_org(storage: Storage) -> str:
    async with storage.write() as s:
        await s.orgs.create("beta", "Beta", parse_policy(TINY_POLICY, "t.yaml"), "t", TINY_POLICY)
    await _append(storage, "beta", 3)
    return "beta"


async def test_intact_chain_verifies(storage: Storage, org: str) -> None:
    await _append(storage, org, 4)
    assert await _verify(storage) == []


async def test_altered_row_is_named(storage: Storage, org: str) -> None:
    await _append(storage, org, 4)
    await _tamper(storage, update(AuditEntry).where(AuditEntry.seq == 3).values(data='{"i":99}'))
    assert await _verify(storage) == [(org, 3, ALTERED)]


async def test_removed_row_is_named(storage: Storage, org: str) -> None:
    await _append(storage, org, 4)
    await _tamper(storage, delete(AuditEntry).where(AuditEntry.seq == 2))
    assert await _verify(storage) == [(org, 2, REMOVED)]


async def test_removed_last_rows_are_detected(storage: Storage, org: str) -> None:
    await _append(storage, org, 4)
    await _tamper(storage, delete(AuditEntry).where(AuditEntry.seq >= 3))
    assert await _verify(storage) == [(org, 3, TAIL_REMOVED)]


async def test_every_broken_organisation_is_reported(storage: Storage, org: str) -> None:
    beta = await _second_org(storage)
    await _append(storage, org, 4)
    await _tamper(
        storage,
        update(AuditEntry)
        .where(AuditEntry.org_id == org, AuditEntry.seq == 2)
        .values(actor="someone"),
        delete(AuditEntry).where(AuditEntry.org_id == beta, AuditEntry.seq == 1),
    )
    assert await _verify(storage) == [(org, 2, ALTERED), (beta, 1, REMOVED)]


async def test_truncation_with_the_head_rewound_is_caught_by_a_checkpoint(
    storage: Storage, org: str
) -> None:
    """Deleting the last rows and rewinding `audit_heads` with them leaves a chain that is
    intact in itself; only a checkpoint kept elsewhere can tell."""
    await _append(storage, org, 5)
    point = await admin.checkpoint(storage, org)
    assert (point.org, point.seq) == (org, 5)
    assert await _verify(storage, (point,)) == []
    async with storage.read() as s:
        third = [r async for r in s.audit.export(org, T0, T0 + dt.timedelta(days=9))][2]
    await _tamper(
        storage,
        delete(AuditEntry).where(AuditEntry.org_id == org, AuditEntry.seq > 3),
        update(AuditHead).where(AuditHead.org_id == org).values(seq=3, hash=third.hash),
    )
    assert await _verify(storage) == []  # the trick works without a checkpoint...
    assert await _verify(storage, (point,)) == [(org, 5, CHECKPOINT_MISSING)]  # ...not with one


async def test_a_chain_rebuilt_after_an_alteration_is_caught_by_a_checkpoint(
    storage: Storage, org: str
) -> None:
    """Altering a row and recomputing every hash after it keeps the chain consistent; the
    checkpoint's hash no longer matches."""
    await _append(storage, org, 3)
    point = await admin.checkpoint(storage, org)
    async with storage.write() as s:
        prev = "0" * 64
        rows = [r async for r in s.audit.export(org, T0, T0 + dt.timedelta(days=9))]
        for row in rows:
            data = row.data.replace("t1", "tX")
            digest = row_hash(org, row.seq, row.at, row.kind, row.actor, data, prev)
            await s.session.execute(
                update(AuditEntry)
                .where(AuditEntry.org_id == org, AuditEntry.seq == row.seq)
                .values(data=data, prev_hash=prev, hash=digest)
            )
            prev = digest
        await s.session.execute(update(AuditHead).where(AuditHead.org_id == org).values(hash=prev))
    assert await _verify(storage) == []
    assert await _verify(storage, (point,)) == [(org, 3, CHECKPOINT_ALTERED)]


async def test_checkpoints_of_several_organisations_and_an_unknown_one(
    storage: Storage, org: str
) -> None:
    beta = await _second_org(storage)
    await _append(storage, org, 2)
    points = (await admin.checkpoint(storage, org), await admin.checkpoint(storage, beta))
    stranger = Checkpoint("gamma", 1, "0" * 64, T0)
    await _append(storage, org, 2)  # the chain grows past its checkpoint: still fine
    assert await _verify(storage, points) == []
    assert await _verify(storage, (*points, stranger)) == [("gamma", 1, UNKNOWN_ORG)]


async def test_export_yields_rows_within_the_range(storage: Storage, org: str) -> None:
    await _append(storage, org, 5)
    async with storage.read() as s:
        rows = [
            r
            async for r in s.audit.export(org, T0 + dt.timedelta(days=1), T0 + dt.timedelta(days=3))
        ]
    assert [r.seq for r in rows] == [2, 3]
    assert [audit.parse_record(r.kind, r.data) for r in rows] == [
        audit.TokenCreated(token_id=1, label="t1"),
        audit.TokenCreated(token_id=2, label="t2"),
    ]


async def test_answers_recorded_together_share_commits_and_keep_the_chain(
    storage: Storage, org: str
) -> None:
    """Group commit: rows appended at once land in fewer transactions than rows, each
    caller learns its own place in the chain, and the chain verifies."""
    commits = 0

    def count(_conn: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(storage.db.engine.sync_engine, "commit", count)
    try:
        records = [audit.TokenCreated(token_id=i, label=f"t{i}") for i in range(40)]
        seqs = await asyncio.gather(*(storage.audit(org, r, "cli", T0) for r in records))
    finally:
        event.remove(storage.db.engine.sync_engine, "commit", count)
    assert sorted(seqs) == list(range(seqs[0], seqs[0] + 40)) and len(set(seqs)) == 40
    assert commits < 40
    async with storage.read() as s:
        assert await s.audit.verify() == ()
        rows = [r async for r in s.audit.export(org, T0, T0 + dt.timedelta(seconds=1))]
    by_seq = {r.seq: r for r in rows}
    for record, seq in zip(records, seqs, strict=True):
        assert f'"token_id":{record.token_id}' in by_seq[seq].data.replace(" ", "")


async def test_a_batch_that_cannot_be_written_fails_every_caller_and_keeps_nothing(
    storage: Storage, org: str
) -> None:
    record = audit.TokenCreated(token_id=1, label="x")
    results = await asyncio.gather(
        storage.audit(org, record, "cli", T0),
        storage.audit("no-such-org", record, "cli", T0),
        return_exceptions=True,
    )
    assert all(isinstance(r, StorageError) for r in results), results
    async with storage.read() as s:
        assert await s.audit.head(org) is None
