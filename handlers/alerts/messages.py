"""What alerts, reminders and escalations say, as neutral replies: the words of
`chat-replies.md` ("Breach alert"), in one place. Case references only, never a child's
name; a plan or reason is shown as the person who wrote it typed it.

An alert is always rebuilt whole from the breach as it stands, so that each later edit
(acknowledged, escalated, resolved) replaces the message with its complete current state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from handlers.chat import wording as w
from handlers.chat.replies import ActionKind, ActionValue, Button, Reply, Section, Tone
from handlers.ports import BreachRecord, PersonRecord
from policy import StaffRole, StepDue
from policy.calendar import LONDON
from policy.schema import ExternalCases

RESOLVED_BY_POLICY = "the caseload came back within policy"


@dataclass(frozen=True, slots=True)
class AlertFacts:
    """Everything an alert shows, read in the transaction that writes it."""

    record: BreachRecord
    nqsw: PersonRecord
    month: float | None
    """Months of practice on the day the breach opened; None when not on the ASYE."""
    ladder: tuple[StepDue, ...]
    at_once: int = 0
    """The last step of the ladder whose wait is zero: told with the alert, not escalated to."""
    acknowledged_by: PersonRecord | None = None
    resolved_by: PersonRecord | None = None


def alert(f: AlertFacts) -> Reply:
    """The alert to the team's managers' channel and to the people told of it."""
    return Reply(
        text=f"Breach: {_who(f)}: {f.record.breach.detail}",
        blocks=_about(f),
        buttons=_buttons(f),
        tone=_tone(f.record),
        private=False,
    )


def escalation(f: AlertFacts, step: StepDue) -> Reply:
    opened = w.day(_london(f.record.opened_at).date())
    return Reply(
        text=f"Escalation: {_who(f)}: breach unresolved since {opened}",
        blocks=(
            Section((f"You are told as {_roles(step.notify)}: {step.clause}.",)),
            *_about(f),
        ),
        buttons=_buttons(f),
        tone=_tone(f.record),
        private=False,
    )


def reminder(f: AlertFacts) -> Reply:
    opened = w.day(_london(f.record.opened_at).date())
    return Reply(
        text=f"Reminder: {_who(f)}: breach open since {opened}: {f.record.breach.detail}",
        blocks=_about(f),
        buttons=_buttons(f),
        tone=_tone(f.record),
    )


def nqsw_note(f: AlertFacts) -> Reply:
    """The NQSW's own private note: what was found, and that their manager was told."""
    b = f.record.breach
    lines = [
        f"Rule: {b.summary} ({b.clause})",
        "Your team's managers have been told, and your ASYE lead. You have done nothing wrong"
        " by holding it; they will sort out the allocation.",
    ]
    status = _status(f)
    if f.record.status == "resolved":
        lines = [*status, f"Rule: {b.summary} ({b.clause})"]
    return Reply(
        text=f"Your caseload is outside your ASYE policy: {b.detail}",
        blocks=(Section(tuple(lines)),),
        buttons=(Button(ActionKind.WHAT_CAN_THEY_HOLD, "What can I hold?", _worker(f)),),
        tone=_tone(f.record),
    )


def review_due(nqsw: PersonRecord, month: int, due: dt.date, overdue: bool) -> Reply:
    if overdue:
        text = (
            f"ASYE review overdue: {nqsw.display_name}'s month {month} review was due {w.day(due)}"
        )
    else:
        text = f"ASYE review soon: {nqsw.display_name}'s month {month} review is due {w.day(due)}"
    return Reply(
        text=text,
        blocks=(
            Section(
                (
                    "Record it in the case-management system when it has taken place;"
                    " the caseload bot learns of it from there.",
                )
            ),
        ),
        tone=Tone.BAD if overdue else Tone.CAUTION,
    )


def supervision_due(
    nqsw: PersonRecord, last: dt.date | None, due: dt.date, frequency: str
) -> Reply:
    since = "none recorded yet" if last is None else f"the last was {w.day(last)}"
    return Reply(
        text=f"Supervision overdue: {nqsw.display_name} was due supervision by {w.day(due)}",
        blocks=(
            Section(
                (
                    f"The policy asks for supervision {frequency.replace('_', '-')} at this"
                    f" stage; {since}.",
                    f"When it has taken place: `/caseload supervision done {nqsw.ref}`.",
                )
            ),
        ),
        tone=Tone.CAUTION,
    )


def external_case_due(nqsw: PersonRecord, by: dt.date, rule: ExternalCases) -> Reply:
    return Reply(
        text=f"No external case yet: {nqsw.display_name} reached month"
        f" {rule.identified_by_month} on {w.day(by)}",
        blocks=(
            Section(
                (
                    f"{rule.summary} ({rule.clause})",
                    "If gaps were found that the team cannot meet, an external case is due;"
                    " if none were, nothing needs doing.",
                )
            ),
        ),
        tone=Tone.CAUTION,
    )


def parked(topic: str, platform: str, kind: str, target: str, attempts: int, error: str) -> Reply:
    """To the organisation's admins: a message that could not be delivered."""
    return Reply(
        text=f"Not delivered: a {topic.replace('_', ' ')} message to a {platform} {kind}",
        blocks=(
            Section(
                (
                    f"{platform} {kind} {target}: {w.plural(attempts, 'attempt')}, last: {error}.",
                    "`caseload-bot outbox list --failed` shows it;"
                    " `caseload-bot outbox retry` sends it again.",
                )
            ),
        ),
        tone=Tone.BAD,
    )


# --- the parts -------------------------------------------------------------------------


def _about(f: AlertFacts) -> tuple[Section, ...]:
    b = f.record.breach
    lines = [f"Rule: {b.summary} ({b.clause})", f"Remedy: {b.remedy}"]
    upcoming = next_step(f)
    if upcoming is not None and f.record.status != "resolved":
        lines.append(
            f"Escalates to: {_roles(upcoming.notify)} on {w.day(_london(upcoming.due_at).date())}"
            " if unresolved"
        )
    status = _status(f)
    return (Section(tuple(lines)), *((Section(tuple(status)),) if status else ()))


def next_step(f: AlertFacts) -> StepDue | None:
    """The first step of the ladder still to fire, if any."""
    return next((s for s in f.ladder if s.step > f.record.escalated_step), None)


def _status(f: AlertFacts) -> list[str]:
    r = f.record
    lines: list[str] = []
    if r.acknowledged_at is not None and f.acknowledged_by is not None:
        at = _london(r.acknowledged_at)
        line = (
            f"Acknowledged by {f.acknowledged_by.display_name} at {at:%H:%M} on {w.day(at.date())}"
        )
        lines.append(line + (f". Plan: {r.plan}" if r.plan else ""))
    for step in f.ladder:
        if f.at_once < step.step <= r.escalated_step:
            lines.append(
                f"Escalated to {_roles(step.notify)} on {w.day(_london(step.due_at).date())}"
            )
    if r.status == "resolved" and r.resolved_at is not None:
        on = w.day(_london(r.resolved_at).date())
        if f.resolved_by is not None:
            lines.append(f"Resolved by {f.resolved_by.display_name} on {on}: {r.resolution}")
        else:
            lines.append(f"Resolved on {on}: {RESOLVED_BY_POLICY}")
    return lines


def _buttons(f: AlertFacts) -> tuple[Button, ...]:
    see = Button(ActionKind.WHAT_CAN_THEY_HOLD, "Open in caseload", _worker(f))
    if f.record.status == "resolved":
        return (see,)
    breach = ActionValue(breach=f.record.id)
    return (
        Button(ActionKind.ACKNOWLEDGE, "I'm on it", breach, primary=True),
        Button(ActionKind.RESOLVE, "Resolved", breach),
        see,
    )


def _worker(f: AlertFacts) -> ActionValue:
    return ActionValue(worker=f.nqsw.ref)


def _who(f: AlertFacts) -> str:
    if f.month is None:
        return f.nqsw.display_name
    return f"{f.nqsw.display_name} ({w.month(f.month)})"


def _tone(r: BreachRecord) -> Tone:
    return {"open": Tone.BAD, "acknowledged": Tone.CAUTION}.get(r.status, Tone.GOOD)


def _roles(roles: Sequence[StaffRole]) -> str:
    names = ["the " + w.staff_role(r) for r in roles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _london(at: dt.datetime) -> dt.datetime:
    return at.astimezone(LONDON)
