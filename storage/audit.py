"""The append-only audit log: one hash chain per organisation.

Each row stores the previous row's hash and its own hash over its canonical JSON content;
`audit_heads` remembers the last row, so removing rows at the end is detected too.
Appends lock the head row, so concurrent writers cannot fork a chain.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import IO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.ports import AuditKind, JsonValue
from storage.models import AuditEntry, AuditHead, Organisation

GENESIS = "0" * 64
EXPORT_COLUMNS = ("seq", "at", "kind", "actor", "data", "prev_hash", "hash")


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


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first place a chain is broken: `seq` is the row altered or removed."""

    org_id: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"audit log of {self.org_id!r} is broken at row {self.seq}: {self.problem}"


ALTERED = "its content no longer matches its hash (altered)"
RELINKED = "it does not follow the row before it (a row before it was altered or removed)"
REMOVED = "the row is missing (removed)"
TAIL_REMOVED = "the chain ends early: the last row(s) were removed"
HEAD_ALTERED = "the last row does not match the recorded chain head (altered)"
HEAD_MISSING = "the recorded chain head was removed"


class AuditLog:
    """Repository of the audit chain, bound to one session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def append(
        self,
        org_id: str,
        kind: AuditKind,
        actor: str,
        data: Mapping[str, JsonValue],
        at: dt.datetime,
    ) -> int:
        head = await self._session.scalar(
            select(AuditHead).where(AuditHead.org_id == org_id).with_for_update()
        )
        if head is None:
            head = AuditHead(org_id=org_id, seq=0, hash=GENESIS)
            self._session.add(head)
        seq, text = head.seq + 1, canonical(dict(data))
        digest = row_hash(org_id, seq, at, kind.value, actor, text, head.hash)
        self._session.add(
            AuditEntry(
                org_id=org_id,
                seq=seq,
                at=at,
                kind=kind.value,
                actor=actor,
                data=text,
                prev_hash=head.hash,
                hash=digest,
            )
        )
        head.seq, head.hash = seq, digest
        await self._session.flush()
        return seq

    async def verify(self) -> ChainProblem | None:
        """Walk every organisation's chain (every organisation has one from its creation)."""
        heads = {h.org_id: h for h in await self._session.scalars(select(AuditHead))}
        orgs = sorted(
            set(heads)
            | set(await self._session.scalars(select(Organisation.id)))
            | set(await self._session.scalars(select(AuditEntry.org_id).distinct()))
        )
        for org_id in orgs:
            problem = await self._verify_org(org_id, heads.get(org_id))
            if problem is not None:
                return problem
        return None

    async def _verify_org(self, org_id: str, head: AuditHead | None) -> ChainProblem | None:
        expected_seq, prev = 1, GENESIS
        async for row in self._rows(org_id):
            if row.seq != expected_seq:
                return ChainProblem(org_id, expected_seq, REMOVED)
            if row.prev_hash != prev:
                return ChainProblem(org_id, row.seq, RELINKED)
            digest = row_hash(org_id, row.seq, row.at, row.kind, row.actor, row.data, row.prev_hash)
            if digest != row.hash:
                return ChainProblem(org_id, row.seq, ALTERED)
            expected_seq, prev = row.seq + 1, row.hash
        last = expected_seq - 1
        if head is None:
            return ChainProblem(org_id, last + 1, REMOVED if last == 0 else HEAD_MISSING)
        if head.seq > last:
            return ChainProblem(org_id, last + 1, TAIL_REMOVED)
        if head.seq != last or head.hash != prev:
            return ChainProblem(org_id, last, HEAD_ALTERED)
        return None

    async def _rows(
        self, org_id: str, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> AsyncIterator[AuditEntry]:
        query = select(AuditEntry).where(AuditEntry.org_id == org_id).order_by(AuditEntry.seq)
        if start is not None:
            query = query.where(AuditEntry.at >= start)
        if end is not None:
            query = query.where(AuditEntry.at < end)
        result = await self._session.stream_scalars(query.execution_options(yield_per=500))
        async for row in result:
            yield row

    async def export_csv(
        self, org_id: str, start: dt.datetime, end: dt.datetime, out: IO[str]
    ) -> int:
        """Write rows with `start <= at < end` as CSV for an inspection; returns the count."""
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        count = 0
        async for row in self._rows(org_id, start, end):
            writer.writerow(
                (
                    row.seq,
                    row.at.isoformat(),
                    row.kind,
                    row.actor,
                    row.data,
                    row.prev_hash,
                    row.hash,
                )
            )
            count += 1
        return count
