"""Questions asked of the stored caseload: may this worker take this case, what can they
hold, what is open against them. Used by the decision API and, later, by chat."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Generic, TypeVar

from handlers.allocations import compiled_policy
from handlers.errors import UnknownOrganisation, UnknownPerson
from handlers.events import event_day
from handlers.ports import AuditKind, JsonValue, OrgRecord, PersonRecord, Transactions, UnitOfWork
from policy import (
    Breach,
    Case,
    CaseloadRequest,
    Decision,
    DecisionRequest,
    Entitlements,
    Override,
    decide,
    entitlements,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    org: OrgRecord
    person: PersonRecord
    result: T | None
    """None when the worker is not on the ASYE: the policy does not restrict them."""


async def decide_proposal(
    tx: Transactions,
    org_id: str,
    worker_ref: str,
    proposal: Case,
    on: dt.date | None,
    override: Override | None,
    actor: str,
    at: dt.datetime | None = None,
) -> Answer[Decision]:
    """Decide on the stored caseload and append the decision to the audit log."""
    at = at or dt.datetime.now(dt.UTC)
    day = on or event_day(at)
    async with tx.write() as uow:
        org, person = await _find(uow, org_id, worker_ref)
        worker = await uow.people.asye_worker(person.id)
        if worker is None:
            return Answer(org, person, None)
        caseload = await uow.allocations.caseload(person.id, day)
        decision = decide(
            compiled_policy(org),
            DecisionRequest(
                on=day, worker=worker, caseload=caseload, proposal=proposal, override=override
            ),
        )
        data: dict[str, JsonValue] = {
            "worker": person.ref,
            "case": proposal.case_id,
            "role": proposal.role.value,
            "on": day.isoformat(),
            "outcome": decision.outcome.value,
            "overridden": decision.overridden,
            "policy": decision.policy_id,
            "policy_version": decision.policy_version,
            "blocking_rules": [r.rule for r in decision.reasons if r.effect.value != "allow"],
        }
        await uow.audit.append(org.id, AuditKind.DECISION, actor, data, at)
        if decision.overridden and override is not None:
            record: dict[str, JsonValue] = {
                "worker": person.ref,
                "case": proposal.case_id,
                "rules": [r.rule for r in decision.reasons if r.overridden],
                "approver_role": override.approver_role.value,
                "justification": override.justification,
            }
            await uow.audit.append(org.id, AuditKind.OVERRIDE, actor, record, at)
    return Answer(org, person, decision)


async def worker_entitlements(
    tx: Transactions, org_id: str, worker_ref: str, on: dt.date
) -> Answer[Entitlements]:
    async with tx.read() as uow:
        org, person = await _find(uow, org_id, worker_ref)
        worker = await uow.people.asye_worker(person.id)
        if worker is None:
            return Answer(org, person, None)
        caseload = await uow.allocations.caseload(person.id, on)
        return Answer(
            org,
            person,
            entitlements(
                compiled_policy(org), CaseloadRequest(on=on, worker=worker, caseload=caseload)
            ),
        )


async def worker_breaches(
    tx: Transactions, org_id: str, worker_ref: str
) -> Answer[tuple[Breach, ...]]:
    """The breaches stored as open (re-evaluated by every event that changes the caseload)."""
    async with tx.read() as uow:
        org, person = await _find(uow, org_id, worker_ref)
        return Answer(org, person, await uow.breaches.open_for(person.id))


async def _find(uow: UnitOfWork, org_id: str, worker_ref: str) -> tuple[OrgRecord, PersonRecord]:
    org = await uow.orgs.get(org_id)
    if org is None:
        raise UnknownOrganisation(org=org_id)
    person = await uow.people.get(org.id, worker_ref)
    if person is None:
        raise UnknownPerson(org=org.id, ref=worker_ref)
    return org, person
