"""Async repositories over one session: the storage side of `handlers.ports`.

Use them through `Store` (all repositories of one transaction) from `Storage.write()` or
`Storage.read()`. Methods that apply an event take its `occurred_at` and return whether
anything changed: an event older than the one that last changed a row is ignored, so
events may arrive out of order. Writers never commit; the transaction owner does.
Concurrent first inserts of one key on PostgreSQL raise `IntegrityError` for all but one
transaction: retry the event (SQLite serialises writers, so it never happens there).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache, partial
from operator import attrgetter
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import (
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.audit import AuditRecord
from handlers.errors import Busy, OrganisationExists
from handlers.ports import (
    AllocationRecord,
    BreachChange,
    BreachRecord,
    CaseRecord,
    ChannelRecord,
    ChatIdentityRecord,
    OrgRecord,
    PersonRecord,
    Platform,
    Receipt,
    Source,
    TeamRecord,
    TokenRecord,
)
from policy import Breach, Case, Caseload, PolicyFile, Role, StaffRole, Worker
from policy.requests import parse_pause
from storage.audit import AuditLog, SqliteAppender
from storage.cohorts import Cohorts
from storage.db import Conflicted, Database, storage_errors
from storage.models import (
    Allocation,
    ApiToken,
    AsyeAgreement,
    AsyePause,
    AsyeRecord,
    AsyeReview,
    BreachRow,
    CaseRow,
    ChatChannel,
    ChatIdentity,
    Organisation,
    Person,
    PersonRole,
    Team,
    WebhookReceipt,
    WebhookSecret,
    opened_breach,
)
from storage.outbox import Outbox, Runs, Supervisions
from storage.plain import plain_rows as _rows
from storage.plain import plain_run as _run
from storage.records import (
    UNRESOLVED,
    breach_of,
    breach_record,
    held_case,
    stored_keys,
    team_record,
)
from storage.reports import Reports

STUB_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""`occurred_at` of rows created only because something referred to them: any event wins."""


def _newer(row_time: dt.datetime, occurred_at: dt.datetime) -> bool:
    """True when the event may change the row (it is not older than the last change)."""
    return occurred_at >= row_time


def _differs(row: Any, values: dict[str, Any]) -> bool:
    """True when `row` (an ORM row or a Core one) holds another value for any of `values`."""
    return any(getattr(row, k) != v for k, v in values.items())


def _assign(row: Any, occurred_at: dt.datetime, **values: Any) -> bool:
    """Apply `values` unless the event is older; True if any value actually changed."""
    if not _newer(row.occurred_at, occurred_at):
        return False
    changed = _differs(row, values)
    for key, value in values.items():
        setattr(row, key, value)
    row.occurred_at = occurred_at
    return changed


# --- organisations ---------------------------------------------------------------------


async def _put(
    session: AsyncSession,
    row: Any,
    model: type[Any],
    keys: dict[str, Any],
    values: dict[str, Any],
    occurred_at: dt.datetime,
) -> bool:
    """Insert a `model` row with `keys` and `values` when there is none yet; otherwise apply
    `values` unless the event is older than the row. True if anything changed."""
    if row is None:
        session.add(model(**keys, **values, occurred_at=occurred_at))
        await session.flush()
        return True
    return _assign(row, occurred_at, **values)


def _org_record(row: Organisation) -> OrgRecord:
    return OrgRecord(
        id=row.id,
        name=row.name,
        policy_id=row.policy_id,
        policy_version=row.policy_version,
        policy_source=row.policy_source,
        policy_yaml=row.policy_yaml,
    )


_orgs = Organisation.__table__.c
_ORG = select(
    _orgs.id,
    _orgs.name,
    _orgs.policy_id,
    _orgs.policy_version,
    _orgs.policy_source,
    _orgs.policy_yaml,
).where(_orgs.id == bindparam("org_id"))


class Organisations:
    """`known` keeps organisations once read, shared by every transaction: a row is never
    changed or deleted after `create` commits, so a committed row stays true. One this
    transaction created is not kept: it may yet roll back."""

    def __init__(self, session: AsyncSession, known: dict[str, OrgRecord]) -> None:
        self._s = session
        self._known = known
        self._created: set[str] = set()

    async def get(self, org_id: str) -> OrgRecord | None:
        if org_id in self._known:
            return self._known[org_id]
        rows = await _rows(self._s, _ORG, org_id=org_id)
        if not rows:
            return None
        found = OrgRecord(**rows[0]._asdict())
        if org_id not in self._created:
            self._known[org_id] = found
        return found

    async def ids(self) -> tuple[str, ...]:
        return tuple(await self._s.scalars(select(Organisation.id).order_by(Organisation.id)))

    async def create(
        self,
        org_id: str,
        name: str,
        policy: PolicyFile,
        policy_source: str,
        policy_yaml: str,
    ) -> OrgRecord:
        if await self._s.get(Organisation, org_id) is not None:
            raise OrganisationExists(org=org_id)
        row = Organisation(
            id=org_id,
            name=name,
            policy_id=policy.id,
            policy_version=policy.version,
            policy_source=policy_source,
            policy_yaml=policy_yaml,
        )
        self._s.add(row)
        await self._s.flush()
        self._created.add(org_id)
        return _org_record(row)


# --- teams -----------------------------------------------------------------------------


class Teams:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def _row(self, org_id: str, ref: str) -> Team | None:
        return await self._s.scalar(select(Team).where(Team.org_id == org_id, Team.ref == ref))

    async def get_by_id(self, team_id: int) -> TeamRecord | None:
        row = await self._s.get(Team, team_id)
        return None if row is None else team_record(row)

    async def of_org(self, org_id: str) -> tuple[TeamRecord, ...]:
        rows = await self._s.scalars(select(Team).where(Team.org_id == org_id).order_by(Team.ref))
        return tuple(team_record(r) for r in rows)

    async def get(self, org_id: str, ref: str) -> TeamRecord | None:
        row = await self._row(org_id, ref)
        return None if row is None else team_record(row)

    async def ensure(self, org_id: str, ref: str) -> int:
        """The team's id, creating a placeholder that any later event will fill in."""
        row = await self._row(org_id, ref)
        if row is None:
            row = Team(org_id=org_id, ref=ref, name=ref, kind="unknown", occurred_at=STUB_TIME)
            self._s.add(row)
            await self._s.flush()
        return row.id

    async def upsert(
        self,
        org_id: str,
        ref: str,
        *,
        name: str,
        kind: str,
        slack_channel_id: str | None,
        teams_channel_id: str | None,
        occurred_at: dt.datetime,
    ) -> bool:
        row = await self._row(org_id, ref)
        values = {
            "name": name,
            "kind": kind,
            # A channel the event does not name is kept: it may have been linked from chat.
            "slack_channel_id": slack_channel_id or (row and row.slack_channel_id),
            "teams_channel_id": teams_channel_id or (row and row.teams_channel_id),
        }
        return await _put(self._s, row, Team, {"org_id": org_id, "ref": ref}, values, occurred_at)


# --- people ----------------------------------------------------------------------------

_PEOPLE = cast(Table, Person.__table__)
_people, _roles = _PEOPLE.c, PersonRole.__table__.c


def _person_query(*where: Any) -> Any:
    """The one person matching `where`, with their roles: a row per role."""
    return (
        select(
            _people.id,
            _people.org_id,
            _people.ref,
            _people.display_name,
            _people.team_id,
            _people.manager_id,
            _roles.role,
        )
        .outerjoin_from(Person.__table__, PersonRole.__table__, _roles.person_id == _people.id)
        .where(*where)
    )


_identity = ChatIdentity.__table__.c
_PERSON_BY_REF = _person_query(
    _people.org_id == bindparam("org_id"), _people.ref == bindparam("ref")
)
_PERSON_BY_ID = _person_query(_people.id == bindparam("person_id"))
_asye = AsyeRecord.__table__.c
_PERSON_LOCKED = (
    _PERSON_BY_REF.add_columns(_asye.person_id.label("asye_of"), _people.caseload_version)
    .outerjoin(AsyeRecord.__table__, _asye.person_id == _people.id)
    .with_for_update(of=_PEOPLE)
)
"""The person, locked, their caseload's version, and whether they have an ASYE record: for most people an event
names, that they have none is all `asye_worker` would have read."""
_PEOPLE_LOCKED = (
    _person_query(
        _people.org_id == bindparam("org_id"),
        _people.ref == func.any(bindparam("refs", type_=ARRAY(String))),
    )
    .add_columns(_asye.person_id.label("asye_of"), _people.caseload_version)
    .outerjoin(AsyeRecord.__table__, _asye.person_id == _people.id)
    .order_by(_people.id)
    .with_for_update(of=_PEOPLE)
)
"""`_PERSON_LOCKED` for several people at once (PostgreSQL), locked in the order of their ids."""
_PERSON_ID = select(_people.id).where(
    _people.org_id == bindparam("org_id"), _people.ref == bindparam("ref")
)
_NEW_PERSON = insert(_PEOPLE).returning(_people.id)
_PERSON_BY_CHAT = _person_query(
    _people.id.in_(
        select(_identity.person_id).where(
            _identity.platform == bindparam("platform"),
            _identity.tenant == bindparam("tenant"),
            _identity.user_id == bindparam("user_id"),
        )
    )
)


async def _person(session: AsyncSession, query: Any, **params: Any) -> PersonRecord | None:
    return _person_of(await _rows(session, query, **params))


def _person_of(rows: Sequence[Any]) -> PersonRecord | None:
    if not rows:
        return None
    first = rows[0]
    return PersonRecord(
        id=first.id,
        org_id=first.org_id,
        ref=first.ref,
        display_name=first.display_name,
        roles=frozenset(StaffRole(r.role) for r in rows if r.role is not None),
        team_id=first.team_id,
        manager_id=first.manager_id,
    )


class People:
    """Staff (never children), their roles, chat identities and ASYE records.

    ASYE records, and people locked, are remembered for the life of the transaction (every
    change to them goes through this object, which forgets them when it does): an event
    reads a worker's record for its decision and again for the breaches after it.
    """

    def __init__(self, session: AsyncSession, kept: _Kept) -> None:
        self._s = session
        self._kept = kept
        self._workers: dict[int, Worker | None] = {}
        self._locked: dict[int, PersonRecord] = {}
        self._prefetched: dict[tuple[str, str], list[Any]] = {}
        """Rows `lock_many` read, each person's until their `lock`."""

    def _by_ref(self, org_id: str, ref: str) -> Any:
        return select(Person).where(Person.org_id == org_id, Person.ref == ref)

    async def get(self, org_id: str, ref: str) -> PersonRecord | None:
        return await _person(self._s, _PERSON_BY_REF, org_id=org_id, ref=ref)

    async def get_by_id(self, person_id: int) -> PersonRecord | None:
        if person_id in self._locked:
            return self._locked[person_id]
        return await _person(self._s, _PERSON_BY_ID, person_id=person_id)

    async def _records(self, query: Any) -> tuple[PersonRecord, ...]:
        rows = (await self._s.scalars(query.order_by(Person.display_name, Person.ref))).all()
        roles: dict[int, set[StaffRole]] = {row.id: set() for row in rows}
        if rows:
            found = await self._s.execute(
                select(PersonRole.person_id, PersonRole.role).where(PersonRole.person_id.in_(roles))
            )
            for person_id, role in found:
                roles[person_id].add(StaffRole(role))
        return tuple(
            PersonRecord(
                id=row.id,
                org_id=row.org_id,
                ref=row.ref,
                display_name=row.display_name,
                roles=frozenset(roles[row.id]),
                team_id=row.team_id,
                manager_id=row.manager_id,
            )
            for row in rows
        )

    async def in_team(self, team_id: int) -> tuple[PersonRecord, ...]:
        return await self._records(select(Person).where(Person.team_id == team_id))

    async def with_role(self, org_id: str, role: StaffRole) -> tuple[PersonRecord, ...]:
        holders = select(PersonRole.person_id).where(PersonRole.role == role.value)
        return await self._records(
            select(Person).where(Person.org_id == org_id, Person.id.in_(holders))
        )

    async def assessor_of(self, person_id: int) -> int | None:
        found: int | None = await self._s.scalar(
            select(AsyeRecord.assessor_id).where(AsyeRecord.person_id == person_id)
        )
        return found

    async def lock(self, org_id: str, ref: str) -> PersonRecord | None:
        """`SELECT ... FOR UPDATE` (PostgreSQL); SQLite's write transaction already locks."""
        rows: Sequence[Any] | None = self._prefetched.pop((org_id, ref), None)
        if rows is None:
            rows = await _rows(self._s, _PERSON_LOCKED, org_id=org_id, ref=ref)
        person = _person_of(rows)
        if person is not None:
            self._locked[person.id] = person
            self._kept.locked(person.id, rows[0].caseload_version)
            if rows[0].asye_of is None:
                self._workers[person.id] = None
        return person

    async def lock_many(self, org_id: str, refs: Iterable[str]) -> None:
        """Lock these people now, in one statement and in the order of their ids; the next
        `lock` of each answers from what it read (PostgreSQL: elsewhere a lock is no round
        trip of its own). A caseload version read here is at most as new as the database's
        then, which can only make a kept caseload be read again."""
        if self._s.get_bind().dialect.name != "postgresql":
            return
        wanted = sorted(set(refs))
        rows = await _rows(self._s, _PEOPLE_LOCKED, org_id=org_id, refs=wanted)
        for row in rows:
            self._prefetched.setdefault((org_id, row.ref), []).append(row)

    async def ensure(self, org_id: str, ref: str) -> int:
        """The person's id, creating a placeholder that their own event will fill in."""
        found = await _rows(self._s, _PERSON_ID, org_id=org_id, ref=ref)
        if found:
            return int(found[0].id)
        placeholder = {"display_name": ref, "team_id": None, "manager_id": None}
        (row,) = await _rows(
            self._s, _NEW_PERSON, org_id=org_id, ref=ref, occurred_at=STUB_TIME, **placeholder
        )
        return int(row.id)

    async def upsert(
        self,
        org_id: str,
        ref: str,
        *,
        display_name: str,
        roles: Iterable[StaffRole],
        team_ref: str | None,
        manager_ref: str | None,
        occurred_at: dt.datetime,
    ) -> bool:
        """Create or update a person; teams and managers not yet known get placeholders."""
        self._locked.clear()
        self._prefetched.clear()
        team_id = None if team_ref is None else await Teams(self._s).ensure(org_id, team_ref)
        manager_id = None if manager_ref is None else await self.ensure(org_id, manager_ref)
        values = {"display_name": display_name, "team_id": team_id, "manager_id": manager_id}
        row = await self._s.scalar(self._by_ref(org_id, ref))
        if row is None:
            row = Person(org_id=org_id, ref=ref, occurred_at=occurred_at, **values)
            self._s.add(row)
            await self._s.flush()
            changed = True
        elif _newer(row.occurred_at, occurred_at):
            changed = _assign(row, occurred_at, **values)
        else:
            return False
        wanted = {StaffRole(r).value for r in roles}
        held = set(
            await self._s.scalars(select(PersonRole.role).where(PersonRole.person_id == row.id))
        )
        if wanted != held:
            await self._s.execute(
                delete(PersonRole).where(
                    PersonRole.person_id == row.id, PersonRole.role.in_(held - wanted)
                )
            )
            self._s.add_all(PersonRole(person_id=row.id, role=r) for r in wanted - held)
            await self._s.flush()
            changed = True
        return changed

    async def set_asye(
        self,
        person_id: int,
        *,
        start: dt.date,
        fte: float,
        assessor_ref: str | None,
        occurred_at: dt.datetime,
    ) -> bool:
        self._workers.pop(person_id, None)
        person = await self._s.get_one(Person, person_id)
        assessor_id = (
            None if assessor_ref is None else await self.ensure(person.org_id, assessor_ref)
        )
        values = {"start_date": start, "fte": fte, "assessor_id": assessor_id}
        row = await self._s.get(AsyeRecord, person_id)
        keys = {"person_id": person_id}
        return await _put(self._s, row, AsyeRecord, keys, values, occurred_at)

    async def record_pause(
        self,
        person_id: int,
        *,
        start: dt.date,
        end: dt.date | None,
        reason: str,
        occurred_at: dt.datetime,
    ) -> bool:
        """A leave that pauses the ASYE clock, keyed by its first day."""
        self._workers.pop(person_id, None)
        row = await self._s.scalar(
            select(AsyePause).where(AsyePause.person_id == person_id, AsyePause.from_date == start)
        )
        keys = {"person_id": person_id, "from_date": start}
        values = {"to_date": end, "reason": reason}
        return await _put(self._s, row, AsyePause, keys, values, occurred_at)

    async def record_review(
        self, person_id: int, *, month: int, passed: bool, on: dt.date, occurred_at: dt.datetime
    ) -> bool:
        self._workers.pop(person_id, None)
        row = await self._s.get(AsyeReview, (person_id, month))
        keys = {"person_id": person_id, "month": month}
        return await _put(self._s, row, AsyeReview, keys, {"passed": passed, "on": on}, occurred_at)

    async def record_agreement(
        self, person_id: int, *, agreement: str, on: dt.date, occurred_at: dt.datetime
    ) -> bool:
        self._workers.pop(person_id, None)
        row = await self._s.get(AsyeAgreement, (person_id, agreement))
        keys = {"person_id": person_id, "agreement": agreement}
        return await _put(self._s, row, AsyeAgreement, keys, {"on": on}, occurred_at)

    async def asye_worker(self, person_id: int) -> Worker | None:
        if person_id not in self._workers:
            self._workers[person_id] = await self._load_worker(person_id)
        return self._workers[person_id]

    async def _load_worker(self, person_id: int) -> Worker | None:
        """One statement: the record, pauses, passed reviews and agreements, told apart
        by `kind` (0 to 3) and ordered so that pauses come by their first day."""
        rows = await _rows(self._s, _WORKER, person_id=person_id)
        if not rows or rows[0].kind != 0:
            return None
        record = rows[0]
        return Worker(
            asye_start=record.day,
            fte=record.fte,
            pauses=tuple(parse_pause({"from": r.day, "to": r.until}) for r in rows if r.kind == 1),
            reviews_passed=frozenset(r.month for r in rows if r.kind == 2),
            agreements=frozenset(r.agreement for r in rows if r.kind == 3),
        )


def _or_null(column: Any, kind: type[Any]) -> Any:
    """PostgreSQL types a bare NULL in a UNION as text: give it the column's type."""
    return null().cast(kind) if column is None else column


def _worker_query() -> Any:
    person_id = bindparam("person_id", type_=Integer)

    def part(
        kind: int,
        table: Any,
        *,
        day: Any = None,
        until: Any = None,
        fte: Any = None,
        month: Any = None,
        agreement: Any = None,
    ) -> Any:
        return select(
            literal_column(str(kind), Integer).label("kind"),
            _or_null(day, Date).label("day"),
            _or_null(until, Date).label("until"),
            _or_null(fte, Float).label("fte"),
            _or_null(month, Integer).label("month"),
            _or_null(agreement, String).label("agreement"),
        ).where(table.person_id == person_id)

    record, pause = AsyeRecord.__table__.c, AsyePause.__table__.c
    review, agreed = AsyeReview.__table__.c, AsyeAgreement.__table__.c
    parts = union_all(
        part(0, record, day=record.start_date, fte=record.fte),
        part(1, pause, day=pause.from_date, until=pause.to_date),
        part(2, review, month=review.month).where(review.passed.is_(True)),
        part(3, agreed, agreement=agreed.agreement),
    ).subquery()
    return select(parts).order_by(parts.c.kind, parts.c.day)


_WORKER = _worker_query()


# --- chat identities -------------------------------------------------------------------


class Directory:
    """Who a chat user is; satisfies `handlers.ports.ChatDirectoryPort`."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def link(self, person_id: int, platform: Platform, tenant: str, user_id: str) -> bool:
        """An identity belongs to one person: linking it again moves it."""
        row = await self._s.scalar(
            select(ChatIdentity).where(
                ChatIdentity.platform == platform,
                ChatIdentity.tenant == tenant,
                ChatIdentity.user_id == user_id,
            )
        )
        if row is None:
            self._s.add(
                ChatIdentity(person_id=person_id, platform=platform, tenant=tenant, user_id=user_id)
            )
        elif row.person_id != person_id:
            row.person_id = person_id
        else:
            return False
        await self._s.flush()
        return True

    async def identities(self, person_ids: Iterable[int]) -> tuple[ChatIdentityRecord, ...]:
        rows = await self._s.scalars(
            select(ChatIdentity)
            .where(ChatIdentity.person_id.in_(list(person_ids)))
            .order_by(ChatIdentity.id)
        )
        return tuple(
            ChatIdentityRecord(r.person_id, cast(Platform, r.platform), r.tenant, r.user_id)
            for r in rows
        )

    async def person(self, platform: Platform, tenant: str, user_id: str) -> PersonRecord | None:
        return await _person(
            self._s, _PERSON_BY_CHAT, platform=platform, tenant=tenant, user_id=user_id
        )


# --- cases and allocations -------------------------------------------------------------


def _case_record(row: Any) -> CaseRecord:
    return CaseRecord(
        id=row.id,
        org_id=row.org_id,
        ref=row.ref,
        work_type=row.work_type,
        children=row.children,
        flags=frozenset(row.flags),
        external=row.external,
        closed_on=row.closed_on,
    )


_CASES, _ALLOCATIONS = cast(Table, CaseRow.__table__), cast(Table, Allocation.__table__)
_cases, _allocs = _CASES.c, _ALLOCATIONS.c
_CASE = select(
    _cases.id,
    _cases.org_id,
    _cases.ref,
    _cases.work_type,
    _cases.children,
    _cases.flags,
    _cases.external,
    _cases.closed_on,
).where(_cases.org_id == bindparam("org_id"), _cases.ref == bindparam("ref"))
_CASELOAD = (
    select(
        _cases.ref,
        _cases.work_type,
        _cases.children,
        cast_(_cases.flags, Text).label("flags"),
        cast_(_cases.external, Integer).label("external"),
        _allocs.role,
        cast_(_allocs.overrides, Text).label("overrides"),
    )
    .join_from(Allocation.__table__, CaseRow.__table__, _cases.id == _allocs.case_id)
    .where(
        _allocs.person_id == bindparam("person_id"),
        _allocs.from_date <= bindparam("on"),
        _allocs.to_date.is_(None) | (_allocs.to_date > bindparam("on")),
        _cases.closed_on.is_(None) | (_cases.closed_on > bindparam("on")),
    )
)
"""Flags and overrides as their stored JSON text, and `external` as 0 or 1: columns the
driver's values need nothing done to, in a row that is a key of `_held`."""


@lru_cache(maxsize=1 << 16)
def _held(row: Any) -> Case:
    """One caseload row as the engine's case, made once per distinct row: a large caseload
    is read for every event that changes it, and building thousands of validated cases
    (and parsing their JSON) was most of that cost. Cases are frozen, so sharing is safe."""
    return held_case(row, stored_keys(row.flags), stored_keys(row.overrides))


def _by_ref(cases: Iterable[Case]) -> Caseload:
    """A caseload's one order, the same whichever database and collation it came from, and
    whether it was read or kept up to date in memory (`_Kept`)."""
    return Caseload(sorted(cases, key=attrgetter("case_id")))


class KnownCaseloads:
    """Caseloads this process has read or written, each with the version the database gave
    that person's caseload then (`Person.caseload_version`, moved on by the database's own
    triggers): a worker holding 1,500 cases is not read again for each event about them.
    One caseload per person, and at most `KEPT` people."""

    KEPT = 4096

    def __init__(self) -> None:
        self._by_person: dict[int, tuple[int, dt.date, Caseload]] = {}

    def get(self, person_id: int, version: int, on: dt.date) -> Caseload | None:
        known = self._by_person.get(person_id)
        if known is None or known[0] != version or known[1] != on:
            return None
        return known[2]

    def put(self, person_id: int, version: int, on: dt.date, caseload: Caseload) -> None:
        self._by_person.pop(person_id, None)
        if len(self._by_person) >= self.KEPT:
            del self._by_person[next(iter(self._by_person))]  # the one kept longest
        self._by_person[person_id] = (version, on, caseload)


@dataclass(slots=True)
class _Kept:
    """What one transaction read and will need again, kept up to date by its own writes:
    an allocation event decides on the worker's caseload and then re-checks their
    breaches on the caseload with the new case, and a large caseload is not read twice.
    Once the transaction has committed, the caseloads of the people it locked go to the
    process's `KnownCaseloads` for the transactions after it (`committed`)."""

    known: KnownCaseloads = field(default_factory=KnownCaseloads)
    cases: dict[int, CaseRecord] = field(default_factory=dict)
    caseloads: dict[tuple[int, dt.date], Caseload] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)
    """The caseload version of each person this transaction locked, as its own writes
    have moved it (each allocation started or ended moves it by one)."""
    new_cases: set[tuple[str, str]] = field(default_factory=set)
    """Cases this transaction created that nobody holds yet: an extract's new case does
    not ask who holds it."""

    def caseload(self, person_id: int, on: dt.date) -> Caseload | None:
        kept = self.caseloads.get((person_id, on))
        version = self.versions.get(person_id)
        if kept is None and version is not None:
            kept = self.known.get(person_id, version, on)
            if kept is not None:
                self.caseloads[person_id, on] = kept
        return kept

    def locked(self, person_id: int, version: int) -> None:
        """A caseload read before its person was locked may be older than the version the
        lock read (PostgreSQL reads each statement afresh): it is read again."""
        if self.versions.get(person_id) != version:
            self._forget(person_id)
        self.versions[person_id] = version

    def case_changed(self) -> None:
        """The database moved the versions of the case's holders, whoever they are."""
        self.caseloads.clear()
        self.versions.clear()

    def ended(self, person_id: int) -> None:
        """An allocation of theirs ended: the database moved their version by one."""
        if person_id in self.versions:
            self.versions[person_id] += 1
        self._forget(person_id)

    def _forget(self, person_id: int) -> None:
        for key in [k for k in self.caseloads if k[0] == person_id]:
            del self.caseloads[key]

    def committed(self) -> None:
        for (person_id, on), caseload in self.caseloads.items():
            version = self.versions.get(person_id)
            if version is not None:
                self.known.put(person_id, version, on, caseload)

    def started(
        self, case_id: int, person_id: int, role: Role, on: dt.date, overrides: frozenset[str]
    ) -> None:
        self.new_cases.clear()
        if person_id in self.versions:
            self.versions[person_id] += 1
        case = self.cases.get(case_id)
        for key in [k for k in self.caseloads if k[0] == person_id]:
            held, day = self.caseloads[key], key[1]
            if case is None or held.held(case.ref):
                del self.caseloads[key]  # unknown here, or a second allocation of it: read again
            elif on <= day and (case.closed_on is None or case.closed_on > day):
                self.caseloads[key] = held.with_case(case.as_policy_case(role, overrides))


_CASE_STATE = select(
    _cases.id,
    _cases.work_type,
    _cases.children,
    _cases.flags,
    _cases.external,
    _cases.closed_on,
    _cases.occurred_at,
).where(_cases.org_id == bindparam("org_id"), _cases.ref == bindparam("ref"))
_NEW_CASE = insert(_CASES)
_SET_CASE = update(_CASES).where(
    _cases.id == bindparam("w_id"), _cases.occurred_at <= bindparam("w_at")
)
"""Only over an older change: on PostgreSQL a newer one that another replica committed after
this transaction read the row is seen again here, after its lock, and wins."""
_HOLDERS = (
    select(_allocs.person_id)
    .join_from(_ALLOCATIONS, _CASES, _cases.id == _allocs.case_id)
    .where(
        _cases.org_id == bindparam("org_id"),
        _cases.ref == bindparam("ref"),
        _allocs.to_date.is_(None),
    )
)


class Cases:
    def __init__(self, session: AsyncSession, kept: _Kept) -> None:
        self._s = session
        self._kept = kept

    async def get(self, org_id: str, ref: str) -> CaseRecord | None:
        rows = await _rows(self._s, _CASE, org_id=org_id, ref=ref)
        if not rows:
            return None
        case = self._kept.cases[rows[0].id] = _case_record(rows[0])
        return case

    async def upsert(
        self,
        org_id: str,
        ref: str,
        *,
        work_type: str,
        children: int,
        flags: Iterable[str] = (),
        external: bool = False,
        occurred_at: dt.datetime,
    ) -> bool:
        """Create or update a case (e.g. stepped up to child protection); reopens a closed one."""
        values: dict[str, Any] = {
            "work_type": work_type,
            "children": children,
            "flags": sorted(set(flags)),
            "external": external,
            "closed_on": None,
        }
        found = await _rows(self._s, _CASE_STATE, org_id=org_id, ref=ref)
        if not found:
            row = {"org_id": org_id, "ref": ref, **values, "occurred_at": occurred_at}
            await _run(self._s, _NEW_CASE, row)
            self._kept.new_cases.add((org_id, ref))
            return True
        return await self._assign(found[0], occurred_at, values)

    async def close(self, org_id: str, ref: str, on: dt.date, occurred_at: dt.datetime) -> bool:
        found = await _rows(self._s, _CASE_STATE, org_id=org_id, ref=ref)
        return bool(found) and await self._assign(found[0], occurred_at, {"closed_on": on})

    async def _assign(self, row: Any, occurred_at: dt.datetime, values: dict[str, Any]) -> bool:
        """`_assign` of the ORM rows, for a Core one."""
        if not _newer(row.occurred_at, occurred_at):
            return False
        changed = _differs(row, values)
        self._kept.cases.pop(row.id, None)
        self._kept.case_changed()
        params = {**values, "occurred_at": occurred_at, "w_id": row.id, "w_at": occurred_at}
        return await _run(self._s, _SET_CASE, params) > 0 and changed

    async def holders(self, org_id: str, ref: str) -> tuple[int, ...]:
        """Ids of the people with an open allocation of this case (to re-check their breaches)."""
        if (org_id, ref) in self._kept.new_cases:
            return ()
        rows = await _rows(self._s, _HOLDERS, org_id=org_id, ref=ref)
        return tuple(r.person_id for r in rows)


def _allocation_record(row: Any) -> AllocationRecord:
    return AllocationRecord(
        id=row.id,
        case_id=row.case_id,
        person_id=row.person_id,
        role=Role(row.role),
        from_date=row.from_date,
        to_date=row.to_date,
        source=Source(row.source),
        overrides=frozenset(row.overrides),
        occurred_at=row.occurred_at,
    )


_ALLOCATION = select(*Allocation.__table__.c)
_PAIR = (_allocs.case_id == bindparam("case_id")) & (_allocs.person_id == bindparam("person_id"))
_OPEN = _ALLOCATION.where(_PAIR, _allocs.to_date.is_(None))
_LATEST = (
    select(*_CASE.selected_columns, *(c.label(f"a_{c.key}") for c in _allocs))
    .join_from(
        _CASES,
        _ALLOCATIONS,
        (_allocs.case_id == _cases.id) & (_allocs.person_id == bindparam("person_id")),
        isouter=True,
    )
    .where(_cases.org_id == bindparam("org_id"), _cases.ref == bindparam("ref"))
    .order_by(_allocs.to_date.is_(None).desc(), _allocs.from_date.desc(), _allocs.id.desc())
    .limit(1)
)
"""A case with its latest allocation to one person: one statement, not two."""
_NEW_ALLOCATION = insert(_ALLOCATIONS).returning(_allocs.id)
_END_ALLOCATION = update(_ALLOCATIONS).where(_allocs.id == bindparam("w_id"))


class Allocations:
    """Who holds which case. A worker holds a case from `from_date` until the day before
    `to_date` (the day it ended), and not from the day the case closed."""

    def __init__(self, session: AsyncSession, kept: _Kept) -> None:
        self._s = session
        self._kept = kept

    async def caseload(self, person_id: int, on: dt.date) -> Caseload:
        kept = self._kept.caseload(person_id, on)
        if kept is None:
            rows = await _rows(self._s, _CASELOAD, person_id=person_id, on=on)
            kept = self._kept.caseloads[person_id, on] = _by_ref(map(_held, rows))
        return kept

    async def open_allocation(self, case_id: int, person_id: int) -> AllocationRecord | None:
        rows = await _rows(self._s, _OPEN, case_id=case_id, person_id=person_id)
        return _allocation_record(rows[0]) if rows else None

    async def latest(
        self, org_id: str, case_ref: str, person_id: int
    ) -> tuple[CaseRecord, AllocationRecord | None] | None:
        rows = await _rows(self._s, _LATEST, org_id=org_id, ref=case_ref, person_id=person_id)
        if not rows:
            return None
        row = rows[0]
        case = self._kept.cases[row.id] = _case_record(row)
        if row.a_id is None:
            return case, None
        return case, _allocation_record(
            SimpleNamespace(**{c.key: getattr(row, f"a_{c.key}") for c in _allocs})
        )

    async def start(
        self,
        *,
        case_id: int,
        person_id: int,
        role: Role,
        on: dt.date,
        source: Source,
        overrides: frozenset[str],
        occurred_at: dt.datetime,
    ) -> AllocationRecord:
        """Open an allocation (the caller checks first that none is open for this pair)."""
        values: dict[str, Any] = {
            "case_id": case_id,
            "person_id": person_id,
            "role": role.value,
            "from_date": on,
            "to_date": None,
            "source": source.value,
            "overrides": sorted(overrides),
            "occurred_at": occurred_at,
        }
        (row,) = await _rows(self._s, _NEW_ALLOCATION, **values)
        self._kept.started(case_id, person_id, role, on, overrides)
        return _allocation_record(SimpleNamespace(id=row.id, **values))

    async def end(
        self, case_id: int, person_id: int, on: dt.date, occurred_at: dt.datetime
    ) -> AllocationRecord | None:
        rows = await _rows(self._s, _OPEN, case_id=case_id, person_id=person_id)
        if not rows or not _newer(rows[0].occurred_at, occurred_at):
            return None
        row = rows[0]._replace(to_date=max(on, rows[0].from_date), occurred_at=occurred_at)
        values = {"to_date": row.to_date, "occurred_at": occurred_at, "w_id": row.id}
        await _run(self._s, _END_ALLOCATION, values)
        self._kept.ended(person_id)
        return _allocation_record(row)


# --- breaches --------------------------------------------------------------------------


_BREACHES = cast(Table, BreachRow.__table__)
_breaches = _BREACHES.c
_UNRESOLVED_OF = (
    select(*_BREACHES.c)
    .where(_breaches.person_id == bindparam("person_id"), UNRESOLVED)
    .order_by(_breaches.rule_id)
)
_NEW_BREACH = insert(_BREACHES).returning(_breaches.id)
_RULE_ID = attrgetter("rule_id")
_SET_BREACH = update(_BREACHES).where(_breaches.id == bindparam("w_id"))


class Breaches:
    """At most one unresolved (open or acknowledged) breach per (person, rule); a resolved
    one keeps its history. Changes to one breach lock its row first (PostgreSQL), so two
    replicas acting on it at once take turns and the second sees what the first did.

    A worker's unresolved breaches, once reconciled, are remembered for the rest of the
    transaction as its own writes left them: a group of events for one worker reads the
    breach that names all of a large caseload once, not once per event. Acknowledging,
    resolving or escalating one forgets them all."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session
        self._unresolved: dict[int, list[Any]] = {}

    async def open_for(self, person_id: int) -> tuple[Breach, ...]:
        return tuple(
            breach_of(r) for r in await _rows(self._s, _UNRESOLVED_OF, person_id=person_id)
        )

    async def _set_aside(self, person_id: int, rules: list[str]) -> dict[str, set[str]]:
        """The cases of each rule's latest breach, where a person resolved that one by hand."""
        latest = (
            select(func.max(BreachRow.id))
            .where(BreachRow.person_id == person_id, BreachRow.rule_id.in_(rules))
            .group_by(BreachRow.rule_id)
        )
        rows = await self._s.execute(
            select(BreachRow.rule_id, BreachRow.case_refs).where(
                BreachRow.id.in_(latest), BreachRow.resolved_by.is_not(None)
            )
        )
        return {rule: set(refs) for rule, refs in rows}

    async def reconcile(
        self, org_id: str, person_id: int, found: Sequence[Breach], at: dt.datetime
    ) -> tuple[BreachChange, ...]:
        """Open what is newly found (unless a person resolved the rule's latest breach over
        the same cases), refresh what is still found, resolve what is gone."""
        unresolved: Sequence[Any] | None = self._unresolved.pop(person_id, None)
        if unresolved is None:
            unresolved = await _rows(self._s, _UNRESOLVED_OF, person_id=person_id)
        # By rule, in Python's order whatever the database's collation: what resolves
        # together is audited in this order, whether read or remembered.
        current = {row.rule_id: row for row in sorted(unresolved, key=_RULE_ID)}
        new = [b.rule for b in found if b.rule not in current]
        set_aside = await self._set_aside(person_id, new) if new else {}
        opened: list[BreachChange] = []
        kept: list[Any] = []
        for breach in found:
            row = current.pop(breach.rule, None)
            if row is not None:
                values = {
                    "detail": breach.detail,
                    "remedy": breach.remedy,
                    "case_refs": list(breach.case_ids),
                }
                if _differs(row, values):
                    await _run(self._s, _SET_BREACH, {**values, "w_id": row.id})
                    row = row._replace(**values)
                kept.append(row)
            elif set_aside.get(breach.rule) != set(breach.case_ids):
                (added,) = await _rows(
                    self._s, _NEW_BREACH, **opened_breach(org_id, person_id, breach, at)
                )
                opened.append(BreachChange("opened", breach, added.id))
        if not opened:  # a row just opened is not at hand: read them again next time
            self._unresolved[person_id] = kept
        for row in current.values():
            await _run(
                self._s, _SET_BREACH, {"status": "resolved", "resolved_at": at, "w_id": row.id}
            )
        return tuple(opened) + tuple(
            BreachChange("resolved", breach_of(r), r.id) for r in current.values()
        )

    async def _locked(self, breach_id: int) -> BreachRow | None:
        """The breach, locked until the transaction ends and read afresh."""
        self._unresolved.clear()
        return await self._s.scalar(
            select(BreachRow)
            .where(BreachRow.id == breach_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def get(self, breach_id: int) -> BreachRecord | None:
        row = await self._s.get(BreachRow, breach_id)
        return None if row is None else breach_record(row)

    async def unresolved(self, org_id: str) -> tuple[BreachRecord, ...]:
        rows = await self._s.scalars(
            select(BreachRow)
            .where(BreachRow.org_id == org_id, UNRESOLVED)
            .order_by(BreachRow.opened_at, BreachRow.id)
        )
        return tuple(breach_record(r) for r in rows)

    async def unresolved_counts(self) -> dict[str, int]:
        rows = await self._s.execute(
            select(BreachRow.org_id, func.count()).where(UNRESOLVED).group_by(BreachRow.org_id)
        )
        return {org_id: int(count) for org_id, count in rows}

    async def acknowledge(
        self, breach_id: int, by: int, plan: str | None, at: dt.datetime
    ) -> BreachRecord | None:
        """A second acknowledgement replaces the first: who, the plan, and when."""
        row = await self._locked(breach_id)
        if row is None or row.status == "resolved":
            return None
        row.status, row.acknowledged_at, row.acknowledged_by, row.plan = (
            "acknowledged",
            at,
            by,
            plan,
        )
        await self._s.flush()
        return breach_record(row)

    async def resolve(
        self, breach_id: int, by: int, reason: str, at: dt.datetime
    ) -> BreachRecord | None:
        row = await self._locked(breach_id)
        if row is None or row.status == "resolved":
            return None
        row.status, row.resolved_at, row.resolved_by, row.resolution = "resolved", at, by, reason
        await self._s.flush()
        return breach_record(row)

    async def escalate(self, breach_id: int, step: int, at: dt.datetime) -> bool:
        row = await self._locked(breach_id)
        if row is None or row.status == "resolved" or row.escalated_step >= step:
            return False
        row.escalated_step = step
        await self._s.flush()
        return True


# --- webhook receipts, API tokens and webhook secrets -----------------------------------


_RECEIPTS = cast(Table, WebhookReceipt.__table__)
_RECEIPT = {
    "postgresql": pg_insert(_RECEIPTS).on_conflict_do_nothing(
        index_elements=["org_id", "webhook_id"]
    ),
    "sqlite": sqlite_insert(_RECEIPTS).on_conflict_do_nothing(
        index_elements=["org_id", "webhook_id"]
    ),
}


_RECEIPTS_PG = (
    text(
        "INSERT INTO webhook_receipts (org_id, webhook_id, event_type, received_at)"
        " SELECT * FROM unnest(CAST(:org_ids AS VARCHAR[]), CAST(:webhook_ids AS VARCHAR[]),"
        " CAST(:event_types AS VARCHAR[]), CAST(:received AS TIMESTAMPTZ[]))"
        " ON CONFLICT (org_id, webhook_id) DO NOTHING RETURNING org_id, webhook_id"
    )
    .bindparams(
        bindparam("org_ids", type_=ARRAY(String)),
        bindparam("webhook_ids", type_=ARRAY(String)),
        bindparam("event_types", type_=ARRAY(String)),
        bindparam("received", type_=ARRAY(DateTime(timezone=True))),
    )
    .columns(org_id=String, webhook_id=String)
)
"""A group's receipts in one round trip (PostgreSQL): those it inserted come back."""
_FORGET_RECEIPT = delete(_RECEIPTS).where(
    _RECEIPTS.c.org_id == bindparam("org_id"), _RECEIPTS.c.webhook_id == bindparam("webhook_id")
)


class Receipts:
    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def record(self, org_id: str, webhook_id: str, event_type: str, at: dt.datetime) -> bool:
        """Remember a `webhook-id`; False when this organisation sent it before."""
        statement = _RECEIPT[self._s.get_bind().dialect.name]
        row = {"org_id": org_id, "webhook_id": webhook_id, "event_type": event_type}
        return await _run(self._s, statement, {**row, "received_at": at}) > 0

    async def record_many(self, receipts: Sequence[Receipt]) -> list[bool]:
        """Each as `record` would, in order: on PostgreSQL in one statement, where a round
        trip per event was a good part of a group's time."""
        if self._s.get_bind().dialect.name != "postgresql":
            return [await self.record(*receipt) for receipt in receipts]
        rows = await _rows(
            self._s,
            _RECEIPTS_PG,
            org_ids=[r.org_id for r in receipts],
            webhook_ids=[r.webhook_id for r in receipts],
            event_types=[r.event_type for r in receipts],
            received=[r.at for r in receipts],
        )
        inserted = {(row.org_id, row.webhook_id) for row in rows}
        new = []
        for r in receipts:
            key = (r.org_id, r.webhook_id)
            new.append(key in inserted)
            inserted.discard(key)  # the same id again in one group is a redelivery
        return new

    async def forget(self, org_id: str, webhook_id: str) -> None:
        """Undo `record` of a delivery this transaction recorded and will not apply."""
        await _run(self._s, _FORGET_RECEIPT, {"org_id": org_id, "webhook_id": webhook_id})


def _token_record(row: ApiToken) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        org_id=row.org_id,
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class Tokens:
    """API bearer tokens by their SHA-256 digest; satisfies `handlers.ports.TokensPort`."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def create(self, org_id: str, digest: str, label: str, at: dt.datetime) -> TokenRecord:
        row = ApiToken(org_id=org_id, token_sha256=digest, label=label, created_at=at)
        self._s.add(row)
        await self._s.flush()
        return _token_record(row)

    async def find(self, digest: str) -> TokenRecord | None:
        row = await self._s.scalar(
            select(ApiToken).where(ApiToken.token_sha256 == digest, ApiToken.revoked_at.is_(None))
        )
        return None if row is None else _token_record(row)

    async def of_org(self, org_id: str) -> tuple[TokenRecord, ...]:
        rows = await self._s.scalars(
            select(ApiToken).where(ApiToken.org_id == org_id).order_by(ApiToken.id)
        )
        return tuple(_token_record(r) for r in rows)

    async def revoke(self, org_id: str, token_id: int, at: dt.datetime) -> TokenRecord | None:
        row = await self._s.get(ApiToken, token_id)
        if row is None or row.org_id != org_id:
            return None
        if row.revoked_at is None:
            row.revoked_at = at
            await self._s.flush()
        return _token_record(row)

    async def touch(self, token_id: int, at: dt.datetime) -> None:
        await self._s.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=at)
        )


_secrets = cast(Table, WebhookSecret.__table__).c
_VALID_SECRETS = (
    select(_secrets.secret)
    .where(
        _secrets.org_id == bindparam("org_id"),
        _secrets.valid_until.is_(None) | (_secrets.valid_until > bindparam("at")),
    )
    .order_by(_secrets.id.desc())
)


class WebhookSecrets:
    """Satisfies `handlers.ports.WebhookSecretsPort`."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def add(
        self, org_id: str, secret: str, at: dt.datetime, keep_previous_until: dt.datetime
    ) -> int:
        await self._s.execute(
            update(WebhookSecret)
            .where(WebhookSecret.org_id == org_id, WebhookSecret.valid_until.is_(None))
            .values(valid_until=keep_previous_until)
        )
        row = WebhookSecret(org_id=org_id, secret=secret, created_at=at)
        self._s.add(row)
        await self._s.flush()
        return row.id

    async def valid(self, org_id: str, at: dt.datetime) -> tuple[str, ...]:
        """Read for every signed request: a plain statement, compiled once."""
        return tuple(r.secret for r in await _rows(self._s, _VALID_SECRETS, org_id=org_id, at=at))


# --- chat channels ------------------------------------------------------------------------


def _channel_record(row: ChatChannel) -> ChannelRecord:
    return ChannelRecord(
        platform=cast(Platform, row.platform),
        tenant=row.tenant,
        channel_id=row.channel_id,
        team_id=row.team_id,
        reference=row.reference,
        updated_at=row.updated_at,
    )


class Channels:
    """Satisfies `handlers.ports.ChatChannelsPort`."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def _row(self, platform: Platform, tenant: str, channel_id: str) -> ChatChannel | None:
        return await self._s.scalar(
            select(ChatChannel).where(
                ChatChannel.platform == platform,
                ChatChannel.tenant == tenant,
                ChatChannel.channel_id == channel_id,
            )
        )

    async def remember(
        self,
        platform: Platform,
        tenant: str,
        channel_id: str,
        *,
        team_id: str | None,
        reference: str,
        at: dt.datetime,
    ) -> bool:
        row = await self._row(platform, tenant, channel_id)
        if row is None:
            self._s.add(
                ChatChannel(
                    platform=platform,
                    tenant=tenant,
                    channel_id=channel_id,
                    team_id=team_id,
                    reference=reference,
                    updated_at=at,
                )
            )
            await self._s.flush()
            return True
        if (row.team_id, row.reference) == (team_id, reference):
            return False
        row.team_id, row.reference, row.updated_at = team_id, reference, at
        await self._s.flush()
        return True

    async def get(self, platform: Platform, tenant: str, channel_id: str) -> ChannelRecord | None:
        row = await self._row(platform, tenant, channel_id)
        return None if row is None else _channel_record(row)

    async def forget(self, platform: Platform, tenant: str, channel_id: str) -> bool:
        result = await self._s.execute(
            delete(ChatChannel).where(
                ChatChannel.platform == platform,
                ChatChannel.tenant == tenant,
                ChatChannel.channel_id == channel_id,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def link_team(self, team_id: int, platform: Platform, channel_id: str) -> bool:
        row = await self._s.get(Team, team_id)
        if row is None:
            return False
        column = f"{platform}_channel_id"
        if getattr(row, column) == channel_id:
            return False
        setattr(row, column, channel_id)
        await self._s.flush()
        return True

    async def _latest(self, *where: Any) -> ChannelRecord | None:
        row = await self._s.scalar(
            select(ChatChannel)
            .where(*where)
            .order_by(ChatChannel.updated_at.desc(), ChatChannel.id.desc())
            .limit(1)
        )
        return None if row is None else _channel_record(row)

    async def find(self, platform: Platform, channel_id: str) -> ChannelRecord | None:
        """Channel ids are unique within a platform in practice; the freshest wins if not."""
        return await self._latest(
            ChatChannel.platform == platform, ChatChannel.channel_id == channel_id
        )

    async def any_in(self, platform: Platform, tenant: str) -> ChannelRecord | None:
        return await self._latest(ChatChannel.platform == platform, ChatChannel.tenant == tenant)


# --- the unit of work ------------------------------------------------------------------


class Store:
    """Every repository over one session; satisfies `handlers.ports.UnitOfWork`."""

    def __init__(
        self, session: AsyncSession, orgs: dict[str, OrgRecord], known: KnownCaseloads
    ) -> None:
        self.session = session
        self.kept = kept = _Kept(known)
        self.orgs = Organisations(session, orgs)
        self.teams = Teams(session)
        self.people = People(session, kept)
        self.directory = Directory(session)
        self.cases = Cases(session, kept)
        self.allocations = Allocations(session, kept)
        self.breaches = Breaches(session)
        self.receipts = Receipts(session)
        self.tokens = Tokens(session)
        self.webhook_secrets = WebhookSecrets(session)
        self.audit = AuditLog(session)
        self.channels = Channels(session)
        self.outbox = Outbox(session)
        self.supervisions = Supervisions(session)
        self.runs = Runs(session)
        self.reports = Reports(session)
        self.cohorts = Cohorts(session)


@dataclass(frozen=True, slots=True)
class _Appending:
    org: str
    record: AuditRecord
    actor: str
    at: dt.datetime
    done: asyncio.Future[int]


class Storage:
    """Opens transactions over a `Database`; satisfies `handlers.ports.Transactions`.

    Database failures leave here as `handlers.errors.StorageError`, never as a driver's
    or SQLAlchemy's own exception.
    """

    def __init__(self, db: Database, retry_attempts: int = 4) -> None:
        self.db = db
        self._attempts = retry_attempts
        self._audit_queue: list[_Appending] = []
        self._audit_writer: asyncio.Task[None] | None = None
        self._orgs: dict[str, OrgRecord] = {}
        self._caseloads = KnownCaseloads()
        self._sqlite_audit = None if db.sqlite_writer is None else SqliteAppender(db.engine.dialect)

    async def audit(self, org_id: str, record: AuditRecord, actor: str, at: dt.datetime) -> int:
        """Group commit: one writer takes every row waiting into one transaction, so a
        burst of answers costs a few commits, not one each behind the write lock."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._audit_queue.append(_Appending(org_id, record, actor, at, done))
        if self._audit_writer is None or self._audit_writer.done():
            self._audit_writer = asyncio.create_task(self._write_audit())
        return await done

    async def _write_audit(self) -> None:
        while self._audit_queue:
            batch, self._audit_queue = self._audit_queue, []

            async def once(batch: list[_Appending] = batch) -> list[int]:
                rows = [(a.org, a.record, a.actor, a.at) for a in batch]
                if self._sqlite_audit is not None:
                    with storage_errors():
                        return await self.db.write_sqlite(
                            partial(self._sqlite_audit.append_many, rows=rows), urgent=True
                        )
                async with self.write(urgent=True) as uow:
                    return await uow.audit.append_many(rows)

            try:
                seqs = await self.retry(once)
            except Exception as exc:  # every waiter hears of it; none is left hanging
                for a in batch:
                    a.done.set_exception(exc)
            else:
                for a, seq in zip(batch, seqs, strict=True):
                    a.done.set_result(seq)

    @asynccontextmanager
    async def write(self, urgent: bool = False) -> AsyncIterator[Store]:
        """A serialised write transaction: commits once at the end, or rolls back.
        `urgent`: someone is waiting for it in chat; it goes ahead of queued webhooks."""
        with storage_errors():
            async with self.db.write(urgent) as session:
                store = Store(session, self._orgs, self._caseloads)
                yield store
                await store.audit.flush()
            store.kept.committed()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Store]:
        with storage_errors():
            async with self.db.read() as session:
                yield Store(session, self._orgs, self._caseloads)

    async def retry[T](self, work: Callable[[], Awaitable[T]]) -> T:
        failures = 0
        while True:
            try:
                return await work()
            except (Busy, Conflicted) as exc:
                failures += 1
                if failures >= self._attempts:
                    raise Busy() from exc
                await asyncio.sleep(0.02 * 2**failures)

    async def ping(self) -> None:
        with storage_errors():
            async with self.db.read() as session:
                await session.execute(select(1))
