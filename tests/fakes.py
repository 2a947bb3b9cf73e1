"""An in-memory implementation of every port in `handlers.ports`, for testing use cases
without a database: plain dicts and lists in one `FakeState`.

It behaves as `storage.repositories` does wherever a use case depends on it: an event
older than a row's last change leaves the row alone, and each method says whether
anything changed. A write transaction works on a copy of the state and commits it only
when its body returns, so a use case that raises leaves nothing behind.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol

from handlers.audit import AuditRecord
from handlers.errors import Busy, OrganisationExists
from handlers.ports import (
    DEFAULT_WEEKDAY,
    AllocationRecord,
    AuditRow,
    BreachChange,
    BreachEvent,
    BreachEventKind,
    BreachRecord,
    CaseRecord,
    ChainProblem,
    ChannelRecord,
    ChatIdentityRecord,
    Checkpoint,
    NewMessage,
    NqswFacts,
    OrgRecord,
    OutboxDepth,
    OutboxMessage,
    PersonRecord,
    Platform,
    Receipt,
    ReportPicture,
    Source,
    TeamRecord,
    TokenRecord,
    Transactions,
    UnitOfWork,
)
from policy import Breach, Caseload, PolicyFile, Role, StaffRole, Worker
from policy.requests import parse_pause

PLACEHOLDER_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""`occurred_at` of what exists only because something referred to it: any event wins."""
GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Stamped[R]:
    """A value and when the event that last changed it happened."""

    value: R
    occurred_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AsyeRow:
    start: dt.date
    fte: float
    assessor_id: int | None


@dataclass(frozen=True, slots=True)
class TokenRow:
    record: TokenRecord
    digest: str


@dataclass(frozen=True, slots=True)
class SecretRow:
    id: int
    org_id: str
    secret: str
    valid_until: dt.datetime | None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A queued message and who is sending it now (a lease that ran out is free again)."""

    message: OutboxMessage
    lease_until: dt.datetime | None = None
    leased_by: str | None = None


@dataclass
class FakeState:
    """Everything stored, as the tables would hold it."""

    last_id: int = 0
    orgs: dict[str, OrgRecord] = field(default_factory=dict)
    teams: dict[tuple[str, str], Stamped[TeamRecord]] = field(default_factory=dict)
    people: dict[tuple[str, str], Stamped[PersonRecord]] = field(default_factory=dict)
    asye: dict[int, Stamped[AsyeRow]] = field(default_factory=dict)
    pauses: dict[tuple[int, dt.date], Stamped[tuple[dt.date | None, str]]] = field(
        default_factory=dict
    )
    reviews: dict[tuple[int, int], Stamped[tuple[bool, dt.date]]] = field(default_factory=dict)
    agreements: dict[tuple[int, str], Stamped[dt.date]] = field(default_factory=dict)
    chat: dict[tuple[Platform, str, str], int] = field(default_factory=dict)
    cases: dict[tuple[str, str], Stamped[CaseRecord]] = field(default_factory=dict)
    allocations: dict[int, AllocationRecord] = field(default_factory=dict)
    breaches: dict[int, BreachRecord] = field(default_factory=dict)
    receipts: set[tuple[str, str]] = field(default_factory=set)
    tokens: dict[int, TokenRow] = field(default_factory=dict)
    secrets: list[SecretRow] = field(default_factory=list)
    audit: dict[str, list[AuditRow]] = field(default_factory=dict)
    channels: dict[tuple[Platform, str, str], ChannelRecord] = field(default_factory=dict)
    outbox: dict[int, OutboxEntry] = field(default_factory=dict)
    supervisions: set[tuple[int, dt.date]] = field(default_factory=set)
    runs: set[tuple[str, str]] = field(default_factory=set)
    report_days: dict[str, int | None] = field(default_factory=dict)
    equality_views: dict[str, tuple[str, ...]] = field(default_factory=dict)
    cohorts: dict[tuple[int, str], Stamped[str | None]] = field(default_factory=dict)

    def new_id(self) -> int:
        self.last_id += 1
        return self.last_id

    @property
    def open_breaches(self) -> dict[tuple[int, str], Breach]:
        """The unresolved breaches (open or acknowledged) by person and rule."""
        return {
            (b.person_id, b.breach.rule): b.breach
            for b in self.breaches.values()
            if b.status != "resolved"
        }


def _put[K, R](table: dict[K, Stamped[R]], key: K, value: R, occurred_at: dt.datetime) -> bool:
    """Store `value` unless the event is older than the stored one; True if it changed."""
    old = table.get(key)
    if old is not None and occurred_at < old.occurred_at:
        return False
    table[key] = Stamped(value, occurred_at)
    return old is None or old.value != value


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


def _id_of[K, Row: _HasId](table: dict[K, Stamped[Row]], key: K, state: FakeState) -> int:
    """The stored row's id, or a new one for a row about to be inserted."""
    old = table.get(key)
    return state.new_id() if old is None else old.value.id


class FakeOrganisations:
    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def get(self, org_id: str) -> OrgRecord | None:
        return self._db.orgs.get(org_id)

    async def ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._db.orgs))

    async def create(
        self, org_id: str, name: str, policy: PolicyFile, policy_source: str, policy_yaml: str
    ) -> OrgRecord:
        if org_id in self._db.orgs:
            raise OrganisationExists(org=org_id)
        org = OrgRecord(org_id, name, policy.id, policy.version, policy_source, policy_yaml)
        self._db.orgs[org_id] = org
        return org


class FakeTeams:
    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def get_by_id(self, team_id: int) -> TeamRecord | None:
        return next((r.value for r in self._db.teams.values() if r.value.id == team_id), None)

    async def of_org(self, org_id: str) -> tuple[TeamRecord, ...]:
        mine = [r.value for (org, _), r in self._db.teams.items() if org == org_id]
        return tuple(sorted(mine, key=lambda t: t.ref))

    async def get(self, org_id: str, ref: str) -> TeamRecord | None:
        row = self._db.teams.get((org_id, ref))
        return None if row is None else row.value

    def ensure(self, org_id: str, ref: str) -> int:
        row = self._db.teams.get((org_id, ref))
        if row is not None:
            return row.value.id
        team = TeamRecord(self._db.new_id(), org_id, ref, ref, "unknown", None, None)
        self._db.teams[(org_id, ref)] = Stamped(team, PLACEHOLDER_TIME)
        return team.id

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
        key = (org_id, ref)
        team_id = _id_of(self._db.teams, key, self._db)
        held = self._db.teams.get(key)
        slack = slack_channel_id or (held.value.slack_channel_id if held else None)
        teams = teams_channel_id or (held.value.teams_channel_id if held else None)
        web = held.value.web_channel_id if held else None
        team = TeamRecord(team_id, org_id, ref, name, kind, slack, teams, web)
        return _put(self._db.teams, key, team, occurred_at)


class FakePeople:
    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def get(self, org_id: str, ref: str) -> PersonRecord | None:
        row = self._db.people.get((org_id, ref))
        return None if row is None else row.value

    async def get_by_id(self, person_id: int) -> PersonRecord | None:
        return next((r.value for r in self._db.people.values() if r.value.id == person_id), None)

    async def lock(self, org_id: str, ref: str) -> PersonRecord | None:
        return await self.get(org_id, ref)

    async def lock_many(self, org_id: str, refs: Iterable[str]) -> None:
        return None

    def _sorted(self, keep: Callable[[PersonRecord], bool]) -> tuple[PersonRecord, ...]:
        found = [r.value for r in self._db.people.values() if keep(r.value)]
        return tuple(sorted(found, key=lambda p: (p.display_name, p.ref)))

    async def in_team(self, team_id: int) -> tuple[PersonRecord, ...]:
        return self._sorted(lambda p: p.team_id == team_id)

    async def with_role(self, org_id: str, role: StaffRole) -> tuple[PersonRecord, ...]:
        return self._sorted(lambda p: p.org_id == org_id and role in p.roles)

    async def assessor_of(self, person_id: int) -> int | None:
        row = self._db.asye.get(person_id)
        return None if row is None else row.value.assessor_id

    async def ensure(self, org_id: str, ref: str) -> int:
        row = self._db.people.get((org_id, ref))
        if row is not None:
            return row.value.id
        person = PersonRecord(self._db.new_id(), org_id, ref, ref, frozenset(), None, None)
        self._db.people[(org_id, ref)] = Stamped(person, PLACEHOLDER_TIME)
        return person.id

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
        team_id = None if team_ref is None else FakeTeams(self._db).ensure(org_id, team_ref)
        manager_id = None if manager_ref is None else await self.ensure(org_id, manager_ref)
        key = (org_id, ref)
        person_id = _id_of(self._db.people, key, self._db)
        person = PersonRecord(
            person_id, org_id, ref, display_name, frozenset(roles), team_id, manager_id
        )
        return _put(self._db.people, key, person, occurred_at)

    async def set_asye(
        self,
        person_id: int,
        *,
        start: dt.date,
        fte: float,
        assessor_ref: str | None,
        occurred_at: dt.datetime,
    ) -> bool:
        person = await self.get_by_id(person_id)
        assert person is not None, f"no person {person_id}"
        assessor_id = (
            None if assessor_ref is None else await self.ensure(person.org_id, assessor_ref)
        )
        return _put(self._db.asye, person_id, AsyeRow(start, fte, assessor_id), occurred_at)

    async def record_pause(
        self,
        person_id: int,
        *,
        start: dt.date,
        end: dt.date | None,
        reason: str,
        occurred_at: dt.datetime,
    ) -> bool:
        return _put(self._db.pauses, (person_id, start), (end, reason), occurred_at)

    async def record_review(
        self, person_id: int, *, month: int, passed: bool, on: dt.date, occurred_at: dt.datetime
    ) -> bool:
        return _put(self._db.reviews, (person_id, month), (passed, on), occurred_at)

    async def record_agreement(
        self, person_id: int, *, agreement: str, on: dt.date, occurred_at: dt.datetime
    ) -> bool:
        return _put(self._db.agreements, (person_id, agreement), on, occurred_at)

    async def asye_worker(self, person_id: int) -> Worker | None:
        row = self._db.asye.get(person_id)
        if row is None:
            return None
        pauses = sorted(
            (
                (start, r.value[0])
                for (pid, start), r in self._db.pauses.items()
                if pid == person_id
            ),
            key=lambda pause: pause[0],
        )
        return Worker(
            asye_start=row.value.start,
            fte=row.value.fte,
            pauses=tuple(parse_pause({"from": start, "to": end}) for start, end in pauses),
            reviews_passed=frozenset(
                month
                for (pid, month), r in self._db.reviews.items()
                if pid == person_id and r.value[0]
            ),
            agreements=frozenset(a for pid, a in self._db.agreements if pid == person_id),
        )


class FakeDirectory:
    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def link(self, person_id: int, platform: Platform, tenant: str, user_id: str) -> bool:
        key = (platform, tenant, user_id)
        changed = self._db.chat.get(key) != person_id
        self._db.chat[key] = person_id
        return changed

    async def identities(self, person_ids: Iterable[int]) -> tuple[ChatIdentityRecord, ...]:
        wanted = set(person_ids)
        return tuple(
            ChatIdentityRecord(person_id, platform, tenant, user_id)
            for (platform, tenant, user_id), person_id in self._db.chat.items()
            if person_id in wanted
        )

    async def person(self, platform: Platform, tenant: str, user_id: str) -> PersonRecord | None:
        person_id = self._db.chat.get((platform, tenant, user_id))
        return None if person_id is None else await FakePeople(self._db).get_by_id(person_id)


class FakeCases:
    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def get(self, org_id: str, ref: str) -> CaseRecord | None:
        row = self._db.cases.get((org_id, ref))
        return None if row is None else row.value

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
        """Reopens a closed case, as storage does."""
        key = (org_id, ref)
        case_id = _id_of(self._db.cases, key, self._db)
        case = CaseRecord(
            case_id, org_id, ref, work_type, children, frozenset(flags), external, None
        )
        return _put(self._db.cases, key, case, occurred_at)

    async def close(self, org_id: str, ref: str, on: dt.date, occurred_at: dt.datetime) -> bool:
        row = self._db.cases.get((org_id, ref))
        if row is None:
            return False
        return _put(self._db.cases, (org_id, ref), replace(row.value, closed_on=on), occurred_at)

    async def holders(self, org_id: str, ref: str) -> tuple[int, ...]:
        row = self._db.cases.get((org_id, ref))
        return tuple(
            a.person_id
            for a in self._db.allocations.values()
            if row is not None and a.case_id == row.value.id and a.to_date is None
        )


class FakeAllocations:
    """A worker holds a case from `from_date` until the day before `to_date`, and not from
    the day the case closed."""

    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def caseload(self, person_id: int, on: dt.date) -> Caseload:
        cases = {row.value.id: row.value for row in self._db.cases.values()}
        held = [
            (cases[a.case_id], a)
            for a in self._db.allocations.values()
            if a.person_id == person_id
            and a.from_date <= on
            and (a.to_date is None or a.to_date > on)
        ]
        return Caseload(
            case.as_policy_case(a.role, a.overrides)
            for case, a in sorted(held, key=lambda pair: pair[0].ref)
            if case.closed_on is None or case.closed_on > on
        )

    async def open_allocation(self, case_id: int, person_id: int) -> AllocationRecord | None:
        return next(
            (a for a in self._of(case_id, person_id) if a.to_date is None),
            None,
        )

    async def latest(
        self, org_id: str, case_ref: str, person_id: int
    ) -> tuple[CaseRecord, AllocationRecord | None] | None:
        row = self._db.cases.get((org_id, case_ref))
        if row is None:
            return None
        latest = max(
            self._of(row.value.id, person_id),
            key=lambda a: (a.to_date is None, a.from_date, a.id),
            default=None,
        )
        return row.value, latest

    def _of(self, case_id: int, person_id: int) -> list[AllocationRecord]:
        return [
            a
            for a in self._db.allocations.values()
            if a.case_id == case_id and a.person_id == person_id
        ]

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
        if await self.open_allocation(case_id, person_id) is not None:
            # Storage's unique index on open allocations: its IntegrityError is retried as a
            # lost race, in vain, and surfaces as Busy.
            raise Busy()
        allocation = AllocationRecord(
            self._db.new_id(), case_id, person_id, role, on, None, source, overrides, occurred_at
        )
        self._db.allocations[allocation.id] = allocation
        return allocation

    async def end(
        self, case_id: int, person_id: int, on: dt.date, occurred_at: dt.datetime
    ) -> AllocationRecord | None:
        held = await self.open_allocation(case_id, person_id)
        if held is None or occurred_at < held.occurred_at:
            return None
        ended = replace(held, to_date=max(on, held.from_date), occurred_at=occurred_at)
        self._db.allocations[held.id] = ended
        return ended


class FakeBreaches:
    """At most one unresolved breach per (person, rule); resolved ones are kept."""

    def __init__(self, state: FakeState) -> None:
        self._db = state

    def _unresolved(self, person_id: int) -> list[BreachRecord]:
        mine = [
            b
            for b in self._db.breaches.values()
            if b.person_id == person_id and b.status != "resolved"
        ]
        return sorted(mine, key=lambda b: b.breach.rule)

    def _set_aside(self, person_id: int, rule: str) -> set[str] | None:
        """The cases of the rule's latest breach, where a person resolved that one by hand."""
        latest = max(
            (
                b
                for b in self._db.breaches.values()
                if (b.person_id, b.breach.rule) == (person_id, rule)
            ),
            key=lambda b: b.id,
            default=None,
        )
        return None if latest is None or latest.resolved_by is None else set(latest.breach.case_ids)

    async def open_for(self, person_id: int) -> tuple[Breach, ...]:
        return tuple(b.breach for b in self._unresolved(person_id))

    async def reconcile(
        self, org_id: str, person_id: int, found: Sequence[Breach], at: dt.datetime
    ) -> tuple[BreachChange, ...]:
        current = {b.breach.rule: b for b in self._unresolved(person_id)}
        opened: list[BreachRecord] = []
        for breach in found:
            held = current.pop(breach.rule, None)
            if held is not None:
                refreshed = replace(
                    held.breach,
                    detail=breach.detail,
                    remedy=breach.remedy,
                    case_ids=breach.case_ids,
                )
                self._db.breaches[held.id] = replace(held, breach=refreshed)
            elif self._set_aside(person_id, breach.rule) != set(breach.case_ids):
                record = BreachRecord(
                    id=self._db.new_id(),
                    org_id=org_id,
                    person_id=person_id,
                    breach=breach,
                    status="open",
                    opened_at=at,
                    acknowledged_at=None,
                    acknowledged_by=None,
                    plan=None,
                    resolved_at=None,
                    resolved_by=None,
                    resolution=None,
                    escalated_step=0,
                )
                self._db.breaches[record.id] = record
                opened.append(record)
        resolved = [self._db.breaches[b.id] for b in current.values()]
        for b in resolved:
            self._db.breaches[b.id] = replace(b, status="resolved", resolved_at=at)
        return tuple(BreachChange("opened", b.breach, b.id) for b in opened) + tuple(
            BreachChange("resolved", b.breach, b.id) for b in resolved
        )

    async def get(self, breach_id: int) -> BreachRecord | None:
        return self._db.breaches.get(breach_id)

    async def unresolved(self, org_id: str) -> tuple[BreachRecord, ...]:
        mine = [
            b for b in self._db.breaches.values() if b.org_id == org_id and b.status != "resolved"
        ]
        return tuple(sorted(mine, key=lambda b: (b.opened_at, b.id)))

    async def unresolved_counts(self) -> dict[str, int]:
        return dict(Counter(b.org_id for b in self._db.breaches.values() if b.status != "resolved"))

    def _change(self, breach_id: int, **values: object) -> BreachRecord | None:
        """The unresolved breach with `values` applied; None when resolved or unknown."""
        held = self._db.breaches.get(breach_id)
        if held is None or held.status == "resolved":
            return None
        changed = replace(held, **values)  # type: ignore[arg-type]
        self._db.breaches[breach_id] = changed
        return changed

    async def acknowledge(
        self, breach_id: int, by: int, plan: str | None, at: dt.datetime
    ) -> BreachRecord | None:
        return self._change(
            breach_id, status="acknowledged", acknowledged_at=at, acknowledged_by=by, plan=plan
        )

    async def resolve(
        self, breach_id: int, by: int, reason: str, at: dt.datetime
    ) -> BreachRecord | None:
        return self._change(
            breach_id, status="resolved", resolved_at=at, resolved_by=by, resolution=reason
        )

    async def escalate(self, breach_id: int, step: int, at: dt.datetime) -> bool:
        held = self._db.breaches.get(breach_id)
        if held is None or held.escalated_step >= step:
            return False
        return self._change(breach_id, escalated_step=step) is not None


class FakeReceipts:
    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def record(self, org_id: str, webhook_id: str, event_type: str, at: dt.datetime) -> bool:
        if (org_id, webhook_id) in self._db.receipts:
            return False
        self._db.receipts.add((org_id, webhook_id))
        return True

    async def record_many(self, receipts: Sequence[Receipt]) -> list[bool]:
        return [await self.record(*receipt) for receipt in receipts]

    async def forget(self, org_id: str, webhook_id: str) -> None:
        self._db.receipts.discard((org_id, webhook_id))


def row_hash(org_id: str, row: AuditRow) -> str:
    content = [org_id, row.seq, row.at.isoformat(), row.kind, row.actor, row.data, row.prev_hash]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


class FakeAuditLog:
    """One hash chain per organisation: each row carries the previous row's hash."""

    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def append(self, org_id: str, record: AuditRecord, actor: str, at: dt.datetime) -> None:
        await self.append_now(org_id, record, actor, at)

    async def append_now(
        self, org_id: str, record: AuditRecord, actor: str, at: dt.datetime
    ) -> int:
        chain = self._db.audit.setdefault(org_id, [])
        prev = chain[-1].hash if chain else GENESIS
        data = json.dumps(record.data(), sort_keys=True, separators=(",", ":"))
        row = AuditRow(len(chain) + 1, at, record.kind.value, actor, data, prev, "")
        chain.append(replace(row, hash=row_hash(org_id, row)))
        return row.seq

    async def head(self, org_id: str) -> Checkpoint | None:
        chain = self._db.audit.get(org_id)
        if not chain:
            return None
        return Checkpoint(org_id, chain[-1].seq, chain[-1].hash, chain[-1].at)

    async def verify(self, checkpoints: Sequence[Checkpoint] = ()) -> tuple[ChainProblem, ...]:
        problems: list[ChainProblem] = []
        for org_id in sorted(set(self._db.orgs) | set(self._db.audit)):
            chain = self._db.audit.get(org_id, [])
            prev = GENESIS
            for seq, row in enumerate(chain, start=1):
                if (row.seq, row.prev_hash, row.hash) != (seq, prev, row_hash(org_id, row)):
                    problems.append(ChainProblem(org_id, seq, "altered or removed"))
                    break
                prev = row.hash
            if not chain:
                problems.append(ChainProblem(org_id, 1, "the chain is empty"))
        for c in checkpoints:
            chain = self._db.audit.get(c.org, [])
            if not 0 < c.seq <= len(chain) or chain[c.seq - 1].hash != c.hash:
                problems.append(ChainProblem(c.org, c.seq, "the checkpoint is not in the chain"))
        return tuple(problems)

    async def export(
        self, org_id: str, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[AuditRow]:
        for row in self._db.audit.get(org_id, []):
            if start <= row.at < end:
                yield row


class FakeTokens:
    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def create(self, org_id: str, digest: str, label: str, at: dt.datetime) -> TokenRecord:
        record = TokenRecord(self._db.new_id(), org_id, label, at, None, None)
        self._db.tokens[record.id] = TokenRow(record, digest)
        return record

    async def find(self, digest: str) -> TokenRecord | None:
        return next(
            (
                row.record
                for row in self._db.tokens.values()
                if row.digest == digest and row.record.revoked_at is None
            ),
            None,
        )

    async def of_org(self, org_id: str) -> tuple[TokenRecord, ...]:
        return tuple(row.record for row in self._db.tokens.values() if row.record.org_id == org_id)

    async def revoke(self, org_id: str, token_id: int, at: dt.datetime) -> TokenRecord | None:
        row = self._db.tokens.get(token_id)
        if row is None or row.record.org_id != org_id:
            return None
        if row.record.revoked_at is None:
            row = replace(row, record=replace(row.record, revoked_at=at))
            self._db.tokens[token_id] = row
        return row.record

    async def touch(self, token_id: int, at: dt.datetime) -> None:
        row = self._db.tokens.get(token_id)
        if row is not None:
            self._db.tokens[token_id] = replace(row, record=replace(row.record, last_used_at=at))


class FakeWebhookSecrets:
    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def add(
        self, org_id: str, secret: str, at: dt.datetime, keep_previous_until: dt.datetime
    ) -> int:
        self._db.secrets = [
            replace(s, valid_until=keep_previous_until)
            if s.org_id == org_id and s.valid_until is None
            else s
            for s in self._db.secrets
        ]
        row = SecretRow(self._db.new_id(), org_id, secret, None)
        self._db.secrets.append(row)
        return row.id

    async def valid(self, org_id: str, at: dt.datetime) -> tuple[str, ...]:
        return tuple(
            s.secret
            for s in reversed(self._db.secrets)
            if s.org_id == org_id and (s.valid_until is None or s.valid_until > at)
        )


class FakeChannels:
    def __init__(self, state: FakeState) -> None:
        self._db = state

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
        key = (platform, tenant, channel_id)
        old = self._db.channels.get(key)
        if old is not None and (old.team_id, old.reference) == (team_id, reference):
            return False
        self._db.channels[key] = ChannelRecord(platform, tenant, channel_id, team_id, reference, at)
        return True

    async def get(self, platform: Platform, tenant: str, channel_id: str) -> ChannelRecord | None:
        return self._db.channels.get((platform, tenant, channel_id))

    async def forget(self, platform: Platform, tenant: str, channel_id: str) -> bool:
        return self._db.channels.pop((platform, tenant, channel_id), None) is not None

    async def link_team(self, team_id: int, platform: Platform, channel_id: str) -> bool:
        for key, stamped in self._db.teams.items():
            team = stamped.value
            if team.id != team_id:
                continue
            if platform == "slack":
                changed = replace(team, slack_channel_id=channel_id)
            elif platform == "teams":
                changed = replace(team, teams_channel_id=channel_id)
            else:
                changed = replace(team, web_channel_id=channel_id)
            if changed == team:
                return False
            self._db.teams[key] = Stamped(changed, stamped.occurred_at)
            return True
        return False

    def _latest(
        self, platform: Platform, tenant: str | None, channel_id: str | None
    ) -> ChannelRecord | None:
        return max(
            (
                c
                for c in self._db.channels.values()
                if c.platform == platform
                and tenant in (None, c.tenant)
                and channel_id in (None, c.channel_id)
            ),
            key=lambda c: c.updated_at,
            default=None,
        )

    async def find(self, platform: Platform, channel_id: str) -> ChannelRecord | None:
        return self._latest(platform, None, channel_id)

    async def any_in(self, platform: Platform, tenant: str) -> ChannelRecord | None:
        return self._latest(platform, tenant, None)


class FakeOutbox:
    """After `claim`, every step but `sent` applies to a pending message only, as in storage."""

    def __init__(self, state: FakeState) -> None:
        self._db = state

    def _find(self, org_id: str, key: str) -> OutboxEntry | None:
        return next(
            (
                e
                for e in self._db.outbox.values()
                if (e.message.org_id, e.message.key) == (org_id, key)
            ),
            None,
        )

    async def add(self, org_id: str, messages: Sequence[NewMessage], at: dt.datetime) -> int:
        """Edits are coalesced against what was queued before the call, then the rest is
        inserted, the first of each key winning: the order storage works in."""
        rest: list[NewMessage] = []
        for m in messages:
            original = None if m.edits is None else self._find(org_id, m.edits)
            if (
                original is not None
                and original.message.status == "pending"
                and original.lease_until is None
                and self._find(org_id, m.key) is None
            ):
                self._put(replace(original.message, body=m.body))
            else:
                rest.append(m)
        added = 0
        for m in rest:
            if self._find(org_id, m.key) is None:
                self._put(
                    OutboxMessage(
                        id=self._db.new_id(),
                        org_id=org_id,
                        status="pending",
                        attempts=0,
                        last_error=None,
                        posted_conversation=None,
                        posted_message=None,
                        created_at=at,
                        sent_at=None,
                        **asdict(m),
                    )
                )
                added += 1
        return added

    def _put(self, message: OutboxMessage, lease: tuple[dt.datetime, str] | None = None) -> None:
        self._db.outbox[message.id] = OutboxEntry(message, *(lease or (None, None)))

    def _pending(self, message_id: int, **values: object) -> None:
        entry = self._db.outbox.get(message_id)
        if entry is not None and entry.message.status == "pending":
            self._put(replace(entry.message, **values))  # type: ignore[arg-type]

    async def cancel(self, org_id: str, breach_id: int, topics: Sequence[str]) -> int:
        hits = [
            e.message
            for e in self._db.outbox.values()
            if (e.message.org_id, e.message.breach_id, e.message.status)
            == (org_id, breach_id, "pending")
            and e.message.topic in topics
        ]
        for m in hits:
            self._put(replace(m, status="cancelled"))
        return len(hits)

    async def claim(
        self, now: dt.datetime, limit: int, lease_until: dt.datetime, worker: str
    ) -> tuple[OutboxMessage, ...]:
        free = [
            e.message
            for e in self._db.outbox.values()
            if e.message.status == "pending"
            and e.message.due_at <= now
            and (e.lease_until is None or e.lease_until < now)
        ]
        taken = sorted(free, key=lambda m: (m.due_at, m.id))[:limit]
        for m in taken:
            self._put(m, (lease_until, worker))
        return tuple(taken)

    async def get(self, org_id: str, key: str) -> OutboxMessage | None:
        entry = self._find(org_id, key)
        return None if entry is None else entry.message

    async def of_breach(self, breach_id: int, topics: Sequence[str]) -> tuple[OutboxMessage, ...]:
        return tuple(
            e.message
            for _, e in sorted(self._db.outbox.items())
            if e.message.breach_id == breach_id and e.message.topic in topics
        )

    async def sent(
        self, message_id: int, conversation: str | None, message: str | None, at: dt.datetime
    ) -> None:
        entry = self._db.outbox.get(message_id)
        if entry is not None:
            self._put(
                replace(
                    entry.message,
                    status="sent",
                    sent_at=at,
                    posted_conversation=conversation,
                    posted_message=message,
                )
            )

    async def retry_later(self, message_id: int, error: str, due_at: dt.datetime) -> None:
        entry = self._db.outbox.get(message_id)
        if entry is not None:
            attempts = entry.message.attempts + 1
            self._pending(message_id, attempts=attempts, last_error=error, due_at=due_at)

    async def postpone(self, message_id: int, due_at: dt.datetime) -> None:
        self._pending(message_id, due_at=due_at)

    async def park(self, message_id: int, error: str, at: dt.datetime) -> None:
        entry = self._db.outbox.get(message_id)
        if entry is not None:
            attempts = entry.message.attempts + 1
            self._pending(message_id, status="failed", attempts=attempts, last_error=error)

    def _failed(self, org_id: str | None) -> list[OutboxMessage]:
        return sorted(
            (
                e.message
                for e in self._db.outbox.values()
                if e.message.status == "failed" and org_id in (None, e.message.org_id)
            ),
            key=lambda m: m.id,
        )

    async def failed(self, org_id: str | None) -> tuple[OutboxMessage, ...]:
        return tuple(self._failed(org_id))

    async def requeue(self, org_id: str | None, ids: Sequence[int], at: dt.datetime) -> int:
        again = [m for m in self._failed(org_id) if not ids or m.id in ids]
        for m in again:
            self._put(replace(m, status="pending", due_at=at, attempts=0))
        return len(again)

    async def depth(self, now: dt.datetime) -> OutboxDepth:
        pending = [e.message for e in self._db.outbox.values() if e.message.status == "pending"]
        return OutboxDepth(
            pending=len(pending),
            failed=len(self._failed(None)),
            oldest_due=min((m.due_at for m in pending if m.due_at <= now), default=None),
        )


class FakeSupervisions:
    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def record(self, person_id: int, on: dt.date, at: dt.datetime) -> bool:
        if (person_id, on) in self._db.supervisions:
            return False
        self._db.supervisions.add((person_id, on))
        return True

    async def last(self, person_id: int) -> dt.date | None:
        return max((on for pid, on in self._db.supervisions if pid == person_id), default=None)


class FakeRuns:
    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def claim(self, job: str, key: str, at: dt.datetime) -> bool:
        if (job, key) in self._db.runs:
            return False
        self._db.runs.add((job, key))
        return True

    async def claimed(self, job: str, key: str) -> bool:
        return (job, key) in self._db.runs


BREACH_EVENTS: dict[str, BreachEventKind] = {
    "breach_opened": "opened",
    "breach_acknowledged": "acknowledged",
    "breach_resolved": "resolved",
}


class FakeReports:
    """The report's picture assembled from the other fakes, one person at a time."""

    def __init__(self, state: FakeState) -> None:
        self._db = state
        self._people = FakePeople(state)
        self._allocations = FakeAllocations(state)

    async def picture(
        self, org_id: str, team_id: int | None, on: dt.date, until: dt.datetime
    ) -> ReportPicture:
        nqsws: list[NqswFacts] = []
        for person in sorted((r.value for r in self._db.people.values()), key=lambda p: p.ref):
            if person.org_id != org_id or team_id not in (None, person.team_id):
                continue
            worker = await self._people.asye_worker(person.id)
            if worker is None:
                continue
            last = max(
                (d for pid, d in self._db.supervisions if pid == person.id and d <= on),
                default=None,
            )
            caseload = await self._allocations.caseload(person.id, on)
            nqsws.append(NqswFacts(person, worker, caseload, last))
        refs = {n.person.ref for n in nqsws}
        events = []
        for row in self._db.audit.get(org_id, []):
            kind = BREACH_EVENTS.get(row.kind)
            if kind is not None and row.at <= until:
                data = json.loads(row.data)
                if data["worker"] in refs:
                    events.append(
                        BreachEvent(
                            row.at,
                            kind,
                            data["worker"],
                            data["rule"],
                            data.get("clause"),
                            tuple(data["cases"]),
                        )
                    )
        teams = sorted(
            (
                r.value
                for r in self._db.teams.values()
                if r.value.org_id == org_id and team_id in (None, r.value.id)
            ),
            key=lambda t: t.ref,
        )
        return ReportPicture(
            teams=tuple(teams),
            nqsws=tuple(nqsws),
            breach_events=tuple(events),
        )

    async def weekday(self, org_id: str) -> int | None:
        return self._db.report_days.get(org_id, DEFAULT_WEEKDAY)

    async def set_weekday(self, org_id: str, weekday: int | None, at: dt.datetime) -> bool:
        if await self.weekday(org_id) == weekday:
            return False
        self._db.report_days[org_id] = weekday
        return True


class FakeCohorts:
    def __init__(self, state: FakeState) -> None:
        self._db = state

    async def attributes(self, org_id: str) -> tuple[str, ...] | None:
        return self._db.equality_views.get(org_id)

    async def set_attributes(
        self, org_id: str, attributes: tuple[str, ...] | None, at: dt.datetime
    ) -> int:
        if attributes is None:
            self._db.equality_views.pop(org_id, None)
        else:
            self._db.equality_views[org_id] = tuple(sorted(attributes))
        people = {r.value.id for r in self._db.people.values() if r.value.org_id == org_id}
        gone = [
            key
            for key in self._db.cohorts
            if key[0] in people and (attributes is None or key[1] not in attributes)
        ]
        return sum(self._db.cohorts.pop(key).value is not None for key in gone)

    async def set_values(
        self, person_id: int, values: Mapping[str, str | None], occurred_at: dt.datetime
    ) -> bool:
        changed = False
        for attribute, value in values.items():
            row = self._db.cohorts.get((person_id, attribute))
            if row is None or occurred_at >= row.occurred_at:
                changed |= (None if row is None else row.value) != value
                self._db.cohorts[(person_id, attribute)] = Stamped(value, occurred_at)
        return changed

    async def of_org(self, org_id: str) -> dict[str, dict[str, str]]:
        refs = {
            r.value.id: r.value.ref for r in self._db.people.values() if r.value.org_id == org_id
        }
        out: dict[str, dict[str, str]] = {}
        for (person_id, attribute), row in self._db.cohorts.items():
            if person_id in refs and row.value is not None:
                out.setdefault(refs[person_id], {})[attribute] = row.value
        return out


class FakeStore:
    """The repositories of one transaction, over one copy of the state."""

    def __init__(self, state: FakeState) -> None:
        self.orgs = FakeOrganisations(state)
        self.teams = FakeTeams(state)
        self.receipts = FakeReceipts(state)
        self.people = FakePeople(state)
        self.directory = FakeDirectory(state)
        self.cases = FakeCases(state)
        self.allocations = FakeAllocations(state)
        self.breaches = FakeBreaches(state)
        self.audit = FakeAuditLog(state)
        self.tokens = FakeTokens(state)
        self.webhook_secrets = FakeWebhookSecrets(state)
        self.reports = FakeReports(state)
        self.channels = FakeChannels(state)
        self.outbox = FakeOutbox(state)
        self.supervisions = FakeSupervisions(state)
        self.runs = FakeRuns(state)
        self.cohorts = FakeCohorts(state)


class FakeTransactions:
    """`state` is what is committed; tests read it, and may compare copies of it."""

    def __init__(self) -> None:
        self.state = FakeState()
        self.busy = False
        """While True every write transaction fails as a database that stays locked would."""

    @asynccontextmanager
    async def write(self, urgent: bool = False) -> AsyncIterator[FakeStore]:
        if self.busy:
            raise Busy()
        draft = copy.deepcopy(self.state)
        yield FakeStore(draft)
        self.state = draft

    @asynccontextmanager
    async def read(self) -> AsyncIterator[FakeStore]:
        """A copy that is thrown away: nothing done through it is kept."""
        yield FakeStore(copy.deepcopy(self.state))

    async def audit(self, org_id: str, record: AuditRecord, actor: str, at: dt.datetime) -> int:
        async with self.write() as uow:
            return await uow.audit.append_now(org_id, record, actor, at)

    async def retry[T](self, work: Callable[[], Awaitable[T]]) -> T:
        """Once: nothing races in memory."""
        return await work()

    async def ping(self) -> None:
        return None


@dataclass
class BusyAfter:
    """The real transactions, until `writes` have committed: then every write is Busy, as
    when another process holds the database."""

    inner: Transactions
    writes: int

    @asynccontextmanager
    async def write(self, urgent: bool = False) -> AsyncIterator[UnitOfWork]:
        if self.writes <= 0:
            raise Busy()
        async with self.inner.write(urgent) as uow:
            yield uow
        self.writes -= 1

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self.inner.read()

    async def audit(self, org_id: str, record: AuditRecord, actor: str, at: dt.datetime) -> int:
        return await self.inner.audit(org_id, record, actor, at)

    async def retry[T](self, work: Callable[[], Awaitable[T]]) -> T:
        return await self.inner.retry(work)

    async def ping(self) -> None:
        await self.inner.ping()


_: Transactions = FakeTransactions()
"""mypy checks here that the fake satisfies every port."""
