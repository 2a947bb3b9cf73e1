"""The outbox, supervision dates and once-only job runs: `handlers.ports.OutboxPort`,
`SupervisionsPort` and `RunsPort`.

The outbox is the delivery workers' hot path, so it is SQLAlchemy Core: statements built
once, plain rows, no identity map. Writers of a message are use cases mid-transaction;
its readers are delivery workers, one or several replicas, each in short transactions of
its own: `claim` leases rows, and every later step releases the lease.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.ports import NewMessage, OutboxDepth, OutboxMessage
from storage.models import JobRun, OutboxRow, Supervision, UTCDateTime

_box = cast(Table, OutboxRow.__table__)
_c = _box.c
_MESSAGE = [_c[f.name] for f in fields(OutboxMessage)]
_FREE = _c.lease_until.is_(None)
_RELEASED = {"lease_until": None, "leased_by": None}


def _upsert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _message(row: Any) -> OutboxMessage:
    return OutboxMessage(**row._asdict())


def _claim_query() -> Any:
    """Lease the oldest due pending rows that no live worker holds. On PostgreSQL the inner
    SELECT locks what it picks and skips rows another claimer has locked, so concurrent
    claimers get disjoint rows; SQLite renders no FOR UPDATE (its writers are serialised)."""
    now = bindparam("now", type_=UTCDateTime)
    picked = (
        select(_c.id)
        .where(_c.status == "pending", _c.due_at <= now, _FREE | (_c.lease_until < now))
        .order_by(_c.due_at, _c.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )
    return (
        update(_box)
        .where(_c.id.in_(picked.scalar_subquery()))
        .values(
            lease_until=bindparam("lease_until", type_=UTCDateTime),
            leased_by=bindparam("worker"),
        )
        .returning(*_MESSAGE)
    )


_CLAIM = _claim_query()
_COALESCE = (
    update(_box)
    .where(
        _c.org_id == bindparam("org"),
        _c.key == bindparam("original"),
        _c.status == "pending",
        _FREE,
        ~select(_c.id)
        .where(_c.org_id == bindparam("org"), _c.key == bindparam("own_key"))
        .exists(),
    )
    .values(body=bindparam("new_body"))
)
"""An edit of a message not yet claimed replaces its body, unless the edit is queued already."""


class Outbox:
    """Satisfies `handlers.ports.OutboxPort`. After `claim`, every step but `sent` applies
    to a message still pending only: one cancelled while it was being sent stays cancelled
    unless it was delivered after all, and then it is recorded as sent (an edit finds it)."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(self, org_id: str, messages: Sequence[NewMessage], at: dt.datetime) -> int:
        await self._s.flush()  # Core skips autoflush: the breaches referred to must exist
        rows = []
        for m in messages:
            if m.edits is not None:
                params = {"org": org_id, "original": m.edits, "own_key": m.key, "new_body": m.body}
                if getattr(await self._s.execute(_COALESCE, params), "rowcount", 0):
                    continue
            rows.append(
                asdict(m) | {"org_id": org_id, "status": "pending", "attempts": 0, "created_at": at}
            )
        if not rows:
            return 0
        statement = (
            _upsert(self._s)(_box)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["org_id", "key"])
            .returning(_c.id)
        )
        return len((await self._s.execute(statement)).all())

    async def cancel(self, org_id: str, breach_id: int, topics: Sequence[str]) -> int:
        result = await self._s.execute(
            update(_box)
            .where(
                _c.org_id == org_id,
                _c.breach_id == breach_id,
                _c.topic.in_(topics),
                _c.status == "pending",
            )
            .values(status="cancelled", **_RELEASED)
        )
        return int(getattr(result, "rowcount", 0))

    async def claim(
        self, now: dt.datetime, limit: int, lease_until: dt.datetime, worker: str
    ) -> tuple[OutboxMessage, ...]:
        params = {"now": now, "limit": limit, "lease_until": lease_until, "worker": worker}
        rows = (await self._s.execute(_CLAIM, params)).all()
        # RETURNING keeps no order of its own.
        return tuple(sorted(map(_message, rows), key=lambda m: (m.due_at, m.id)))

    async def get(self, org_id: str, key: str) -> OutboxMessage | None:
        row = (
            await self._s.execute(select(*_MESSAGE).where(_c.org_id == org_id, _c.key == key))
        ).first()
        return None if row is None else _message(row)

    async def of_breach(self, breach_id: int, topics: Sequence[str]) -> tuple[OutboxMessage, ...]:
        query = (
            select(*_MESSAGE).where(_c.breach_id == breach_id, _c.topic.in_(topics)).order_by(_c.id)
        )
        return tuple(map(_message, (await self._s.execute(query)).all()))

    async def _release(self, message_id: int, *where: Any, **values: Any) -> None:
        await self._s.execute(
            update(_box).where(_c.id == message_id, *where).values(**_RELEASED, **values)
        )

    async def _pending(self, message_id: int, **values: Any) -> None:
        await self._release(message_id, _c.status == "pending", **values)

    async def sent(
        self, message_id: int, conversation: str | None, message: str | None, at: dt.datetime
    ) -> None:
        await self._release(
            message_id,
            status="sent",
            sent_at=at,
            posted_conversation=conversation,
            posted_message=message,
        )

    async def retry_later(self, message_id: int, error: str, due_at: dt.datetime) -> None:
        await self._pending(message_id, attempts=_c.attempts + 1, last_error=error, due_at=due_at)

    async def postpone(self, message_id: int, due_at: dt.datetime) -> None:
        await self._pending(message_id, due_at=due_at)

    async def park(self, message_id: int, error: str, at: dt.datetime) -> None:
        """The attempt that gave up counts as one. `at` is the audit record's to keep."""
        await self._pending(message_id, status="failed", attempts=_c.attempts + 1, last_error=error)

    async def failed(self, org_id: str | None) -> tuple[OutboxMessage, ...]:
        query = select(*_MESSAGE).where(_c.status == "failed").order_by(_c.id)
        if org_id is not None:
            query = query.where(_c.org_id == org_id)
        return tuple(map(_message, (await self._s.execute(query)).all()))

    async def requeue(self, org_id: str | None, ids: Sequence[int], at: dt.datetime) -> int:
        statement = (
            update(_box)
            .where(_c.status == "failed")
            .values(status="pending", due_at=at, attempts=0)
        )
        if org_id is not None:
            statement = statement.where(_c.org_id == org_id)
        if ids:
            statement = statement.where(_c.id.in_(ids))
        return int(getattr(await self._s.execute(statement), "rowcount", 0))

    async def depth(self, now: dt.datetime) -> OutboxDepth:
        pending = _c.status == "pending"
        row = (
            await self._s.execute(
                select(
                    func.count().filter(pending).label("pending"),
                    func.count().filter(_c.status == "failed").label("failed"),
                    func.min(_c.due_at).filter(pending, _c.due_at <= now).label("oldest_due"),
                ).where(_c.status.in_(("pending", "failed")))
            )
        ).one()
        return OutboxDepth(row.pending, row.failed, row.oldest_due)


async def _first_insert(session: AsyncSession, model: type[Any], **values: Any) -> bool:
    """Insert unless the key is taken; True when this insert was the first."""
    result = await session.execute(
        _upsert(session)(model).values(**values).on_conflict_do_nothing()
    )
    return bool(getattr(result, "rowcount", 0))


class Supervisions:
    """Satisfies `handlers.ports.SupervisionsPort`."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def record(self, person_id: int, on: dt.date, at: dt.datetime) -> bool:
        return await _first_insert(self._s, Supervision, person_id=person_id, on=on, recorded_at=at)

    async def last(self, person_id: int) -> dt.date | None:
        found: dt.date | None = await self._s.scalar(
            select(func.max(Supervision.on)).where(Supervision.person_id == person_id)
        )
        return found


class Runs:
    """Satisfies `handlers.ports.RunsPort`: on PostgreSQL a second replica's insert waits
    for the first to commit, then inserts nothing."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def claim(self, job: str, key: str, at: dt.datetime) -> bool:
        return await _first_insert(self._s, JobRun, job=job, key=key, at=at)

    async def claimed(self, job: str, key: str) -> bool:
        found = await self._s.scalar(
            select(JobRun.job).where(JobRun.job == job, JobRun.key == key).limit(1)
        )
        return found is not None
