"""What the use cases need from storage, as interfaces (storage implements them).

Handlers depend on these protocols and records only, so they can be tested and reused
by chat, the decision API, webhooks and imports alike. Records are plain frozen values;
the caseload and ASYE record come back as the policy engine's own `Case` and `Worker`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

from policy import Breach, Case, Caseload, PolicyFile, Role, StaffRole, Worker

if TYPE_CHECKING:
    from handlers.audit import AuditRecord


class Source(StrEnum):
    """Where an allocation came from."""

    WEBHOOK = "webhook"
    CHAT = "chat"
    API = "api"
    IMPORT = "import"


class AuditKind(StrEnum):
    """What an audit row records; each kind has one record type in `handlers.audit`."""

    ORGANISATION_CREATED = "organisation_created"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    WEBHOOK_SECRET_SET = "webhook_secret_set"
    DECISION = "decision"
    OVERRIDE = "override"
    ALLOCATION_STARTED = "allocation_started"
    ALLOCATION_ENDED = "allocation_ended"
    BREACH_OPENED = "breach_opened"
    BREACH_RESOLVED = "breach_resolved"
    BREACH_ACKNOWLEDGED = "breach_acknowledged"
    BREACH_ESCALATED = "breach_escalated"
    SUPERVISION_RECORDED = "supervision_recorded"
    DELIVERY_PARKED = "delivery_parked"
    CHANNEL_LINKED = "channel_linked"
    EQUALITY_VIEW_SET = "equality_view_set"


@dataclass(frozen=True, slots=True)
class OrgRecord:
    id: str
    name: str
    policy_id: str
    policy_version: str
    policy_source: str
    policy_yaml: str


@dataclass(frozen=True, slots=True)
class TeamRecord:
    id: int
    org_id: str
    ref: str
    name: str
    kind: str
    slack_channel_id: str | None
    teams_channel_id: str | None
    web_channel_id: str | None = None
    """The try-out page's channel, linked by `link this channel to team` said there."""


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
    id: int
    """The stored breach's id: what its alerts and their later edits are keyed by."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token as stored: never the token, only what an administrator may see."""

    id: int
    org_id: str
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An audit chain's head at a moment, kept elsewhere to prove later that no row at or
    before it was removed or altered."""

    org: str
    seq: int
    hash: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """Where an organisation's chain is broken: `seq` is the row altered or removed."""

    org_id: str
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"audit log of {self.org_id!r} is broken at row {self.seq}: {self.problem}"


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One row as stored: `data` is the canonical JSON of its record, as hashed."""

    seq: int
    at: dt.datetime
    kind: str
    actor: str
    data: str
    prev_hash: str
    hash: str


Platform = Literal["slack", "teams", "web"]
"""Where people chat with the bot: Slack, Microsoft Teams, or the try-out page (`web`)."""


@dataclass(frozen=True, slots=True)
class ChatIdentityRecord:
    person_id: int
    platform: Platform
    tenant: str
    user_id: str


BreachStatus = Literal["open", "acknowledged", "resolved"]


@dataclass(frozen=True, slots=True)
class BreachRecord:
    """A stored breach and where it stands. `acknowledged` is still unresolved: someone
    said they are on it. A breach resolved by a person has `resolved_by` and a reason; one
    resolved because the caseload came back within policy has neither."""

    id: int
    org_id: str
    person_id: int
    breach: Breach
    status: BreachStatus
    opened_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: int | None
    plan: str | None
    resolved_at: dt.datetime | None
    resolved_by: int | None
    resolution: str | None
    escalated_step: int
    """The last step of the policy's ladder that was fired; 0 before the first."""


OutboxStatus = Literal["pending", "sent", "failed", "cancelled"]


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to send once the transaction that wrote it commits. `key` is unique within
    the organisation: writing the same alert twice (a redelivered event, a second sweep)
    queues it once. `edits`: the key of an earlier message this one replaces in place."""

    key: str
    topic: str
    """What it is about (`breach_opened`, `escalation`, `review_due`…): for lists and metrics."""
    platform: Platform
    tenant: str
    kind: Literal["channel", "person"]
    target: str
    body: str
    """The neutral reply (`handlers.chat.replies.Reply`) as JSON."""
    due_at: dt.datetime
    breach_id: int | None = None
    edits: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    org_id: str
    key: str
    topic: str
    platform: Platform
    tenant: str
    kind: Literal["channel", "person"]
    target: str
    body: str
    due_at: dt.datetime
    breach_id: int | None
    edits: str | None
    status: OutboxStatus
    attempts: int
    last_error: str | None
    """Ids and status codes only (`HTTP 500`, `channel_not_found`), never words of the message."""
    posted_conversation: str | None
    posted_message: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    pending: int
    failed: int
    oldest_due: dt.datetime | None
    """The due time of the oldest pending message that is due, for the metrics' age."""


@dataclass(frozen=True, slots=True)
class NqswFacts:
    """An NQSW on the ASYE with what a caseload report counts of them on one day."""

    person: PersonRecord
    worker: Worker
    caseload: Caseload
    last_supervision: dt.date | None


BreachEventKind = Literal["opened", "acknowledged", "resolved"]


@dataclass(frozen=True, slots=True)
class BreachEvent:
    """A breach found, acknowledged or resolved, as the audit trail recorded it: rates over
    time, and which breaches were open at the end of a past period, come from here."""

    at: dt.datetime
    kind: BreachEventKind
    worker: str
    """The NQSW's person ref."""
    rule: str
    clause: str | None
    """On openings and resolutions."""
    cases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReportPicture:
    teams: tuple[TeamRecord, ...]
    nqsws: tuple[NqswFacts, ...]
    breach_events: tuple[BreachEvent, ...]
    """Oldest first, of the NQSWs in `nqsws` only."""


class OrganisationsPort(Protocol):
    async def get(self, org_id: str) -> OrgRecord | None: ...

    async def ids(self) -> tuple[str, ...]:
        """Every organisation, for the daily sweep."""
        ...

    async def create(
        self, org_id: str, name: str, policy: PolicyFile, policy_source: str, policy_yaml: str
    ) -> OrgRecord:
        """Raises `OrganisationExists`."""
        ...


class TeamsPort(Protocol):
    async def get(self, org_id: str, ref: str) -> TeamRecord | None: ...

    async def of_org(self, org_id: str) -> tuple[TeamRecord, ...]:
        """By ref."""
        ...

    async def get_by_id(self, team_id: int) -> TeamRecord | None: ...

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

    async def in_team(self, team_id: int) -> tuple[PersonRecord, ...]:
        """The team's members, by name."""
        ...

    async def with_role(self, org_id: str, role: StaffRole) -> tuple[PersonRecord, ...]:
        """Everyone in the organisation who holds `role`, by name."""
        ...

    async def assessor_of(self, person_id: int) -> int | None:
        """The id of the person's ASYE assessor, when one is recorded."""
        ...

    async def lock(self, org_id: str, ref: str) -> PersonRecord | None:
        """The person, locked until the transaction ends (serialises their allocations)."""
        ...

    async def lock_many(self, org_id: str, refs: Iterable[str]) -> None:
        """`lock` each of these people now, all at once and in one order, so that a later
        `lock` of any of them needs no round trip; people not yet known are left out."""
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

    async def holders(self, org_id: str, ref: str) -> tuple[int, ...]:
        """Ids of the people with an open allocation of this case (none if it is unknown)."""
        ...


class Receipt(NamedTuple):
    """A delivery to remember (`ReceiptsPort`)."""

    org_id: str
    webhook_id: str
    event_type: str
    at: dt.datetime


class ReceiptsPort(Protocol):
    async def record(self, org_id: str, webhook_id: str, event_type: str, at: dt.datetime) -> bool:
        """False when this organisation has seen this delivery id before (a redelivery)."""
        ...

    async def record_many(self, receipts: Sequence[Receipt]) -> list[bool]:
        """Each as `record` would, in order (an id that comes twice is new once at most)."""
        ...

    async def forget(self, org_id: str, webhook_id: str) -> None:
        """Undo this transaction's `record` of a delivery it will not apply after all."""
        ...


class AllocationsPort(Protocol):
    async def caseload(self, person_id: int, on: dt.date) -> Caseload:
        """Cases held on `on` (open allocations of cases not closed by then), with overrides."""
        ...

    async def open_allocation(self, case_id: int, person_id: int) -> AllocationRecord | None: ...

    async def latest(
        self, org_id: str, case_ref: str, person_id: int
    ) -> tuple[CaseRecord, AllocationRecord | None] | None:
        """The case, and its open allocation to this person; when none is open, the most
        recent ended one. None when the case is unknown. One read for what an event needs
        to know of the pair."""
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
    async def open_for(self, person_id: int) -> tuple[Breach, ...]:
        """Unresolved breaches (open or acknowledged)."""
        ...

    async def reconcile(
        self, org_id: str, person_id: int, found: Sequence[Breach], at: dt.datetime
    ) -> tuple[BreachChange, ...]:
        """Make the stored unresolved breaches match `found`; returns what opened and
        resolved. A breach a person resolved by hand is not opened again while the same rule
        is found over the same cases: they said why it is not one."""
        ...

    async def get(self, breach_id: int) -> BreachRecord | None: ...

    async def unresolved(self, org_id: str) -> tuple[BreachRecord, ...]:
        """Every open or acknowledged breach of the organisation, oldest first."""
        ...

    async def unresolved_counts(self) -> dict[str, int]:
        """How many breaches are unresolved, by organisation id (those with any): one
        grouped count, cheap enough for every scrape of the metrics."""
        ...

    async def acknowledge(
        self, breach_id: int, by: int, plan: str | None, at: dt.datetime
    ) -> BreachRecord | None:
        """Open → acknowledged (a second acknowledgement replaces who and the plan); None
        when the breach is resolved or unknown."""
        ...

    async def resolve(
        self, breach_id: int, by: int, reason: str, at: dt.datetime
    ) -> BreachRecord | None:
        """Resolved by a person with a reason; None when already resolved or unknown."""
        ...

    async def escalate(self, breach_id: int, step: int, at: dt.datetime) -> bool:
        """Record that the ladder reached `step`; False when it already had (another
        replica fired it) or the breach is resolved."""
        ...


class OutboxPort(Protocol):
    """Messages written in the transaction that caused them, delivered after it commits.
    On PostgreSQL several replicas deliver from one table, each message once: `claim`
    leases rows with `FOR UPDATE SKIP LOCKED`."""

    async def add(self, org_id: str, messages: Sequence[NewMessage], at: dt.datetime) -> int:
        """Queue what is not queued yet (by key); returns how many were new. A message
        that `edits` one still pending and unclaimed replaces its body instead of queueing
        a second message."""
        ...

    async def cancel(self, org_id: str, breach_id: int, topics: Sequence[str]) -> int:
        """Cancel the breach's pending messages of these topics (escalations not yet due
        when it is resolved); returns how many."""
        ...

    async def claim(
        self, now: dt.datetime, limit: int, lease_until: dt.datetime, worker: str
    ) -> tuple[OutboxMessage, ...]:
        """Pending messages due by `now` and not leased by a live worker, oldest due first;
        each is leased to `worker` until `lease_until` (a worker killed mid-send leaves its
        lease to run out, and another delivers it)."""
        ...

    async def get(self, org_id: str, key: str) -> OutboxMessage | None: ...

    async def of_breach(self, breach_id: int, topics: Sequence[str]) -> tuple[OutboxMessage, ...]:
        """The breach's messages of these topics, first queued first (what an edit edits)."""
        ...

    async def sent(
        self, message_id: int, conversation: str | None, message: str | None, at: dt.datetime
    ) -> None:
        """Delivered: keep the platform's ids so that an edit finds the message."""
        ...

    async def retry_later(self, message_id: int, error: str, due_at: dt.datetime) -> None:
        """One failed attempt: count it, keep the reason, release the lease until `due_at`."""
        ...

    async def postpone(self, message_id: int, due_at: dt.datetime) -> None:
        """Not an attempt (an edit waiting for its original): release the lease until `due_at`."""
        ...

    async def park(self, message_id: int, error: str, at: dt.datetime) -> None:
        """Give up after the last attempt (or a permanent failure): status `failed`."""
        ...

    async def failed(self, org_id: str | None) -> tuple[OutboxMessage, ...]: ...

    async def requeue(self, org_id: str | None, ids: Sequence[int], at: dt.datetime) -> int:
        """Failed messages (all of them, or these ids) back to pending, due at `at`, with
        their attempts reset; returns how many."""
        ...

    async def depth(self, now: dt.datetime) -> OutboxDepth: ...


class SupervisionsPort(Protocol):
    async def record(self, person_id: int, on: dt.date, at: dt.datetime) -> bool:
        """True when this supervision date was not recorded before."""
        ...

    async def last(self, person_id: int) -> dt.date | None: ...


class RunsPort(Protocol):
    """Jobs that must run once between all replicas (the daily sweep)."""

    async def claim(self, job: str, key: str, at: dt.datetime) -> bool:
        """True for the first claim of (job, key) ever; False for every later one."""
        ...

    async def claimed(self, job: str, key: str) -> bool:
        """Whether (job, key) has been claimed (and committed)."""
        ...


class AuditPort(Protocol):
    async def append(self, org_id: str, record: AuditRecord, actor: str, at: dt.datetime) -> None:
        """Append to the organisation's hash chain, after the rows appended before it. The
        chain's head is locked and moved once, as the transaction ends: a transaction of
        many events holds it for a moment, not for the whole transaction."""
        ...

    async def head(self, org_id: str) -> Checkpoint | None:
        """The chain's last row now; None before the organisation's first row."""
        ...

    async def verify(self, checkpoints: Sequence[Checkpoint] = ()) -> tuple[ChainProblem, ...]:
        """Walk every organisation's chain; each must also still hold its checkpoints."""
        ...

    def export(self, org_id: str, start: dt.datetime, end: dt.datetime) -> AsyncIterator[AuditRow]:
        """Rows with `start <= at < end`, in chain order."""
        ...


class TokensPort(Protocol):
    """API bearer tokens, kept as SHA-256 digests: storage never sees a token."""

    async def create(
        self, org_id: str, digest: str, label: str, at: dt.datetime
    ) -> TokenRecord: ...

    async def find(self, digest: str) -> TokenRecord | None:
        """The live (not revoked) token with this digest."""
        ...

    async def of_org(self, org_id: str) -> tuple[TokenRecord, ...]: ...

    async def revoke(self, org_id: str, token_id: int, at: dt.datetime) -> TokenRecord | None:
        """The token as revoked (now, or earlier); None when the organisation has no such token."""
        ...

    async def touch(self, token_id: int, at: dt.datetime) -> None:
        """Record that the token was used at `at`."""
        ...


class ChatDirectoryPort(Protocol):
    """Who a chat user is: a Slack (workspace, user), Teams (tenant, AAD object) or try-out
    page identity belongs to one person."""

    async def link(self, person_id: int, platform: Platform, tenant: str, user_id: str) -> bool:
        """Map the identity to the person (moving it if another had it); True if it changed."""
        ...

    async def person(self, platform: Platform, tenant: str, user_id: str) -> PersonRecord | None:
        """Whose identity this is: Slack (workspace, user id), Teams (tenant, AAD object id),
        the try-out page (`demo`, the person's handle)."""
        ...

    async def identities(self, person_ids: Iterable[int]) -> tuple[ChatIdentityRecord, ...]:
        """Every chat identity of these people, to reach them privately."""
        ...


class WebhookSecretsPort(Protocol):
    """An organisation's own secrets for signing case events, newest first."""

    async def add(
        self, org_id: str, secret: str, at: dt.datetime, keep_previous_until: dt.datetime
    ) -> int:
        """Store a new current secret; the previous current one stays valid until the given time."""
        ...

    async def valid(self, org_id: str, at: dt.datetime) -> tuple[str, ...]:
        """The secrets valid at `at`; empty when the organisation has none of its own."""
        ...


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """A channel the bot is installed in, and what it needs to post there unasked."""

    platform: Platform
    tenant: str
    channel_id: str
    team_id: str | None
    """The platform's own id of the team the channel belongs to (not a `TeamRecord`)."""
    reference: str
    """The platform's conversation reference, as JSON: where and how to post."""
    updated_at: dt.datetime


class ChatChannelsPort(Protocol):
    """Channels the bot is installed in (kept when it is added, so that alerts can later be
    posted there), and which team's alerts a channel receives."""

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
        """Store or refresh the channel's conversation reference; True when it changed."""
        ...

    async def get(
        self, platform: Platform, tenant: str, channel_id: str
    ) -> ChannelRecord | None: ...

    async def forget(self, platform: Platform, tenant: str, channel_id: str) -> bool:
        """The bot was removed from the channel; True when a reference was kept."""
        ...

    async def link_team(self, team_id: int, platform: Platform, channel_id: str) -> bool:
        """The team's alerts go to this channel on that platform; True when it changed."""
        ...

    async def find(self, platform: Platform, channel_id: str) -> ChannelRecord | None:
        """A channel by the platform's id alone (a team stores only that)."""
        ...

    async def any_in(self, platform: Platform, tenant: str) -> ChannelRecord | None:
        """The most recently refreshed channel of the tenant: Teams needs one conversation
        reference of a tenant to open a 1:1 chat with anyone in it."""
        ...


DEFAULT_WEEKDAY = 0
"""The weekly report goes out on Mondays unless the organisation says otherwise."""


class ReportsPort(Protocol):
    async def picture(
        self, org_id: str, team_id: int | None, on: dt.date, until: dt.datetime
    ) -> ReportPicture:
        """Every NQSW on the ASYE in the organisation (or in one team) with their caseload
        on `on`, and the breach events recorded up to `until`: a few statements whatever
        the organisation's size."""
        ...

    async def weekday(self, org_id: str) -> int | None:
        """The day the weekly report is posted (0 Monday … 6 Sunday); None: switched off."""
        ...

    async def set_weekday(self, org_id: str, weekday: int | None, at: dt.datetime) -> bool:
        """True if that changed it."""
        ...


class CohortsPort(Protocol):
    """The equality view's cohort attributes: special-category data, kept only while the
    organisation records them, only for the attributes it chose."""

    async def attributes(self, org_id: str) -> tuple[str, ...] | None:
        """The attribute keys the organisation records, sorted; None: the view is off."""
        ...

    async def set_attributes(
        self, org_id: str, attributes: tuple[str, ...] | None, at: dt.datetime
    ) -> int:
        """Record these attributes (None: switch the view off) and erase every stored value
        of an attribute no longer recorded; returns how many values were erased."""
        ...

    async def set_values(
        self, person_id: int, values: Mapping[str, str | None], occurred_at: dt.datetime
    ) -> bool:
        """A value per attribute, None to remove it; an event older than the attribute's
        last change leaves it alone. True if any value changed."""
        ...

    async def of_org(self, org_id: str) -> dict[str, dict[str, str]]:
        """Every stored value of the organisation: by person ref, then attribute."""
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
    def directory(self) -> ChatDirectoryPort: ...
    @property
    def cases(self) -> CasesPort: ...
    @property
    def allocations(self) -> AllocationsPort: ...
    @property
    def breaches(self) -> BreachesPort: ...
    @property
    def audit(self) -> AuditPort: ...
    @property
    def tokens(self) -> TokensPort: ...
    @property
    def webhook_secrets(self) -> WebhookSecretsPort: ...
    @property
    def channels(self) -> ChatChannelsPort: ...
    @property
    def outbox(self) -> OutboxPort: ...
    @property
    def supervisions(self) -> SupervisionsPort: ...
    @property
    def runs(self) -> RunsPort: ...
    @property
    def reports(self) -> ReportsPort: ...
    @property
    def cohorts(self) -> CohortsPort: ...


class Transactions(Protocol):
    """Opens units of work. Storage failures surface as `handlers.errors.StorageError`
    (`Busy` when a retry may succeed); nothing of the database library leaks out."""

    def write(self, urgent: bool = False) -> AbstractAsyncContextManager[UnitOfWork]:
        """One write transaction: commits once on success, rolls back on any error.
        `urgent`: a person is waiting for it (chat, the decision API); it goes ahead of
        writes nobody waits for, such as a bulk load of webhooks."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-only transaction: one consistent view, no lock on writers."""
        ...

    async def audit(self, org_id: str, record: AuditRecord, actor: str, at: dt.datetime) -> int:
        """Append one row in a write transaction of its own, committed together with any
        others waiting (for answers that read, then only record that they answered); returns
        the row's sequence number once it is durable."""
        ...

    async def retry[T](self, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work`, one whole transaction, again when it lost a race that a retry wins
        (two first inserts of one key, a lock timeout); raises `Busy` after the last try."""
        ...

    async def ping(self) -> None:
        """One round trip to the database; raises `StorageError` when it cannot."""
        ...
