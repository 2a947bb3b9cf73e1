"""Apply case-management events: the webhook paths (one event, or a batch of them in
order), and the CSV import's too.

Events are committed in groups (`apply_group`): one transaction, and one commit, for the
events waiting together, each recorded with its delivery id so that a redelivery changes
nothing; the sender hears 202 only after the commit. Every event that can change a
caseload or an ASYE record re-evaluates the worker's breaches in that transaction. An
event older than the state it would change is acknowledged and ignored; an event that
refers to a case or allocation whose own event has not arrived is refused (409) so that
the sender's retry applies it in order.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from handlers import audit
from handlers.allocations import end_allocation
from handlers.breaches import refresh_breaches
from handlers.decisions import decide_stored
from handlers.errors import CaseloadError, NotYetKnown, StorageError, UnknownOrganisation
from handlers.events import (
    AgreementRecordedEvent,
    AllocationEndedEvent,
    AllocationStartedEvent,
    Batch,
    CaseClosedEventEnvelope,
    CaseEvent,
    CaseUpserted,
    CaseUpsertedEvent,
    Delivery,
    LeaveRecordedEvent,
    ReviewRecordedEvent,
    SupervisionRecordedEvent,
    TeamUpsertedEvent,
    WorkerUpsertedEvent,
    event_day,
)
from handlers.policy_cache import compiled_policy
from handlers.ports import BreachChange, OrgRecord, Receipt, Source, Transactions, UnitOfWork
from policy import CompiledPolicy, InputError, PolicyError
from policy.loader import unknown_message

ACTOR = "case-system"
FUTURE_TOLERANCE = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Applied:
    duplicate: bool
    """True for a redelivery: acknowledged, nothing changed."""
    changed: bool
    """False when the event was older than the state it would change, or changed nothing."""
    breach_changes: tuple[BreachChange, ...] = ()


async def apply_event(
    tx: Transactions,
    delivery_id: str,
    event: CaseEvent,
    at: dt.datetime | None = None,
    source: Source = Source.WEBHOOK,
) -> Applied:
    """Raises `UnknownOrganisation`, `NotYetKnown`, or `InputError` for a value the
    organisation's policy does not know; each leaves everything as it was.

    `source` is recorded on allocations and in the audit log (`import` for the CSV import).
    """
    when = at or dt.datetime.now(dt.UTC)
    (result,) = await apply_group(tx, [Pending(delivery_id, event, when)], source)
    if isinstance(result, Exception):
        raise result
    return result


@dataclass(frozen=True, slots=True)
class Pending:
    """An event waiting to be applied: its delivery id, and when it was received."""

    id: str
    event: CaseEvent
    at: dt.datetime


type Result = Applied | CaseloadError | PolicyError
"""One event's result: applied, or why not (nothing of it changed). A `StorageError` when
the database stayed busy before its turn."""

GROUP_EVENTS = 100
"""Events in one transaction at most: one commit (and one fsync) for up to this many."""
GROUP_SECONDS = 0.02
"""A transaction of events ends after this much work, whatever is left: the writers waiting
behind it (an answer in chat, a decision) wait tens of milliseconds at most."""


async def apply_group(
    tx: Transactions,
    pending: Sequence[Pending],
    source: Source = Source.WEBHOOK,
    *,
    stop_at_refusal: bool = False,
) -> list[Result]:
    """Each event as `apply_event` applies it, in the order given, committed together in
    groups of up to `GROUP_EVENTS`: a later event may rely on an earlier one, and a
    refusal undoes nothing else (the events before it are applied again without it, which
    changes nothing they would not have changed). `stop_at_refusal`: nothing after the
    first refusal is applied, and the results end with it.

    When the database stays busy the rest are that `StorageError` and the events already
    committed stay so; if none was, it is raised (nothing changed).
    """
    results: list[Result] = []
    try:
        await _apply_into(results, tx, pending, source, stop_at_refusal)
    except StorageError as exc:
        if not results:
            raise
        results += [exc] * (len(pending) - len(results))
    return results


class _Refused(Exception):
    """The event at `index` of a group was refused: the group's transaction is undone."""

    def __init__(self, index: int, error: CaseloadError | PolicyError) -> None:
        super().__init__(index)
        self.index = index
        self.error = error


async def _apply_into(
    results: list[Result],
    tx: Transactions,
    pending: Sequence[Pending],
    source: Source,
    stop_at_refusal: bool,
) -> bool:
    """False once a refusal has stopped it (`stop_at_refusal`)."""
    rest = pending
    while rest:
        try:
            done = await tx.retry(partial(_group, tx, rest[:GROUP_EVENTS], source))
        except _Refused as refused:
            if not await _apply_into(results, tx, rest[: refused.index], source, stop_at_refusal):
                return False
            results.append(refused.error)
            if stop_at_refusal:
                return False
            rest = rest[refused.index + 1 :]
            continue
        results += done
        rest = rest[len(done) :]
    return True


async def _group(tx: Transactions, group: Sequence[Pending], source: Source) -> list[Applied]:
    """The events of `group` from the first, in one transaction, until `GROUP_SECONDS` of
    work: a writer waiting for an answer (a chat command) waits at most that long.

    The group's deliveries are recorded, and the workers its allocation events name are
    locked, before its first event: a statement each for the whole group, not one per event.
    The deliveries of events left for the next group are forgotten again."""
    async with tx.write() as uow:
        started = time.monotonic()
        orgs: dict[str, OrgRecord | None] = {}
        for item in group:
            if item.event.org not in orgs:
                orgs[item.event.org] = await uow.orgs.get(item.event.org)
        new = await _record(uow, orgs, group)
        applied: list[Applied] = []
        for index, item in enumerate(group):
            try:
                applied.append(await _apply_in(uow, orgs, item, new[index], source))
            except StorageError:
                raise
            except (CaseloadError, PolicyError) as exc:
                raise _Refused(index, exc) from exc
            if time.monotonic() - started > GROUP_SECONDS:
                break
        for item, recorded in zip(group[len(applied) :], new[len(applied) :], strict=True):
            org = orgs[item.event.org]
            if recorded and org is not None:
                await uow.receipts.forget(org.id, item.id)
    return applied


async def _record(
    uow: UnitOfWork, orgs: Mapping[str, OrgRecord | None], group: Sequence[Pending]
) -> list[bool]:
    """Whether each event's delivery is new (recorded now), and its worker locked. An
    event for an unknown organisation is neither: it is refused when its turn comes."""
    known = [(i, orgs[p.event.org]) for i, p in enumerate(group)]
    receipts = [
        Receipt(org.id, group[i].id, group[i].event.type, group[i].at)
        for i, org in known
        if org is not None
    ]
    recorded = iter(await uow.receipts.record_many(receipts))
    workers: dict[str, list[str]] = {}
    for item in group:
        if isinstance(item.event, AllocationStartedEvent | AllocationEndedEvent):
            workers.setdefault(item.event.org, []).append(item.event.data.worker_ref)
    for org_id, refs in workers.items():
        if orgs[org_id] is not None:
            await uow.people.lock_many(org_id, refs)
    return [org is not None and next(recorded) for _, org in known]


class EventStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REFUSED = "refused"
    NOT_YET_KNOWN = "not_yet_known"
    """Refers to a case or allocation whose own event has not arrived: send it again later."""
    NOT_ATTEMPTED = "not_attempted"
    """The database stayed busy before this event's turn: it changed nothing, send it again."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one event of a batch: `applied` when it was, `error` when not."""

    delivery: Delivery
    status: EventStatus
    applied: Applied | None = None
    error: Exception | None = None


async def apply_batch(
    tx: Transactions, batch: Batch, at: dt.datetime | None = None
) -> list[Outcome]:
    """Each event as `apply_event` applies it, in the order given (`apply_group`).
    Raises `UnknownOrganisation` before anything is applied.

    When the database stays busy the rest are `not_attempted`, and the events already
    applied stay so; if none was, the `StorageError` is raised (nothing changed).
    """
    when = at or dt.datetime.now(dt.UTC)
    async with tx.read() as uow:
        if await uow.orgs.get(batch.org) is None:
            raise UnknownOrganisation(org=batch.org)
    pending = [
        Pending(d.id, d.event, when)
        for d in batch.deliveries
        if not isinstance(d.event, InputError)
    ]
    results = iter(await apply_group(tx, pending))
    return [
        _outcome(d, d.event if isinstance(d.event, InputError) else next(results))
        for d in batch.deliveries
    ]


def _outcome(delivery: Delivery, result: Result | InputError) -> Outcome:
    if isinstance(result, Applied):
        status = EventStatus.DUPLICATE if result.duplicate else EventStatus.ACCEPTED
        return Outcome(delivery, status, result)
    if isinstance(result, StorageError):
        return Outcome(delivery, EventStatus.NOT_ATTEMPTED, error=result)
    if isinstance(result, NotYetKnown):
        return Outcome(delivery, EventStatus.NOT_YET_KNOWN, error=result)
    return Outcome(delivery, EventStatus.REFUSED, error=result)


LINGER_SECONDS = 0.001
"""How long the writer waits, while events keep arriving together, for more to join."""


class EventQueue:
    """Group commit for events sent one per request: the events waiting when the writer is
    free go into one transaction together, and each request hears its own result once
    that transaction has committed. A request that gives up waiting changes nothing of
    it: its event is applied (or not) with the others, and a resend is a duplicate."""

    def __init__(self, tx: Transactions) -> None:
        self._tx = tx
        self._waiting: list[tuple[Pending, asyncio.Future[Applied]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def apply(self, delivery_id: str, event: CaseEvent, at: dt.datetime) -> Applied:
        """As `apply_event` (the same refusals)."""
        done: asyncio.Future[Applied] = asyncio.get_running_loop().create_future()
        self._waiting.append((Pending(delivery_id, event, at), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await done

    async def _write(self) -> None:
        busy = False
        while self._waiting:
            if busy and len(self._waiting) < GROUP_EVENTS:
                # Under load, the requests arriving meanwhile join this group: one commit
                # for more of them. An event sent alone is not kept waiting.
                await asyncio.sleep(LINGER_SECONDS)
            group, self._waiting = self._waiting[:GROUP_EVENTS], self._waiting[GROUP_EVENTS:]
            busy = len(group) > 1
            try:
                results: list[Result] = await apply_group(self._tx, [p for p, _ in group])
            except Exception as exc:  # every waiter hears of it; none is left hanging
                results = [exc] * len(group)  # type: ignore[list-item]
            for (_, done), result in zip(group, results, strict=True):
                if done.done():
                    continue
                if isinstance(result, Applied):
                    done.set_result(result)
                else:
                    done.set_exception(result)

    async def close(self) -> None:
        """Waits for the events already taken to be answered."""
        if self._writer is not None:
            await asyncio.wait({self._writer})


async def _apply_in(
    uow: UnitOfWork, orgs: dict[str, OrgRecord | None], item: Pending, new: bool, source: Source
) -> Applied:
    """`new`: the delivery was recorded for the first time (`_record`)."""
    event, at = item.event, item.at
    if event.occurred_at > at + FUTURE_TOLERANCE:
        raise InputError(
            "occurred_at",
            "is more than a day ahead of this server's clock; an event from the future would"
            " make every later event look older and be ignored",
        )
    org = orgs[event.org]
    if org is None:
        raise UnknownOrganisation(org=event.org)
    if not new:
        return Applied(duplicate=True, changed=False)
    changed, people = await _apply(uow, org, event, at, source)
    on = event_day(at)
    changes: list[BreachChange] = []
    for person_id in dict.fromkeys(people):
        person = await uow.people.get_by_id(person_id)
        if person is not None:
            changes += await refresh_breaches(uow, org, person, on, at, ACTOR)
    return Applied(duplicate=False, changed=changed, breach_changes=tuple(changes))


async def _apply(
    uow: UnitOfWork, org: OrgRecord, event: CaseEvent, at: dt.datetime, source: Source
) -> tuple[bool, list[int]]:
    """The change, and the ids of the people whose breaches may have changed with it."""
    when = event.occurred_at
    if isinstance(event, TeamUpsertedEvent):
        d = event.data
        changed = await uow.teams.upsert(
            org.id,
            d.ref,
            name=d.name,
            kind=d.kind,
            slack_channel_id=d.channels.slack,
            teams_channel_id=d.channels.teams,
            occurred_at=when,
        )
        return changed, []
    if isinstance(event, WorkerUpsertedEvent):
        return await _worker(uow, org, event)
    if isinstance(event, LeaveRecordedEvent):
        leave = event.data
        person_id = await uow.people.ensure(org.id, leave.worker_ref)
        changed = await uow.people.record_pause(
            person_id, start=leave.start, end=leave.end, reason=leave.reason, occurred_at=when
        )
        return changed, [person_id]
    if isinstance(event, ReviewRecordedEvent):
        r = event.data
        person_id = await uow.people.ensure(org.id, r.worker_ref)
        changed = await uow.people.record_review(
            person_id, month=r.month, passed=r.passed, on=r.on, occurred_at=when
        )
        return changed, [person_id]
    if isinstance(event, AgreementRecordedEvent):
        a = event.data
        known = compiled_policy(org).agreements
        if a.agreement not in known:
            raise InputError("data.agreement", unknown_message(a.agreement, known, "agreement"))
        person_id = await uow.people.ensure(org.id, a.worker_ref)
        changed = await uow.people.record_agreement(
            person_id, agreement=a.agreement, on=a.on, occurred_at=when
        )
        return changed, [person_id]
    if isinstance(event, SupervisionRecordedEvent):
        sv = event.data
        person_id = await uow.people.ensure(org.id, sv.worker_ref)
        changed = await uow.supervisions.record(person_id, sv.on, at)
        if changed:
            entry = audit.SupervisionRecorded(worker=sv.worker_ref, on=sv.on, source=source)
            await uow.audit.append(org.id, entry, ACTOR, at)
        return changed, []
    if isinstance(event, CaseUpsertedEvent):
        return await _case(uow, org, event)
    if isinstance(event, CaseClosedEventEnvelope):
        case = await uow.cases.get(org.id, event.data.ref)
        if case is None:
            raise NotYetKnown(what="case", ref=event.data.ref, needs="case.upserted")
        holders = list(await uow.cases.holders(org.id, case.ref))
        changed = await uow.cases.close(org.id, case.ref, event_day(when), when)
        return changed, holders
    if isinstance(event, AllocationStartedEvent):
        return await _allocation_started(uow, org, event, at, source)
    return await _allocation_ended(uow, org, event, at, source)


async def _worker(
    uow: UnitOfWork, org: OrgRecord, event: WorkerUpsertedEvent
) -> tuple[bool, list[int]]:
    d, when = event.data, event.occurred_at
    if d.cohort is not None:
        await _check_cohort(uow, org, d.cohort)
    changed = await uow.people.upsert(
        org.id,
        d.ref,
        display_name=d.name,
        roles=d.roles,
        team_ref=d.team_ref,
        manager_ref=d.manager_ref,
        occurred_at=when,
    )
    person_id = await uow.people.ensure(org.id, d.ref)
    if d.asye is not None:
        changed |= await uow.people.set_asye(
            person_id,
            start=d.asye.start,
            fte=d.asye.fte,
            assessor_ref=d.asye.assessor_ref,
            occurred_at=when,
        )
    if d.chat is not None:
        c = d.chat
        if c.slack_team_id is not None and c.slack_user_id is not None:
            changed |= await uow.directory.link(
                person_id, "slack", c.slack_team_id, c.slack_user_id
            )
        if c.teams_tenant_id is not None and c.teams_aad_object_id is not None:
            changed |= await uow.directory.link(
                person_id, "teams", c.teams_tenant_id, c.teams_aad_object_id
            )
    if d.cohort is not None:
        changed |= await uow.cohorts.set_values(person_id, d.cohort, when)
    return changed, [person_id]


async def _check_cohort(uow: UnitOfWork, org: OrgRecord, cohort: Mapping[str, object]) -> None:
    """Cohort values are special-category data: kept only once the organisation has chosen
    to record them, and only the attributes it chose; anything else refuses the event."""
    recorded = await uow.cohorts.attributes(org.id)
    if recorded is None:
        raise InputError(
            "data.cohort",
            "this organisation does not record cohort attributes, so none is stored: leave"
            " `cohort` out, or have an administrator switch the equality view on with"
            " `caseload-bot org equality`",
        )
    for key in cohort:
        if key not in recorded:
            raise InputError(
                f"data.cohort.{key}",
                f"is not a cohort attribute this organisation records (it records:"
                f" {', '.join(recorded)}); nothing was stored",
            )


async def _case(
    uow: UnitOfWork, org: OrgRecord, event: CaseUpsertedEvent
) -> tuple[bool, list[int]]:
    d = event.data
    errors = vocabulary_errors(compiled_policy(org), d)
    if errors:
        raise errors[0]
    changed = await uow.cases.upsert(
        org.id,
        d.ref,
        work_type=d.work_type,
        children=d.children,
        flags=d.flags,
        external=d.external,
        occurred_at=event.occurred_at,
    )
    return changed, list(await uow.cases.holders(org.id, d.ref))


async def _allocation_started(
    uow: UnitOfWork,
    org: OrgRecord,
    event: AllocationStartedEvent,
    at: dt.datetime,
    source: Source,
) -> tuple[bool, list[int]]:
    """The case system has allocated: record it as fact, with what the policy would have said."""
    d = event.data
    person = await uow.people.lock(org.id, d.worker_ref)
    if person is None:  # a worker whose own event has not arrived: a placeholder for now
        await uow.people.ensure(org.id, d.worker_ref)
        person = await uow.people.lock(org.id, d.worker_ref)
    assert person is not None
    pair = await uow.allocations.latest(org.id, d.case_ref, person.id)
    if pair is None:
        raise NotYetKnown(what="case", ref=d.case_ref, needs="case.upserted")
    case, latest = pair
    held = latest if latest is not None and latest.to_date is None else None
    if held is not None and held.role is d.role:
        return False, [person.id]
    if latest is not None and latest.occurred_at > event.occurred_at:
        return False, []  # an end (or a change of role) newer than this start already arrived
    on = d.start or event_day(event.occurred_at)
    if held is not None:
        await end_allocation(
            uow,
            org.id,
            person,
            case,
            on=on,
            occurred_at=event.occurred_at,
            reason="role_changed",
            source=source,
            actor=ACTOR,
            at=at,
        )
    worker = await uow.people.asye_worker(person.id)
    decision = None
    if worker is not None:
        proposal = case.as_policy_case(d.role)
        decision = await decide_stored(uow, org, person, worker, proposal, on)
    await uow.allocations.start(
        case_id=case.id,
        person_id=person.id,
        role=d.role,
        on=on,
        source=source,
        overrides=frozenset(),
        occurred_at=event.occurred_at,
    )
    record = audit.AllocationStarted(
        worker=person.ref,
        case=case.ref,
        role=d.role.value,
        from_=on,
        source=source,
        policy_outcome=None if decision is None else decision.outcome,
        blocking_rules=audit.blocking_rules(decision),
        overrides=(),
    )
    await uow.audit.append(org.id, record, ACTOR, at)
    return True, [person.id]


async def _allocation_ended(
    uow: UnitOfWork,
    org: OrgRecord,
    event: AllocationEndedEvent,
    at: dt.datetime,
    source: Source,
) -> tuple[bool, list[int]]:
    d = event.data
    person = await uow.people.lock(org.id, d.worker_ref)
    pair = None if person is None else await uow.allocations.latest(org.id, d.case_ref, person.id)
    case, latest = pair or (None, None)
    if person is None or case is None or latest is None:
        raise NotYetKnown(what="allocation of case", ref=d.case_ref, needs="allocation.started")
    if latest.to_date is not None:
        return False, []  # already ended
    on = d.end or event_day(event.occurred_at)
    ended = await end_allocation(
        uow,
        org.id,
        person,
        case,
        on=on,
        occurred_at=event.occurred_at,
        reason="ended",
        source=source,
        actor=ACTOR,
        at=at,
    )
    return ended is not None, [] if ended is None else [person.id]


def vocabulary_errors(policy: CompiledPolicy, case: CaseUpserted) -> list[InputError]:
    """A case's work type and flags must be words of the organisation's policy."""
    errors = []
    if case.work_type not in policy.work_types:
        message = unknown_message(case.work_type, policy.work_types, "work type")
        errors.append(InputError("data.work_type", message))
    errors += [
        InputError("data.flags", unknown_message(flag, policy.flags, "flag"))
        for flag in case.flags
        if flag not in policy.flags
    ]
    return errors


class OrgSecrets:
    """The organisations' own webhook secrets valid now, read at most once per `FRESH` for
    each: every signed request needs them, and they change a few times a year.

    A secret just set (`caseload-bot org secret`) verifies at once, because a signature
    that fails on what is kept is checked again on a fresh read (`get(fresh=True)`); what
    it replaces (the previous secret past its overlap, or the deployment's shared one)
    stops verifying at most `FRESH` late."""

    FRESH = dt.timedelta(seconds=5)
    KEPT = 1024
    """Organisations kept at most: the `org` a request claims is read before its signature
    is checked, so a stranger's made-up names must not grow this without bound."""

    def __init__(self, tx: Transactions) -> None:
        self._tx = tx
        self._kept: dict[str, tuple[dt.datetime, tuple[str, ...]]] = {}

    async def get(self, org_id: str, at: dt.datetime, *, fresh: bool = False) -> tuple[str, ...]:
        """Empty while the organisation has none of its own (then the deployment's
        CASE_EVENTS_SECRET signs for it)."""
        kept = self._kept.get(org_id)
        if not fresh and kept is not None and kept[0] <= at < kept[0] + self.FRESH:
            return kept[1]
        async with self._tx.read() as uow:
            secrets = await uow.webhook_secrets.valid(org_id, at)
        self._kept.pop(org_id, None)
        if len(self._kept) >= self.KEPT:
            del self._kept[next(iter(self._kept))]  # the one read longest ago
        self._kept[org_id] = (at, secrets)
        return secrets
