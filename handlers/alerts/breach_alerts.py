"""A breach's messages, queued in the transaction that changed it: the alert when it opens,
an edit of every copy of the alert at each later change (acknowledged, escalated,
resolved), and the steps of the policy's ladder as they fall due.

Keys make each message once-only: a redelivered event or a second replica's sweep queues
nothing new. Steps whose wait is zero belong to the alert itself: their people are told
with it, and the ladder's later steps are escalations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from handlers import audit
from handlers.alerts import messages, routing
from handlers.alerts.body import encode
from handlers.alerts.messenger import Destination
from handlers.chat.replies import Reply
from handlers.events import event_day
from handlers.policy_cache import compiled_policy
from handlers.ports import (
    BreachChange,
    BreachRecord,
    NewMessage,
    OrgRecord,
    OutboxMessage,
    PersonRecord,
    TeamRecord,
    UnitOfWork,
)
from policy import StaffRole, StepDue, ladder_due, next_posting_time
from policy.progress import progress
from policy.schema import Wait

ALERT = "breach_opened"
NOTE = "breach_note"
UPDATE = "breach_update"
ESCALATION = "escalation"
REMINDER = "breach_reminder"
TOLD_AT_ONCE = (StaffRole.ASYE_LEAD, StaffRole.ASSESSOR)
"""Told privately of every breach, whatever the ladder says (with the team's channel)."""


async def facts(uow: UnitOfWork, org: OrgRecord, record: BreachRecord) -> messages.AlertFacts:
    nqsw = await uow.people.get_by_id(record.person_id)
    assert nqsw is not None, "a breach belongs to a stored person"
    compiled = compiled_policy(org)
    worker = await uow.people.asye_worker(nqsw.id)
    opened_on = event_day(record.opened_at)
    month = None if worker is None else progress(compiled, opened_on, worker).month_of_practice
    escalation = compiled.policy.escalation
    ladder = () if escalation is None else ladder_due(record.opened_at, escalation)
    at_once = [] if escalation is None else [s.step for s in escalation.ladder if _no_wait(s.wait)]
    return messages.AlertFacts(
        record=record,
        nqsw=nqsw,
        month=month,
        ladder=ladder,
        at_once=max(at_once, default=0),
        acknowledged_by=await _person(uow, record.acknowledged_by),
        resolved_by=await _person(uow, record.resolved_by),
    )


async def on_changes(
    uow: UnitOfWork, org: OrgRecord, changes: Sequence[BreachChange], at: dt.datetime
) -> None:
    """What `handlers.breaches.refresh_breaches` found opened or resolved."""
    for change in changes:
        record = await uow.breaches.get(change.id)
        assert record is not None, "a change names a stored breach"
        f = await facts(uow, org, record)
        if change.change == "opened":
            await _announce(uow, org, f, at)
        else:
            await show(uow, org, f, at, ended=True)


async def _announce(
    uow: UnitOfWork, org: OrgRecord, f: messages.AlertFacts, at: dt.datetime
) -> None:
    at_once = [s for s in f.ladder if s.step <= f.at_once]
    roles = {*TOLD_AT_ONCE, *(r for s in at_once for r in s.notify)}
    people = await routing.holders(uow, f.nqsw, sorted(roles))
    channels = await routing.team_channels(uow, await _team(uow, f.nqsw))
    if f.at_once:
        await uow.breaches.escalate(f.record.id, f.at_once, at)
        f = _with_step(f, f.at_once)
    due = next_posting_time(at)
    alert = messages.alert(f)
    out = [
        _message(f.record, ALERT, d, alert, due)
        for d in [*channels, *await routing.privately(uow, people)]
    ]
    note = messages.nqsw_note(f)
    out += [_message(f.record, NOTE, d, note, due) for d in await routing.privately(uow, [f.nqsw])]
    await uow.outbox.add(org.id, out, at)


async def show(
    uow: UnitOfWork, org: OrgRecord, f: messages.AlertFacts, at: dt.datetime, *, ended: bool
) -> None:
    """Edit every copy of the alert to the breach's state now (and the NQSW's note when
    it ended); a resolved breach's reminders and escalations still queued are dropped."""
    tag = f"{f.record.status}@{at.isoformat()}"
    alert = messages.alert(f)
    edits = [_edit(m, tag, alert, at) for m in await uow.outbox.of_breach(f.record.id, (ALERT,))]
    if ended:
        note = messages.nqsw_note(f)
        edits += [_edit(m, tag, note, at) for m in await uow.outbox.of_breach(f.record.id, (NOTE,))]
        await uow.outbox.cancel(org.id, f.record.id, (REMINDER, ESCALATION))
    await uow.outbox.add(org.id, edits, at)


async def escalate_due(uow: UnitOfWork, org: OrgRecord, at: dt.datetime) -> int:
    """Fire every ladder step due by `at` of the organisation's unresolved breaches; returns
    how many fired. A step another replica fired first is skipped (`escalate` says so)."""
    escalation = compiled_policy(org).policy.escalation
    if escalation is None:
        return 0
    fired = 0
    for record in await uow.breaches.unresolved(org.id):
        ladder = ladder_due(record.opened_at, escalation)
        due = [s for s in ladder if s.step > record.escalated_step and s.due_at <= at]
        if not due:
            continue
        f = await facts(uow, org, record)
        for step in due:
            if not await uow.breaches.escalate(record.id, step.step, at):
                break
            f = _with_step(f, step.step)
            await _escalation(uow, org, f, step, at)
            fired += 1
        if f.record.escalated_step != record.escalated_step:
            await show(uow, org, f, at, ended=False)
    return fired


async def _escalation(
    uow: UnitOfWork, org: OrgRecord, f: messages.AlertFacts, step: StepDue, at: dt.datetime
) -> None:
    b = f.record.breach
    record = audit.BreachEscalated(
        worker=f.nqsw.ref,
        rule=b.rule,
        cases=b.case_ids,
        step=step.step,
        notify=tuple(r.value for r in step.notify),
        clause=step.clause,
    )
    await uow.audit.append(org.id, record, "system:escalation", at)
    people = await routing.holders(uow, f.nqsw, step.notify)
    own = await routing.team_channels(uow, await _team(uow, f.nqsw))
    body = messages.escalation(f, step)
    due = next_posting_time(at)
    targets = [*await routing.privately(uow, people), *await routing.channels_of(uow, people, own)]
    topic = f"{ESCALATION}{step.step}"
    await uow.outbox.add(org.id, [_message(f.record, topic, d, body, due) for d in targets], at)


def _no_wait(wait: Wait) -> bool:
    return not (wait.working_days or wait.calendar_days)


def _with_step(f: messages.AlertFacts, step: int) -> messages.AlertFacts:
    return replace(f, record=replace(f.record, escalated_step=step))


def _message(
    record: BreachRecord, topic: str, to: Destination, body: Reply, due: dt.datetime
) -> NewMessage:
    return NewMessage(
        key=f"breach:{record.id}:{topic}:{to.platform}:{to.kind}:{to.id}",
        topic=ESCALATION if topic.startswith(ESCALATION) else topic,
        platform=to.platform,
        tenant=to.tenant,
        kind=to.kind,
        target=to.id,
        body=encode(body),
        due_at=due,
        breach_id=record.id,
    )


def _edit(original: OutboxMessage, tag: str, body: Reply, at: dt.datetime) -> NewMessage:
    """Replaces `original` where it was posted; due at once (an edit notifies nobody)."""
    return NewMessage(
        key=f"{original.key}:{tag}",
        topic=UPDATE,
        platform=original.platform,
        tenant=original.tenant,
        kind=original.kind,
        target=original.target,
        body=encode(body),
        due_at=at,
        breach_id=original.breach_id,
        edits=original.key,
    )


async def _person(uow: UnitOfWork, person_id: int | None) -> PersonRecord | None:
    return None if person_id is None else await uow.people.get_by_id(person_id)


async def _team(uow: UnitOfWork, person: PersonRecord) -> TeamRecord | None:
    return None if person.team_id is None else await uow.teams.get_by_id(person.team_id)
