"""The append-only audit log: one hash chain per organisation.

Each row stores the previous row's hash and its own hash over its canonical JSON content;
`audit_heads` remembers the last row, so removing rows at the end is detected too.
Appends lock the head row, so concurrent writers cannot fork a chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.audit import AuditRecord, JsonValue
from handlers.ports import AuditRow, ChainProblem, Checkpoint
from storage.inline_sqlite import Prepared, Statement
from storage.models import AuditEntry, AuditHead, Organisation
from storage.plain import plain_rows, plain_run, plain_run_many

GENESIS = "0" * 64


def canonical(value: JsonValue) -> str:
    """The one JSON spelling that is hashed: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(
    org_id: str, seq: int, at: dt.datetime, kind: str, actor: str, data: str, prev_hash: str
) -> str:
    content = canonical(
        {
            "org": org_id,
            "seq": seq,
            "at": at.astimezone(dt.UTC).isoformat(),
            "kind": kind,
            "actor": actor,
            "data": data,
            "prev": prev_hash,
        }
    )
    return hashlib.sha256(content.encode()).hexdigest()


ALTERED = "its content no longer matches its hash (altered)"
RELINKED = "it does not follow the row before it (a row before it was altered or removed)"
REMOVED = "the row is missing (removed)"
TAIL_REMOVED = "the chain ends early: the last row(s) were removed"
HEAD_ALTERED = "the last row does not match the recorded chain head (altered)"
HEAD_MISSING = "the recorded chain head was removed"
CHECKPOINT_MISSING = "the chain no longer reaches this checkpoint: rows at its end were removed"
CHECKPOINT_ALTERED = "this row no longer has the hash its checkpoint recorded (altered)"
UNKNOWN_ORG = "the checkpoint names an organisation that has no audit log here"

_HEADS, _ENTRIES = cast(Table, AuditHead.__table__), cast(Table, AuditEntry.__table__)
_heads = _HEADS.c

_HEAD_LOCKED = (
    select(_heads.seq, _heads.hash).where(_heads.org_id == bindparam("org_id")).with_for_update()
)
_MOVE_HEAD = update(_HEADS).where(_heads.org_id == bindparam("w_org"))
_NEW_HEAD, _NEW_ENTRIES = insert(_HEADS), insert(_ENTRIES)
_MOVE_AND_APPEND_PG = text(
    "WITH moved AS (UPDATE audit_heads SET seq = :seq, hash = :hash WHERE org_id = :w_org)"
    " INSERT INTO audit_log (org_id, seq, at, kind, actor, data, prev_hash, hash)"
    " SELECT * FROM unnest(CAST(:org_id AS VARCHAR[]), CAST(:seqs AS INTEGER[]),"
    " CAST(:at AS TIMESTAMPTZ[]), CAST(:kind AS VARCHAR[]), CAST(:actor AS VARCHAR[]),"
    " CAST(:data AS TEXT[]), CAST(:prev_hash AS VARCHAR[]), CAST(:hashes AS VARCHAR[]))"
)
"""The head moved and the rows after it inserted in one round trip (PostgreSQL)."""
_ENTRY_KEYS = ("org_id", "at", "kind", "actor", "data", "prev_hash")

Appending = tuple[str, AuditRecord, str, dt.datetime]
"""One row to append: organisation, record, actor, time."""


def _by_org(rows: Sequence[Appending]) -> dict[str, list[int]]:
    by_org: dict[str, list[int]] = {}
    for i, (org_id, *_) in enumerate(rows):
        by_org.setdefault(org_id, []).append(i)
    return by_org


@dataclass(frozen=True, slots=True)
class _Link:
    seqs: list[int]
    entries: list[dict[str, Any]]
    last: str
    """The new head's hash."""


def _link(
    org_id: str, head: tuple[int, str] | None, rows: Sequence[Appending], indices: list[int]
) -> _Link:
    """The chain's next rows for `rows[i]` of one organisation, after `head` (seq, hash)."""
    seq, prev = (0, GENESIS) if head is None else head
    seqs, entries = [], []
    for i in indices:
        _, record, actor, at = rows[i]
        seq, text = seq + 1, canonical(record.data())
        kind = record.kind.value
        digest = row_hash(org_id, seq, at, kind, actor, text, prev)
        entries.append(
            {
                "org_id": org_id,
                "seq": seq,
                "at": at,
                "kind": kind,
                "actor": actor,
                "data": text,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        seqs.append(seq)
        prev = digest
    return _Link(seqs, entries, prev)


class SqliteAppender:
    """The group commit's rows on a SQLite file, as one synchronous call in a write
    transaction of `storage.db.SqliteWriter` (whose write lock keeps the chain whole). The
    statements are the session path's own, compiled once, with SQLAlchemy's bind processors."""

    def __init__(self, dialect: Dialect) -> None:
        self._head = Prepared(
            select(_heads.seq, _heads.hash).where(_heads.org_id == bindparam("org_id")), dialect
        )
        keys = ["org_id", "seq", "hash"]
        self._new_head = Statement(insert(_HEADS), dialect, keys)
        self._move_head = Statement(
            update(_HEADS).where(_heads.org_id == bindparam("head_org")), dialect, ["seq", "hash"]
        )
        entry_keys = ["org_id", "seq", "at", "kind", "actor", "data", "prev_hash", "hash"]
        self._entries = Statement(insert(_ENTRIES), dialect, entry_keys)

    def append_many(self, conn: sqlite3.Connection, rows: Sequence[Appending]) -> list[int]:
        """In a write transaction that the caller (`storage.db.SqliteWriter`) has begun."""
        seqs = [0] * len(rows)
        for org_id, indices in _by_org(rows).items():
            found = self._head.rows(conn, {"org_id": org_id})
            head = (found[0].seq, found[0].hash) if found else None
            link = _link(org_id, head, rows, indices)
            for i, seq in zip(indices, link.seqs, strict=True):
                seqs[i] = seq
            moved = {"org_id": org_id, "head_org": org_id, "seq": link.seqs[-1]}
            moved["hash"] = link.last
            (self._new_head if head is None else self._move_head).run(conn, [moved])
            self._entries.run(conn, link.entries)
        return seqs


class AuditLog:
    """Repository of the audit chain, bound to one session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._pending: list[Appending] = []

    async def append(self, org_id: str, record: AuditRecord, actor: str, at: dt.datetime) -> None:
        self._pending.append((org_id, record, actor, at))

    async def flush(self) -> None:
        """Write what `append` was given: before the transaction commits, and before the
        chain is read in it."""
        if self._pending:
            rows, self._pending = self._pending, []
            await self.append_many(rows)

    async def append_many(self, rows: Sequence[Appending]) -> list[int]:
        """Each row's sequence number, in order: per organisation, the head is locked and
        moved once, and its rows are inserted in one statement (no ORM flush)."""
        seqs = [0] * len(rows)
        for org_id, indices in _by_org(rows).items():
            found = await plain_rows(self._session, _HEAD_LOCKED, org_id=org_id)
            head = (found[0].seq, found[0].hash) if found else None
            link = _link(org_id, head, rows, indices)
            for i, seq in zip(indices, link.seqs, strict=True):
                seqs[i] = seq
            moved = {"seq": link.seqs[-1], "hash": link.last}
            if head is not None and self._session.get_bind().dialect.name == "postgresql":
                columns = {key: [e[key] for e in link.entries] for key in _ENTRY_KEYS}
                columns |= {"seqs": link.seqs, "hashes": [e["hash"] for e in link.entries]}
                await plain_run(
                    self._session, _MOVE_AND_APPEND_PG, {"w_org": org_id, **moved, **columns}
                )
                continue
            if head is None:
                await plain_run(self._session, _NEW_HEAD, {"org_id": org_id, **moved})
            else:
                await plain_run(self._session, _MOVE_HEAD, {"w_org": org_id, **moved})
            await plain_run_many(self._session, _NEW_ENTRIES, link.entries)
        return seqs

    async def head(self, org_id: str) -> Checkpoint | None:
        await self.flush()
        row = await self._session.scalar(
            select(AuditEntry)
            .where(AuditEntry.org_id == org_id)
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        )
        return None if row is None else Checkpoint(org_id, row.seq, row.hash, row.at)

    async def verify(self, checkpoints: Sequence[Checkpoint] = ()) -> tuple[ChainProblem, ...]:
        """Walk every organisation's chain (every organisation has one from its creation),
        reporting the first break in each, and each checkpoint the chain no longer holds."""
        await self.flush()
        heads = {h.org_id: h for h in await self._session.scalars(select(AuditHead))}
        orgs = sorted(
            set(heads)
            | set(await self._session.scalars(select(Organisation.id)))
            | set(await self._session.scalars(select(AuditEntry.org_id).distinct()))
        )
        problems: list[ChainProblem] = []
        for org_id in orgs:
            mine = [c for c in checkpoints if c.org == org_id]
            problems += await self._verify_org(org_id, heads.get(org_id), mine)
        problems += [
            ChainProblem(c.org, c.seq, UNKNOWN_ORG) for c in checkpoints if c.org not in orgs
        ]
        return tuple(problems)

    async def _verify_org(
        self, org_id: str, head: AuditHead | None, checkpoints: list[Checkpoint]
    ) -> list[ChainProblem]:
        wanted = {c.seq: c.hash for c in checkpoints}
        problems: list[ChainProblem] = []
        expected_seq, prev = 1, GENESIS
        broken: ChainProblem | None = None
        async for row in self._rows(org_id):
            if row.seq in wanted and wanted.pop(row.seq) != row.hash:
                problems.append(ChainProblem(org_id, row.seq, CHECKPOINT_ALTERED))
            if broken is not None:
                continue
            if row.seq != expected_seq:
                broken = ChainProblem(org_id, expected_seq, REMOVED)
            elif row.prev_hash != prev:
                broken = ChainProblem(org_id, row.seq, RELINKED)
            elif (
                row_hash(org_id, row.seq, row.at, row.kind, row.actor, row.data, row.prev_hash)
                != row.hash
            ):
                broken = ChainProblem(org_id, row.seq, ALTERED)
            else:
                expected_seq, prev = row.seq + 1, row.hash
        problems += [ChainProblem(org_id, seq, CHECKPOINT_MISSING) for seq in sorted(wanted)]
        if broken is None:
            broken = _head_problem(org_id, head, expected_seq - 1, prev)
        return ([broken] if broken is not None else []) + problems

    async def _rows(
        self, org_id: str, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> AsyncIterator[AuditEntry]:
        await self.flush()
        query = select(AuditEntry).where(AuditEntry.org_id == org_id).order_by(AuditEntry.seq)
        if start is not None:
            query = query.where(AuditEntry.at >= start)
        if end is not None:
            query = query.where(AuditEntry.at < end)
        result = await self._session.stream_scalars(query.execution_options(yield_per=500))
        async for row in result:
            yield row

    async def export(
        self, org_id: str, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[AuditRow]:
        async for row in self._rows(org_id, start, end):
            yield AuditRow(row.seq, row.at, row.kind, row.actor, row.data, row.prev_hash, row.hash)


def _head_problem(
    org_id: str, head: AuditHead | None, last: int, last_hash: str
) -> ChainProblem | None:
    """An intact chain must end where the recorded head says it does."""
    if head is None:
        return ChainProblem(org_id, last + 1, REMOVED if last == 0 else HEAD_MISSING)
    if head.seq > last:
        return ChainProblem(org_id, last + 1, TAIL_REMOVED)
    if head.seq != last or head.hash != last_hash:
        return ChainProblem(org_id, last, HEAD_ALTERED)
    return None
