"""What the use cases need from storage, as interfaces (storage implements them).

Handlers depend on these protocols and records only, so they can be tested and reused
by chat, the decision API, webhooks and imports alike. Records are plain frozen values;
the caseload and ASYE record come back as the policy engine's own `Case` and `Worker`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from policy import Breach, Case, Role, StaffRole, Worker

JsonValue = str | int | float | bool | None | Sequence["JsonValue"] | Mapping[str, "JsonValue"]


class Source(StrEnum):
    """Where an allocation came from."""

    WEBHOOK = "webhook"
    CHAT = "chat"
    API = "api"
    IMPORT = "import"


class AuditKind(StrEnum):
    ORGANISATION_CREATED = "organisation_created"
    POLICY_CHANGED = "policy_changed"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    DECISION = "decision"
    OVERRIDE = "override"
    ALLOCATION_STARTED = "allocation_started"
    ALLOCATION_ENDED = "allocation_ended"
    BREACH_OPENED = "breach_opened"
    BREACH_RESOLVED = "breach_resolved"


@dataclass(frozen=True, slots=True)
class OrgRecord:
    id: str
    name: str
    policy_id: str
    policy_version: str
    policy_source: str
    policy_yaml: str
    time_zone: str


@dataclass(frozen=True, slots=True)
class TeamRecord:
    id: int
    org_id: str
    ref: str
    name: str
    kind: str
    slack_channel_id: str | None
    teams_channel_id: str | None


@dataclass(frozen=True, slots=True)
class PersonRecord:
    id: int
    org_id: str
    ref: str
    display_name: str
    roles: frozenset[StaffRole]
    team_id: int | None
    manager_id: int | None


@dataclass(frozen=True, slots=True)
class CaseRecord:
    id: int
    org_id: str
    ref: str
    work_type: str
    children: int
    flags: frozenset[str]
    external: bool
    closed_on: dt.date | None

    def as_policy_case(self, role: Role, overrides: frozenset[str] = frozenset()) -> Case:
        return Case(
            case_id=self.ref,
            work_type=self.work_type,
            children=self.children,
            role=role,
            flags=self.flags,
            external=self.external,
            overrides=overrides,
        )


@dataclass(frozen=True, slots=True)
class AllocationRecord:
    id: int
    case_id: int
    person_id: int
    role: Role
    from_date: dt.date
    to_date: dt.date | None
    source: Source
    overrides: frozenset[str]
    occurred_at: dt.datetime
    """When the event that last changed it (its start, or its end) happened."""


@dataclass(frozen=True, slots=True)
class BreachChange:
    """A breach that opened, or an open one that is no longer found."""

    change: Literal["opened", "resolved"]
    breach: Breach


Platform = Literal["slack", "teams"]


class OrganisationsPort(Protocol):
    async def get(self, org_id: str) -> OrgRecord | None: ...


class TeamsPort(Protocol):
    async def get(self, org_id: str, ref: str) -> TeamRecord | None: ...

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
    ) -> bool: ...


class PeoplePort(Protocol):
    async def get(self, org_id: str, ref: str) -> PersonRecord | None: ...

    async def get_by_id(self, person_id: int) -> PersonRecord | None: ...

    async def lock(self, org_id: str, ref: str) -> PersonRecord | None:
        """The person, locked until the transaction ends (serialises their allocations)."""
        ...

    async def asye_worker(self, person_id: int) -> Worker | None:
        """The ASYE record as the policy engine needs it; None when not on the ASYE."""
        ...

    async def ensure(self, org_id: str, ref: str) -> int:
        """The person's id, creating a placeholder that their own event will fill in."""
        ...

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
    ) -> bool: ...

    async def link_chat(
        self, person_id: int, platform: Platform, tenant: str, user_id: str
    ) -> bool: ...

    async def set_asye(
        self,
        person_id: int,
        *,
        start: dt.date,
        fte: float,
        assessor_ref: str | None,
        occurred_at: dt.datetime,
    ) -> bool: ...

    async def record_pause(
        self,
        person_id: int,
        *,
        start: dt.date,
        end: dt.date | None,
        reason: str,
        occurred_at: dt.datetime,
    ) -> bool: ...

    async def record_review(
        self, person_id: int, *, month: int, passed: bool, on: dt.date, occurred_at: dt.datetime
    ) -> bool: ...

    async def record_agreement(
        self, person_id: int, *, agreement: str, on: dt.date, occurred_at: dt.datetime
    ) -> bool: ...


class CasesPort(Protocol):
    async def get(self, org_id: str, ref: str) -> CaseRecord | None: ...

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
    ) -> bool: ...

    async def close(self, org_id: str, ref: str, on: dt.date, occurred_at: dt.datetime) -> bool: ...

    async def holders(self, case_id: int) -> tuple[int, ...]:
        """Ids of the people with an open allocation of this case."""
        ...


class ReceiptsPort(Protocol):
    async def record(self, webhook_id: str, org_id: str, event_type: str) -> bool:
        """False when this delivery id was seen before (a redelivery)."""
        ...


class AllocationsPort(Protocol):
    async def caseload(self, person_id: int, on: dt.date) -> tuple[Case, ...]:
        """Cases held on `on` (open allocations of cases not closed by then), with overrides."""
        ...

    async def open_allocation(self, case_id: int, person_id: int) -> AllocationRecord | None: ...

    async def latest(self, case_id: int, person_id: int) -> AllocationRecord | None:
        """The most recent allocation of this case to this person, open or ended."""
        ...

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
    ) -> AllocationRecord: ...

    async def end(
        self, case_id: int, person_id: int, on: dt.date, occurred_at: dt.datetime
    ) -> AllocationRecord | None:
        """Ends the open allocation; None when there is none or the event is older."""
        ...


class BreachesPort(Protocol):
    async def open_for(self, person_id: int) -> tuple[Breach, ...]: ...

    async def reconcile(
        self, org_id: str, person_id: int, found: Sequence[Breach], at: dt.datetime
    ) -> tuple[BreachChange, ...]:
        """Make the stored open breaches match `found`; returns what opened and resolved."""
        ...


class AuditPort(Protocol):
    async def append(
        self,
        org_id: str,
        kind: AuditKind,
        actor: str,
        data: Mapping[str, JsonValue],
        at: dt.datetime,
    ) -> int:
        """Append to the organisation's hash chain; returns the row's sequence number."""
        ...


class UnitOfWork(Protocol):
    """The repositories of one transaction."""

    @property
    def orgs(self) -> OrganisationsPort: ...
    @property
    def teams(self) -> TeamsPort: ...
    @property
    def receipts(self) -> ReceiptsPort: ...
    @property
    def people(self) -> PeoplePort: ...
    @property
    def cases(self) -> CasesPort: ...
    @property
    def allocations(self) -> AllocationsPort: ...
    @property
    def breaches(self) -> BreachesPort: ...
    @property
    def audit(self) -> AuditPort: ...


class Transactions(Protocol):
    def write(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """One write transaction: commits once on success, rolls back on any error."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-only transaction: one consistent view, no lock on writers."""
        ...
