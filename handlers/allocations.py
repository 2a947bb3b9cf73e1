"""Allocate a case to a worker, checked by the policy inside one transaction.

Used alike by chat, the decision API, webhooks and imports. The worker's row is locked
first (PostgreSQL `FOR UPDATE`; SQLite's write transaction holds the database lock), so
the caseload the policy sees is the caseload the allocation joins: two managers cannot
both take the last place under a cap. Lock order everywhere: person, then audit chain.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from pydantic import ValidationError

from handlers.errors import (
    AlreadyAllocated,
    ApproverLacksRole,
    CaseClosed,
    UnknownCase,
    UnknownOrganisation,
    UnknownPerson,
)
from handlers.ports import (
    AllocationRecord,
    AuditKind,
    BreachChange,
    CaseRecord,
    JsonValue,
    OrgRecord,
    PersonRecord,
    Source,
    Transactions,
    UnitOfWork,
)
from policy import (
    Breach,
    CaseloadRequest,
    CompiledPolicy,
    Decision,
    DecisionRequest,
    Outcome,
    Override,
    RequestError,
    Role,
    StaffRole,
    Worker,
    breaches,
    compile_policy,
    decide,
    parse_policy,
    preset_text,
)


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


@dataclass(frozen=True, slots=True)
class AllocationResult:
    decision: Decision | None
    """The policy's answer to the request as asked; None for a worker not on the ASYE."""
    allocation: AllocationRecord | None
    """The allocation written, or None when the policy refused it."""
    breach_changes: tuple[BreachChange, ...]


def compiled_policy(org: OrgRecord) -> CompiledPolicy:
    """The organisation's policy in force, compiled once per text."""
    return _compile(org.policy_source, org.policy_yaml)


@lru_cache(maxsize=64)
def _compile(source: str, text: str) -> CompiledPolicy:
    return compile_policy(parse_policy(text, source, parent=preset_text))


async def allocate(
    tx: Transactions, request: AllocationRequest, at: dt.datetime | None = None
) -> AllocationResult:
    """Decide and, if allowed, allocate; decisions are audited even when refused.

    Raises `handlers.errors.CaseloadError` subclasses for unknown or conflicting input and
    `policy.RequestError` when the case or override does not fit the policy.
    """
    at = at or dt.datetime.now(dt.UTC)
    async with tx.write() as uow:
        org = await uow.orgs.get(request.org_id)
        if org is None:
            raise UnknownOrganisation(org=request.org_id)
        person = await uow.people.lock(org.id, request.worker_ref)
        if person is None:
            raise UnknownPerson(org=org.id, ref=request.worker_ref)
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
        role: Role | None = request.role
        overridden: frozenset[str] = frozenset()
        if worker is not None:
            compiled = compiled_policy(org)
            decision = await _decide(uow, compiled, request, person, case, worker, override, at)
            final = decision
            if (
                decision.outcome is Outcome.CO_WORK
                and request.role is Role.LEAD
                and request.accept_co_work
            ):
                as_co_worker = _with_role(request, Role.CO_WORK)
                final = await _decide(uow, compiled, as_co_worker, person, case, worker, None, at)
            role = final.requested_role if final.outcome is Outcome.ALLOW else None
            overridden = frozenset(r.rule for r in final.reasons if r.overridden)
            if final.overridden and request.approval is not None:
                await _audit_override(uow, request, person, case, overridden, at)

        allocation = None
        if role is not None and not (held is not None and held.role is role):
            if held is not None:
                await _end(uow, org.id, request, person, case, at)
            allocation = await uow.allocations.start(
                case_id=case.id,
                person_id=person.id,
                role=role,
                on=request.on,
                source=request.source,
                overrides=overridden,
                occurred_at=at,
            )
            await uow.audit.append(
                org.id,
                AuditKind.ALLOCATION_STARTED,
                request.actor,
                {
                    "worker": person.ref,
                    "case": case.ref,
                    "role": role.value,
                    "from": request.on.isoformat(),
                    "source": request.source.value,
                    "overrides": sorted(overridden),
                },
                at,
            )
        changes = await refresh_breaches(uow, org, person, request.on, at, request.actor)
    return AllocationResult(decision, allocation, changes)


async def refresh_breaches(
    uow: UnitOfWork,
    org: OrgRecord,
    person: PersonRecord,
    on: dt.date,
    at: dt.datetime,
    actor: str,
) -> tuple[BreachChange, ...]:
    """Re-evaluate a worker's breaches on `on`, store them and audit what opened or resolved.

    Call inside the transaction that changed the worker's caseload or ASYE record.
    """
    worker = await uow.people.asye_worker(person.id)
    found: tuple[Breach, ...] = ()
    if worker is not None:
        caseload = await uow.allocations.caseload(person.id, on)
        found = breaches(
            compiled_policy(org), CaseloadRequest(on=on, worker=worker, caseload=caseload)
        )
    changes = await uow.breaches.reconcile(org.id, person.id, found, at)
    for change in changes:
        kind = AuditKind.BREACH_OPENED if change.change == "opened" else AuditKind.BREACH_RESOLVED
        data: dict[str, JsonValue] = {
            "worker": person.ref,
            "rule": change.breach.rule,
            "clause": change.breach.clause,
            "cases": list(change.breach.case_ids),
            "on": on.isoformat(),
        }
        await uow.audit.append(org.id, kind, actor, data, at)
    return changes


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
        raise RequestError("override.justification", exc.errors()[0]["msg"]) from None


def _with_role(request: AllocationRequest, role: Role) -> AllocationRequest:
    return AllocationRequest(
        org_id=request.org_id,
        case_ref=request.case_ref,
        worker_ref=request.worker_ref,
        role=role,
        on=request.on,
        source=request.source,
        actor=request.actor,
    )


async def _decide(
    uow: UnitOfWork,
    compiled: CompiledPolicy,
    request: AllocationRequest,
    person: PersonRecord,
    case: CaseRecord,
    worker: Worker,
    override: Override | None,
    at: dt.datetime,
) -> Decision:
    caseload = await uow.allocations.caseload(person.id, request.on)
    decision = decide(
        compiled,
        DecisionRequest(
            on=request.on,
            worker=worker,
            caseload=caseload,
            proposal=case.as_policy_case(request.role),
            override=override,
        ),
    )
    figures = decision.caseload
    data: dict[str, JsonValue] = {
        "worker": person.ref,
        "case": case.ref,
        "role": request.role.value,
        "on": request.on.isoformat(),
        "source": request.source.value,
        "outcome": decision.outcome.value,
        "policy": decision.policy_id,
        "policy_version": decision.policy_version,
        "month_of_practice": decision.month_of_practice,
        "children_after": figures.children_after,
        "children_cap": figures.children_cap,
        "points_after": figures.points_after,
        "points_cap": figures.points_cap,
        "reasons": [
            {
                "rule": r.rule,
                "clause": r.clause,
                "effect": r.effect.value,
                "overridden": r.overridden,
            }
            for r in decision.reasons
        ],
    }
    await uow.audit.append(case.org_id, AuditKind.DECISION, request.actor, data, at)
    return decision


async def _audit_override(
    uow: UnitOfWork,
    request: AllocationRequest,
    person: PersonRecord,
    case: CaseRecord,
    rules: frozenset[str],
    at: dt.datetime,
) -> None:
    assert request.approval is not None
    data: dict[str, JsonValue] = {
        "worker": person.ref,
        "case": case.ref,
        "rules": sorted(rules),
        "approver": request.approval.approver_ref,
        "approver_role": request.approval.role.value,
        "justification": request.approval.justification,
    }
    await uow.audit.append(case.org_id, AuditKind.OVERRIDE, request.actor, data, at)


async def _end(
    uow: UnitOfWork,
    org_id: str,
    request: AllocationRequest,
    person: PersonRecord,
    case: CaseRecord,
    at: dt.datetime,
) -> None:
    ended = await uow.allocations.end(case.id, person.id, request.on, at)
    if ended is not None:
        data: dict[str, JsonValue] = {
            "worker": person.ref,
            "case": case.ref,
            "role": ended.role.value,
            "to": request.on.isoformat(),
            "reason": "role_changed",
        }
        await uow.audit.append(org_id, AuditKind.ALLOCATION_ENDED, request.actor, data, at)
