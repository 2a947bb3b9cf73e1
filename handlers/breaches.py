"""Keep a worker's stored breaches true: re-evaluated inside every transaction that changes
their caseload or ASYE record, so what is open is never a day behind the facts; what opened
or resolved queues its alerts in the same transaction."""

from __future__ import annotations

import datetime as dt

from handlers import audit
from handlers.alerts import breach_alerts
from handlers.policy_cache import compiled_policy
from handlers.ports import BreachChange, OrgRecord, PersonRecord, UnitOfWork
from policy import CaseloadRequest, breaches


async def refresh_breaches(
    uow: UnitOfWork,
    org: OrgRecord,
    person: PersonRecord,
    on: dt.date,
    at: dt.datetime,
    actor: str,
) -> tuple[BreachChange, ...]:
    """Re-evaluate the worker's breaches on `on`, store them and audit what opened or resolved.

    Someone with no ASYE record has nothing to re-evaluate: breaches are only ever found
    against one, and a record once made is never removed."""
    worker = await uow.people.asye_worker(person.id)
    if worker is None:
        return ()
    caseload = await uow.allocations.caseload(person.id, on)
    found = breaches(compiled_policy(org), CaseloadRequest(on=on, worker=worker, caseload=caseload))
    changes = await uow.breaches.reconcile(org.id, person.id, found, at)
    for change in changes:
        kind = audit.BreachOpened if change.change == "opened" else audit.BreachResolved
        b = change.breach
        record = kind(worker=person.ref, rule=b.rule, clause=b.clause, cases=b.case_ids, on=on)
        await uow.audit.append(org.id, record, actor, at)
    await breach_alerts.on_changes(uow, org, changes, at)
    return changes
