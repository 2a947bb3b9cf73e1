"""What falls due with time rather than with an event: the ladder's steps (every tick), and
once a day between all replicas the sweep that re-evaluates every NQSW (phases change,
leave ends, reviews come due) and queues the day's reminders.

Reminders are due at the next posting time, so a sweep after midnight queues the morning's
messages for 09:00. Each reminder's key says what it is about (a review, a supervision
date, a breach on a day), so running a sweep twice queues nothing twice."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from handlers.alerts import breach_alerts, messages, routing
from handlers.breaches import refresh_breaches
from handlers.events import event_day
from handlers.policy_cache import compiled_policy
from handlers.ports import (
    BreachRecord,
    NewMessage,
    OrgRecord,
    PersonRecord,
    Transactions,
    UnitOfWork,
)
from handlers.reports import weekly
from policy import (
    StaffRole,
    add_working_days,
    is_working_day,
    month_date,
    next_posting_time,
    review_reminders,
    supervision_due,
)

log = logging.getLogger("caseload_bot.sweep")

ACTOR = "system:sweep"
SNOOZE_WORKING_DAYS = 5
"""Someone who acknowledged a breach is not reminded of it for this long (a working week):
the others who could act on it still are, every working day."""


@dataclass(frozen=True, slots=True)
class Swept:
    fired: int
    """Ladder steps fired."""
    swept: bool
    """Whether this call ran the day's sweep (False: another run had it)."""
    people: int = 0
    reports: int = 0
    """Weekly report messages queued."""


async def tick(tx: Transactions, now: dt.datetime) -> Swept:
    """Fire what the ladders say is due; the first tick of a London day runs its sweep;
    the first from 09:00 on an organisation's report day posts its weekly report."""
    fired = 0
    for org_id in await _org_ids(tx):

        async def escalate(org_id: str = org_id) -> int:
            async with tx.write() as uow:
                org = await uow.orgs.get(org_id)
                return 0 if org is None else await breach_alerts.escalate_due(uow, org, now)

        fired += await tx.retry(escalate)
    people = await daily(tx, now)
    reports = await weekly.post_due(tx, now)
    return Swept(fired, people is not None, people or 0, reports)


async def daily(tx: Transactions, now: dt.datetime) -> int | None:
    """The day's sweep, once per London date between all replicas; returns how many NQSWs
    it re-evaluated, or None when this date was swept already."""
    day = event_day(now)

    async def claim() -> bool:
        async with tx.write() as uow:
            return await uow.runs.claim("daily-sweep", day.isoformat(), now)

    if not await tx.retry(claim):
        return None
    count = 0
    for org_id in await _org_ids(tx):
        async with tx.read() as uow:
            nqsws = await uow.people.with_role(org_id, StaffRole.NQSW)
        for nqsw in nqsws:

            async def one(nqsw: PersonRecord = nqsw, org_id: str = org_id) -> None:
                async with tx.write() as uow:
                    org = await uow.orgs.get(org_id)
                    assert org is not None
                    await refresh_breaches(uow, org, nqsw, day, now, ACTOR)
                    await _reminders(uow, org, nqsw, day, now)

            await tx.retry(one)
            count += 1
        if is_working_day(day):

            async def remind(org_id: str = org_id) -> None:
                async with tx.write() as uow:
                    org = await uow.orgs.get(org_id)
                    assert org is not None
                    for record in await uow.breaches.unresolved(org.id):
                        await _breach_reminder(uow, org, record, day, now)

            await tx.retry(remind)
    log.info("sweep: %s swept, %d NQSWs", day.isoformat(), count)
    return count


async def _org_ids(tx: Transactions) -> tuple[str, ...]:
    async with tx.read() as uow:
        return await uow.orgs.ids()


async def _reminders(
    uow: UnitOfWork, org: OrgRecord, nqsw: PersonRecord, day: dt.date, now: dt.datetime
) -> None:
    """Reviews coming and overdue, supervision overdue, and no external case by the month
    the policy names: to the NQSW, their team's managers and (but for supervision) their
    assessor."""
    worker = await uow.people.asye_worker(nqsw.id)
    if worker is None:
        return
    policy = compiled_policy(org).policy
    due = next_posting_time(now)
    out: list[NewMessage] = []
    managers = await routing.holders(uow, nqsw, (StaffRole.TEAM_MANAGER,))
    for r in review_reminders(policy, worker, day):
        if r.due is None or r.remind_on is None or day < r.remind_on:
            continue
        people = [nqsw, *managers, *await routing.holders(uow, nqsw, (StaffRole.ASSESSOR,))]
        state = "overdue" if r.overdue else "soon"
        body = messages.review_due(nqsw, r.month, r.due, r.overdue)
        out += await routing.to_people(
            uow, people, f"review:{nqsw.id}:{r.month}:{state}", "review_due", body, due
        )
    if policy.supervision is not None:
        last = await uow.supervisions.last(nqsw.id)
        s = supervision_due(policy.supervision, worker, last, day)
        if s is not None and s.overdue and s.due is not None:
            body = messages.supervision_due(nqsw, last, s.due, s.band.frequency)
            key = f"supervision:{nqsw.id}:{s.due.isoformat()}"
            out += await routing.to_people(
                uow, [nqsw, *managers], key, "supervision_due", body, due
            )
    external = policy.external_cases
    if external is not None:
        reached = month_date(worker, policy, external.identified_by_month)
        if reached is not None and day >= reached:
            caseload = await uow.allocations.caseload(nqsw.id, day)
            if not any(c.external for c in caseload):
                people = [nqsw, *managers, *await routing.holders(uow, nqsw, (StaffRole.ASSESSOR,))]
                body = messages.external_case_due(nqsw, reached, external)
                key = f"external:{nqsw.id}:{external.identified_by_month}"
                out += await routing.to_people(uow, people, key, "external_case_due", body, due)
    await uow.outbox.add(org.id, out, now)


async def _breach_reminder(
    uow: UnitOfWork, org: OrgRecord, record: BreachRecord, day: dt.date, now: dt.datetime
) -> None:
    """Each working day after the one it opened, to the NQSW's team's managers, except one
    who acknowledged it within the last working week."""
    if event_day(record.opened_at) >= day:
        return
    f = await breach_alerts.facts(uow, org, record)
    managers = await routing.holders(uow, f.nqsw, (StaffRole.TEAM_MANAGER,))
    if record.acknowledged_at is not None and record.acknowledged_by is not None:
        quiet_until = add_working_days(event_day(record.acknowledged_at), SNOOZE_WORKING_DAYS)
        if day < quiet_until:
            managers = [m for m in managers if m.id != record.acknowledged_by]
    key = f"breach:{record.id}:{breach_alerts.REMINDER}:{day.isoformat()}"
    body = messages.reminder(f)
    due = next_posting_time(now)
    out = await routing.to_people(
        uow, managers, key, breach_alerts.REMINDER, body, due, breach_id=record.id
    )
    await uow.outbox.add(org.id, out, now)
