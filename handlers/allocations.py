"""Allocate a case to a worker, checked by the policy inside one transaction.

Used alike by chat, the decision API, webhooks and imports. The worker's row is locked
first (PostgreSQL `FOR UPDATE`; SQLite's write transaction holds the database lock), so
the caseload the policy sees is the caseload the allocation joins: two managers cannot
both take the last place under a cap. Lock order everywhere: person, then audit chain.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from handlers import audit
from handlers.breaches import refresh_breaches
from handlers.decisions import decide_and_record
from handlers.errors import (
    AlreadyAllocated,
    ApproverLacksRole,
    CaseClosed,
    UnknownCase,
    UnknownOrganisation,
    UnknownPerson,
)
from handlers.policy_cache import compiled_policy
from handlers.ports import (
    AllocationRecord,
    BreachChange,
    CaseRecord,
    OrgRecord,
    PersonRecord,
    Source,
    Transactions,
    UnitOfWork,
)
from policy import Decision, Outcome, Override, Role, StaffRole
from policy.errors import InputError, input_error
from policy.loader import unknown_message

INTERACTIVE = frozenset({Source.CHAT, Source.API})
"""Sources with a person waiting for the answer."""


@dataclass(frozen=True, slots=True)
class Approval:
    """An override: who approved it, in which of their roles, and why."""

    approver_ref: str
    role: StaffRole
    justification: str


@dataclass(frozen=True, slots=True)
class AllocationRequest:
    org_id: str
    case_ref: str
    worker_ref: str
    role: Role
    on: dt.date
    """The Europe/London (organisation) calendar date the allocation starts."""
    source: Source
    actor: str
    """Who asked, as an id for the audit log (e.g. `person:TM-1`, `api:token:3`)."""
    approval: Approval | None = None
    accept_co_work: bool = False
    """When a lead is refused but co-working is allowed, allocate as co-worker instead."""
    new_case: NewCase | None = None
    """What to record of the case when the case system has not told us of it yet."""


@dataclass(frozen=True, slots=True)
class NewCase:
    work_type: str
    children: int


PLACEHOLDER_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""A case recorded from chat is older than any event of the case system's: theirs wins."""


@dataclass(frozen=True, slots=True)
class AllocationResult:
    decision: Decision | None
    """The policy's answer to the request as asked; None for a worker not on the ASYE."""
    allocation: AllocationRecord | None
    """The allocation written, or None when the policy refused it."""
    breach_changes: tuple[BreachChange, ...]


async def allocate(
    tx: Transactions, request: AllocationRequest, at: dt.datetime | None = None
) -> AllocationResult:
    """Decide and, if allowed, allocate; decisions are audited even when refused.

    Raises `handlers.errors.CaseloadError` subclasses for unknown or conflicting input and
    `policy.InputError` when the case or override does not fit the policy.
    """
    when = at or dt.datetime.now(dt.UTC)
    return await tx.retry(lambda: _allocate(tx, request, when))


async def _allocate(
    tx: Transactions, request: AllocationRequest, at: dt.datetime
) -> AllocationResult:
    async with tx.write(urgent=request.source in INTERACTIVE) as uow:
        org = await uow.orgs.get(request.org_id)
        if org is None:
            raise UnknownOrganisation(org=request.org_id)
        person = await uow.people.lock(org.id, request.worker_ref)
        if person is None:
            raise UnknownPerson(org=org.id, ref=request.worker_ref)
        case = await uow.cases.get(org.id, request.case_ref)
        if case is None and request.new_case is not None:
            check_work_type(org, request.new_case.work_type)
            await uow.cases.upsert(
                org.id,
                request.case_ref,
                work_type=request.new_case.work_type,
                children=request.new_case.children,
                occurred_at=PLACEHOLDER_TIME,
            )
            case = await uow.cases.get(org.id, request.case_ref)
        if case is None:
            raise UnknownCase(org=org.id, ref=request.case_ref)
        if case.closed_on is not None and case.closed_on <= request.on:
            raise CaseClosed(ref=case.ref, closed_on=case.closed_on.isoformat())
        held = await uow.allocations.open_allocation(case.id, person.id)
        if held is not None and held.role is request.role:
            raise AlreadyAllocated(worker=person.ref, ref=case.ref, role=held.role.value)
        override = await _override(uow, org.id, request.approval)

        worker = await uow.people.asye_worker(person.id)
        decision: Decision | None = None
        final: Decision | None = None  # what it is allocated on: as asked, or as co-worker
        role: Role | None = request.role
        overridden: tuple[str, ...] = ()
        if worker is not None:

            async def ask(role: Role, override: Override | None) -> Decision:
                assert worker is not None
                return await decide_and_record(
                    uow,
                    org,
                    person,
                    worker,
                    case.as_policy_case(role),
                    request.on,
                    source=request.source,
                    actor=request.actor,
                    at=at,
                    override=override,
                    approver=None if request.approval is None else request.approval.approver_ref,
                )

            decision = final = await ask(request.role, override)
            if (
                decision.outcome is Outcome.CO_WORK
                and request.role is Role.LEAD
                and request.accept_co_work
            ):
                final = await ask(Role.CO_WORK, None)
            role = final.requested_role if final.outcome is Outcome.ALLOW else None
            overridden = tuple(r.rule for r in final.reasons if r.overridden)

        allocation = None
        if role is not None and not (held is not None and held.role is role):
            if held is not None:
                # Never older than the allocation it ends: the case system's clock may run
                # ahead of ours, and an end refused as older would leave two open ones.
                await end_allocation(
                    uow,
                    org.id,
                    person,
                    case,
                    on=request.on,
                    occurred_at=max(at, held.occurred_at),
                    reason="role_changed",
                    source=request.source,
                    actor=request.actor,
                    at=at,
                )
            allocation = await uow.allocations.start(
                case_id=case.id,
                person_id=person.id,
                role=role,
                on=request.on,
                source=request.source,
                overrides=frozenset(overridden),
                occurred_at=at,
            )
            record = audit.AllocationStarted(
                worker=person.ref,
                case=case.ref,
                role=role.value,
                from_=request.on,
                source=request.source,
                policy_outcome=None if final is None else final.outcome,
                blocking_rules=audit.blocking_rules(final),
                overrides=overridden,
            )
            await uow.audit.append(org.id, record, request.actor, at)
        changes = await refresh_breaches(uow, org, person, request.on, at, request.actor)
    return AllocationResult(decision, allocation, changes)


def check_work_type(org: OrgRecord, work_type: str) -> None:
    """A case the policy has no word for is refused before anything is stored."""
    known = compiled_policy(org).work_types
    if work_type not in known:
        raise InputError("type", unknown_message(work_type, known, "work type"))


async def _override(uow: UnitOfWork, org_id: str, approval: Approval | None) -> Override | None:
    if approval is None:
        return None
    approver = await uow.people.get(org_id, approval.approver_ref)
    if approver is None:
        raise UnknownPerson(org=org_id, ref=approval.approver_ref)
    if approval.role not in approver.roles:
        raise ApproverLacksRole(approver=approver.ref, role=approval.role.value)
    try:
        return Override(justification=approval.justification, approver_role=approval.role)
    except ValidationError as exc:
        raise input_error(exc, prefix=("override",)) from None


async def end_allocation(
    uow: UnitOfWork,
    org_id: str,
    person: PersonRecord,
    case: CaseRecord,
    *,
    on: dt.date,
    occurred_at: dt.datetime,
    reason: Literal["ended", "role_changed"],
    source: Source,
    actor: str,
    at: dt.datetime,
) -> AllocationRecord | None:
    """End the person's open allocation of the case on `on`, and record it; None when there
    is none, or the event is older than the allocation's last change."""
    ended = await uow.allocations.end(case.id, person.id, on, occurred_at)
    if ended is not None:
        record = audit.AllocationEnded(
            worker=person.ref,
            case=case.ref,
            role=ended.role.value,
            to=on,
            source=source,
            reason=reason,
        )
        await uow.audit.append(org_id, record, actor, at)
    return ended
