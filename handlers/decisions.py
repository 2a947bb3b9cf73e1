"""Questions asked of the stored caseload: may this worker take this case, what can they
hold, what is open against them. Used by the decision API, allocations and, next, chat."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from handlers import audit
from handlers.errors import UnknownOrganisation, UnknownPerson
from handlers.events import event_day
from handlers.policy_cache import compiled_policy
from handlers.ports import OrgRecord, PersonRecord, Source, Transactions, UnitOfWork
from policy import (
    Breach,
    Case,
    CaseloadRequest,
    Decision,
    DecisionRequest,
    Entitlements,
    Override,
    Worker,
    decide,
    entitlements,
)


@dataclass(frozen=True, slots=True)
class Answer[T]:
    org: OrgRecord
    person: PersonRecord
    result: T | None
    """None when the worker is not on the ASYE: the policy does not restrict them."""


async def decide_stored(
    uow: UnitOfWork,
    org: OrgRecord,
    person: PersonRecord,
    worker: Worker,
    proposal: Case,
    on: dt.date,
    override: Override | None = None,
) -> Decision:
    """The policy's answer on the worker's stored caseload, recorded nowhere."""
    caseload = await uow.allocations.caseload(person.id, on)
    request = DecisionRequest(
        on=on, worker=worker, caseload=caseload, proposal=proposal, override=override
    )
    return decide(compiled_policy(org), request)


async def decide_and_record(
    uow: UnitOfWork,
    org: OrgRecord,
    person: PersonRecord,
    worker: Worker,
    proposal: Case,
    on: dt.date,
    *,
    source: Source,
    actor: str,
    at: dt.datetime,
    override: Override | None = None,
    approver: str | None = None,
) -> Decision:
    """Decide and append the decision, and the override it applied, to the audit log: the
    one step shared by the decision API and allocations from chat."""
    decision = await decide_stored(uow, org, person, worker, proposal, on, override)
    await uow.audit.append(
        org.id, audit.decision_made(person, proposal, on, source, decision), actor, at
    )
    if decision.overridden and override is not None:
        record = audit.override_approved(person, proposal, decision, override, approver)
        await uow.audit.append(org.id, record, actor, at)
    return decision


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
    """Decide on the stored caseload, read on a connection of its own (it never waits for
    writers), and append the decision to the audit log with the other answers waiting
    (`Transactions.audit`) before it is given."""
    when = at or dt.datetime.now(dt.UTC)
    day = on or event_day(when)
    async with tx.read() as uow:
        org, person = await _find(uow, org_id, worker_ref)
        worker = await uow.people.asye_worker(person.id)
        if worker is None:
            return Answer(org, person, None)
        decision = await decide_stored(uow, org, person, worker, proposal, day, override)
    await tx.audit(
        org.id, audit.decision_made(person, proposal, day, Source.API, decision), actor, when
    )
    if decision.overridden and override is not None:
        record = audit.override_approved(person, proposal, decision, override, None)
        await tx.audit(org.id, record, actor, when)
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
