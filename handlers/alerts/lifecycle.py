"""A breach's life after it opens: acknowledged by someone on it (the ladder goes on),
resolved by a person with a reason, or resolved on its own when the caseload comes back
within policy (`handlers.breaches`). Each change is audited and edits every copy of the
alert."""

from __future__ import annotations

import datetime as dt

from handlers import audit
from handlers.alerts import breach_alerts
from handlers.chat import wording as w
from handlers.errors import BreachAlreadyResolved, UnknownBreach
from handlers.events import event_day
from handlers.ports import BreachRecord, OrgRecord, PersonRecord, UnitOfWork


async def unresolved(uow: UnitOfWork, org: OrgRecord, breach_id: int) -> BreachRecord:
    """The breach, when it is this organisation's and still unresolved."""
    record = await uow.breaches.get(breach_id)
    if record is None or record.org_id != org.id:
        raise UnknownBreach(breach=breach_id)
    if record.status == "resolved":
        assert record.resolved_at is not None
        raise BreachAlreadyResolved(on=w.day(event_day(record.resolved_at)))
    return record


async def acknowledge(
    uow: UnitOfWork,
    org: OrgRecord,
    record: BreachRecord,
    by: PersonRecord,
    plan: str | None,
    at: dt.datetime,
) -> BreachRecord:
    done = await uow.breaches.acknowledge(record.id, by.id, plan, at)
    if done is None:
        return await unresolved(uow, org, record.id)  # raises: it was resolved meanwhile
    nqsw = await uow.people.get_by_id(done.person_id)
    assert nqsw is not None
    b = done.breach
    entry = audit.BreachAcknowledged(
        worker=nqsw.ref, rule=b.rule, cases=b.case_ids, by=by.ref, plan=plan
    )
    await uow.audit.append(org.id, entry, f"person:{by.ref}", at)
    await breach_alerts.show(uow, org, await breach_alerts.facts(uow, org, done), at, ended=False)
    return done


async def resolve(
    uow: UnitOfWork,
    org: OrgRecord,
    record: BreachRecord,
    by: PersonRecord,
    reason: str,
    at: dt.datetime,
) -> BreachRecord:
    done = await uow.breaches.resolve(record.id, by.id, reason, at)
    if done is None:
        return await unresolved(uow, org, record.id)  # raises: it was resolved meanwhile
    nqsw = await uow.people.get_by_id(done.person_id)
    assert nqsw is not None
    b = done.breach
    entry = audit.BreachResolved(
        worker=nqsw.ref,
        rule=b.rule,
        clause=b.clause,
        cases=b.case_ids,
        on=event_day(at),
        by=by.ref,
        reason=reason,
    )
    await uow.audit.append(org.id, entry, f"person:{by.ref}", at)
    await breach_alerts.show(uow, org, await breach_alerts.facts(uow, org, done), at, ended=True)
    return done
