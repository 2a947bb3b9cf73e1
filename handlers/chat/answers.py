"""The words of every chat answer, built from the policy's results: what comes first,
what follows and which buttons are offered (`../shared/design/chat-replies.md`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from handlers.allocations import AllocationResult
from handlers.chat import wording as w
from handlers.chat.replies import (
    ActionKind,
    ActionValue,
    Block,
    Button,
    ChatAddress,
    Facts,
    Form,
    Notice,
    Reply,
    Section,
    Tone,
)
from handlers.ports import BreachRecord, PersonRecord
from policy import (
    Breach,
    Case,
    CompiledPolicy,
    Decision,
    Entitlements,
    Outcome,
    Reason,
    Role,
    StaffRole,
)
from policy.progress import Progress
from policy.schema import RESTRICTIVENESS

TONES = {Outcome.ALLOW: Tone.GOOD, Outcome.CO_WORK: Tone.CAUTION, Outcome.DENY: Tone.BAD}
EFFECTS = {Outcome.ALLOW: "Allows", Outcome.CO_WORK: "Co-work only", Outcome.DENY: "Blocks"}

# --- help and trouble ------------------------------------------------------------------

USAGE: dict[str, tuple[str, ...]] = {
    "allocate": (
        "`/allocate CASE_REF to @person as lead` (or `as co-worker`): may they hold it? Nothing is recorded until you press Record allocation.",
        "`/allocate CASE_REF to @person type WORK_TYPE children N`: for a case the bot does not know yet.",
        "`/allocate CASE_REF`: who in your team can take it.",
        "For example `/allocate C-1042 to @sam as lead`.",
    ),
    "caseload": (
        "`/caseload`: what you can hold, month by month of your ASYE.",
        "`/caseload @person`: theirs, for their manager, assessor, ASYE lead and principal social worker.",
        "`/caseload team`: one line per NQSW in your team.",
        "`/caseload report equality`: the report's measures by cohort, for the principal social worker only, where your organisation records cohorts.",
        "`/caseload report`: this week's caseload report, for your team's managers; the ASYE lead, principal social worker and head of service see the whole organisation, or `report team TEAM_REF`.",
    ),
    "start": (
        "I check allocations against your council's ASYE policy, so that newly qualified social workers get the protected caseload they were promised.",
        "Ask me `what can I hold?`, or use `/allocate` and `/caseload` (`/allocate help` shows how).",
    ),
}
TITLES = {
    "allocate": "How to use /allocate",
    "caseload": "How to use /caseload",
    "start": "What I can do",
}


def help_reply(topic: Literal["allocate", "caseload", "start"], problem: str | None) -> Reply:
    if problem is None:
        return Reply(text=TITLES[topic], blocks=(Section(USAGE[topic]),))
    return Reply(
        text=f"I could not read that: {problem}.",
        blocks=(Section(USAGE[topic], title=TITLES[topic]),),
        tone=Tone.CAUTION,
    )


def refusal(message: str) -> Reply:
    """A deliberate no (unknown person, not permitted, bad input): one sentence."""
    sentence = message[:1].upper() + message[1:]
    return Reply(text=sentence if sentence.endswith(".") else sentence + ".", tone=Tone.BAD)


def busy() -> Reply:
    return Reply(
        text="The caseload bot is busy: nothing was recorded. Please try again in a moment.",
        tone=Tone.CAUTION,
    )


def failure(reference: str) -> Reply:
    """For what nobody planned: the reference is in the log line that says what happened."""
    return Reply(
        text=f"Sorry, something went wrong on our side (reference {reference}). "
        "Please try again; if it happens again, give the reference to your IT service desk.",
        tone=Tone.BAD,
    )


# --- /allocate CASE to @person ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checked:
    compiled: CompiledPolicy
    subject: PersonRecord
    proposal: Case
    decision: Decision | None
    """None: the person is not on the ASYE."""
    caseload: tuple[Case, ...]
    approvers: tuple[StaffRole, ...]
    held: Role | None
    """The role in which they already hold this case."""
    ignored_details: bool
    value: Callable[[Role | None], ActionValue]


def _what(compiled: CompiledPolicy, subject: PersonRecord, case: Case, role: Role) -> str:
    return f"{subject.display_name} for {case.case_id} ({w.work(compiled, case.work_type, case.flags)}) as {w.role(role)}"


def _lead_children(caseload: Sequence[Case], besides: str) -> int:
    return sum(c.children for c in caseload if c.role is Role.LEAD and c.case_id != besides)


def check_reply(c: Checked) -> Reply:
    p, s, compiled, d = c.proposal, c.subject, c.compiled, c.decision
    what = _what(compiled, s, p, p.role)
    notes: list[str] = []
    if c.held is not None:
        notes.append(f"{s.display_name} already holds {p.case_id} as {w.role(c.held)}.")
    if c.ignored_details:
        notes.append(
            f"{p.case_id} is recorded as {w.work(compiled, p.work_type)} with {w.plural(p.children, 'child', 'children')}; "
            "the type and children you gave were not used."
        )
    record_role: Role | None = p.role
    buttons: list[Button] = []
    if d is None:
        before = _lead_children(c.caseload, p.case_id)
        after = before + (p.children if p.role is Role.LEAD else 0)
        blocks: list[Block] = [
            Section(
                (
                    f"{s.display_name} is not on the ASYE: the protected caseload does not apply.",
                    *notes,
                )
            ),
            Facts((("Caseload", w.children(before, after, None)),)),
        ]
        verdict, tone = w.VERDICTS[Outcome.ALLOW], Tone.GOOD
    else:
        verdict, tone = w.VERDICTS[d.outcome], TONES[d.outcome]
        intro = f"{s.display_name} is in {w.month(d.month_of_practice)} of the ASYE."
        blocks = [Section((intro, *notes)), *_why(d)]
        if d.conditions:
            title = "Conditions if co-worked" if d.outcome is Outcome.CO_WORK else "Conditions"
            blocks.append(Section(d.conditions, title=title, bullets=True))
        facts = [("Caseload", _caseload_line(compiled, d))]
        if d.caseload.points_cap is not None:
            f = d.caseload
            facts.append(("Points", w.points(f.points_before, f.points_after, f.points_cap)))
        if d.outcome is not Outcome.ALLOW:
            label = "Could lead after" if p.role is Role.LEAD else "Could co-work after"
            facts.append((label, w.allowed_from(d.allowed_from)))
        blocks.append(Facts(tuple(facts)))
        if d.outcome is Outcome.CO_WORK and p.role is Role.LEAD:
            record_role = Role.CO_WORK
        elif d.outcome is not Outcome.ALLOW:
            record_role = None
    if record_role is not None and record_role is not c.held:
        label = "Record allocation" if record_role is p.role else "Record as co-worker"
        buttons.append(Button(ActionKind.RECORD, label, c.value(record_role), primary=True))
    if c.approvers and c.held is not p.role:
        needs = w.with_article(w.roles(c.approvers))
        buttons.append(
            Button(
                ActionKind.REQUEST_EXCEPTION, f"Request exception (needs {needs})", c.value(p.role)
            )
        )
    buttons.append(Button(ActionKind.WHO_CAN_TAKE, "Who can take it?", c.value(None)))
    buttons.append(Button(ActionKind.WHAT_CAN_THEY_HOLD, "What can they hold?", c.value(None)))
    return Reply(
        text=f"{verdict}: {what}",
        blocks=tuple(blocks),
        buttons=tuple(buttons),
        tone=tone,
        decision=None if d is None else d.outcome,
    )


def _why(d: Decision) -> tuple[Block, ...]:
    """Every rule that applied, the ones that decided it first."""
    if not d.reasons:
        return (Section(("No rule of the policy restricts this work.",), title="Why"),)
    ordered = sorted(d.reasons, key=lambda r: -RESTRICTIVENESS[r.effect])
    return (Section(tuple(_reason(r) for r in ordered), title="Why", bullets=True),)


def _reason(r: Reason) -> str:
    effect = "Set aside" if r.overridden else EFFECTS[r.effect]
    note = f" ({r.note})" if r.note else ""
    return f"{effect}: {r.summary}{note} [{r.clause}]"


def _caseload_line(compiled: CompiledPolicy, d: Decision) -> str:
    f = d.caseload
    cap = compiled.children_cap
    if (
        d.outcome is Outcome.CO_WORK
        and d.requested_role is Role.LEAD
        and cap is not None
        and not cap.co_work_counts
        and f.children_cap is not None
        and f.children_after > f.children_cap
    ):
        return (
            f"as lead: {f.children_after} of {w.number(f.children_cap)} children; "
            "co-worked children do not count under this policy"
        )
    return w.children(f.children_before, f.children_after, f.children_cap)


# --- who can take it --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    person: PersonRecord
    caseload: tuple[Case, ...]
    decision: Decision | None
    """As lead; None for someone not on the ASYE."""
    holds: bool


def who_can_take_reply(
    compiled: CompiledPolicy,
    team: str,
    proposal: Case,
    candidates: Sequence[Candidate],
    value: ActionValue,
) -> Reply:
    lead: list[tuple[float, str]] = []
    co_work: list[str] = []
    not_now: list[str] = []
    holding: list[str] = []
    for c in candidates:
        name, d = c.person.display_name, c.decision
        if c.holds:
            holding.append(name)
        elif d is None:
            before = _lead_children(c.caseload, proposal.case_id)
            after = before + proposal.children
            lead.append((after, f"{name} (experienced, {w.children(before, after, None)})"))
        elif d.outcome is Outcome.ALLOW:
            f = d.caseload
            shown = w.children(f.children_before, f.children_after, f.children_cap)
            lead.append((f.children_after, f"{name} ({w.month(d.month_of_practice)}, {shown})"))
        elif d.outcome is Outcome.CO_WORK:
            f, cap = d.caseload, compiled.children_cap
            if f.children_cap is not None and f.children_after > f.children_cap:
                figures = f"as lead {f.children_after} of {w.number(f.children_cap)} children"
            elif cap is not None and cap.co_work_counts:
                figures = "co-working counts towards the cap"
            else:
                figures = "co-working does not count"
            co_work.append(f"{name} ({w.month(d.month_of_practice)}, {figures})")
        else:
            when = w.allowed_from(d.allowed_from)
            not_now.append(f"{name} ({w.month(d.month_of_practice)}: after {when})")
    pairs = [
        ("Lead", ", ".join(text for _, text in sorted(lead, key=lambda x: x[0])) or "nobody"),
        ("Co-work", ", ".join(co_work) or "nobody"),
        ("Not now", ", ".join(not_now) or "nobody"),
    ]
    if holding:
        pairs.append(("Already holds it", ", ".join(holding)))
    work = w.work(compiled, proposal.work_type, proposal.flags)
    children = w.plural(proposal.children, "child", "children")
    return Reply(
        text=f"{proposal.case_id} ({work}, {children}): who in {team} can take it",
        blocks=(Facts(tuple(pairs)),),
    )


# --- recording --------------------------------------------------------------------------------


def already_reply(compiled: CompiledPolicy, subject: PersonRecord, proposal: Case) -> Reply:
    """A second press of the same button: nothing is recorded twice."""
    return Reply(
        text=f"Already recorded: {subject.display_name} holds {proposal.case_id} "
        f"({w.work(compiled, proposal.work_type, proposal.flags)}) as {w.role(proposal.role)}",
        replaces=True,
    )


def recorded_reply(
    compiled: CompiledPolicy,
    subject: PersonRecord,
    proposal: Case,
    result: AllocationResult,
    on: dt.date,
) -> Reply:
    d = result.decision
    work = w.work(compiled, proposal.work_type, proposal.flags)
    if result.allocation is None:
        assert d is not None  # only the policy refuses
        what = _what(compiled, subject, proposal, proposal.role)
        return Reply(
            text=f"Not recorded: {w.VERDICTS[d.outcome].lower()} now for {what}",
            blocks=(
                Section(("The caseload changed since the check; nothing was recorded.",)),
                *_why(d),
            ),
            tone=TONES[d.outcome],
            replaces=True,
        )
    role = result.allocation.role
    blocks: list[Block] = []
    if d is not None:
        if d.overridden:
            set_aside = tuple(f"{r.summary} [{r.clause}]" for r in d.reasons if r.overridden)
            blocks.append(Section(set_aside, title="Exception recorded: set aside", bullets=True))
        if d.conditions:
            blocks.append(Section(d.conditions, title="Conditions", bullets=True))
        if role is d.requested_role:
            blocks.append(Facts((("Caseload", _caseload_line(compiled, d)),)))
    opened = [c.breach for c in result.breach_changes if c.change == "opened"]
    resolved = [c.breach for c in result.breach_changes if c.change == "resolved"]
    if opened:
        blocks.append(Section(_breaches(opened), title="This opened a breach", bullets=True))
    if resolved:
        blocks.append(Section(_breaches(resolved), title="This resolved a breach", bullets=True))
    return Reply(
        text=f"Recorded: {subject.display_name} holds {proposal.case_id} ({work}) as {w.role(role)} from {w.day(on)}",
        blocks=tuple(blocks),
        tone=Tone.BAD if opened else Tone.GOOD,
        replaces=True,
    )


def _breaches(found: Sequence[Breach]) -> tuple[str, ...]:
    return tuple(f"{b.summary} ({', '.join(b.case_ids)}) [{b.clause}]" for b in found)


def exception_form(
    compiled: CompiledPolicy,
    subject: PersonRecord,
    proposal: Case,
    value: ActionValue,
    length: tuple[int, int],
) -> Reply:
    what = _what(compiled, subject, proposal, proposal.role)
    form = Form(
        kind=ActionKind.REQUEST_EXCEPTION,
        title="Approve an exception",
        prompt=(
            f"Why should {what.replace(' for ', ' hold ', 1)}? This is kept in the audit log and "
            "the ASYE lead and the principal social worker are told. Do not write a child's name."
        ),
        submit="Approve and record",
        value=value,
        min_length=length[0],
        max_length=length[1],
    )
    return Reply(text=f"Approve an exception for {what}", form=form)


def exception_notice(
    compiled: CompiledPolicy,
    subject: PersonRecord,
    approver: PersonRecord,
    role: StaffRole,
    proposal: Case,
    decision: Decision,
    to: tuple[ChatAddress, ...],
) -> Notice | None:
    if not to:
        return None
    work = w.work(compiled, proposal.work_type, proposal.flags)
    set_aside = tuple(f"{r.summary} [{r.clause}]" for r in decision.reasons if r.overridden)
    return Notice(
        to=to,
        text=f"Exception approved: {subject.display_name} holds {proposal.case_id} ({work}) as "
        f"{w.role(proposal.role)} in {w.month(decision.month_of_practice)}",
        blocks=(
            Section(
                (
                    f"Approved by {approver.display_name} ({w.staff_role(role)}). "
                    "The justification is kept in the audit log.",
                )
            ),
            Section(set_aside, title="Set aside", bullets=True),
        ),
    )


def with_notice(reply: Reply, notice: Notice | None) -> Reply:
    return reply if notice is None else replace(reply, notices=(*reply.notices, notice))


# --- what can I hold? ---------------------------------------------------------------------------


def not_on_asye_reply(subject: PersonRecord, caseload: tuple[Case, ...], own: bool) -> Reply:
    lead = sum(c.children for c in caseload if c.role is Role.LEAD)
    co = sum(c.children for c in caseload if c.role is Role.CO_WORK)
    who = "You are" if own else f"{subject.display_name} is"
    return Reply(
        text=f"{who} not on the ASYE: the protected caseload does not apply",
        blocks=(Facts((("Caseload", f"{lead} children as lead, {co} as co-worker"),)),),
    )


def caseload_reply(
    compiled: CompiledPolicy,
    subject: PersonRecord,
    held: Entitlements,
    standing: Progress,
    open_breaches: tuple[Breach, ...],
    own: bool,
    on: dt.date,
) -> Reply:
    month = w.month(held.month_of_practice)
    started = f"ASYE started {w.day(standing.asye_start)}"
    if standing.days_paused:
        started += f"; {_leave(standing.days_paused)} of leave stopped the clock"
    head = f"{month[:1].upper()}{month[1:]} of {standing.programme_months} ({started})"
    text = head if own else f"{subject.display_name}: {head[:1].lower()}{head[1:]}"
    cap = held.caseload
    lines = [f"Caseload: {w.children(cap.children, cap.children, cap.children_cap)}."]
    if cap.points_cap is not None:
        lines.append(f"Points: {w.points(cap.points, cap.points, cap.points_cap)}.")
    review = standing.next_review
    if review is not None:
        due = "date not known while on leave" if review.due is None else w.day(review.due)
        late = " (overdue)" if review.due is not None and review.due < on else ""
        lines.append(f"Next review: month {review.month} review, due {due}{late}.")
    hold: list[str] = []
    co_work: list[str] = []
    not_yet: list[str] = []
    for e in held.work_types:
        work = w.work(compiled, e.work_type, e.flags)
        if e.lead is Outcome.ALLOW:
            hold.append(work)
        elif e.lead is Outcome.CO_WORK:
            co_work.append(f"{work} (lead after {w.allowed_from(e.allowed_from)})")
        else:
            not_yet.append(f"{work} (after {w.allowed_from(e.allowed_from)})")
    you = "You can" if own else "Can"
    blocks: list[Block] = [
        Section(tuple(lines)),
        Facts(
            (
                (f"{you} hold", ", ".join(hold) or "nothing yet"),
                (f"{you} co-work", ", ".join(co_work) or "nothing more"),
                ("Not yet", ", ".join(not_yet) or "nothing"),
            )
        ),
    ]
    if open_breaches:
        blocks.append(Section(_breaches(open_breaches), title="Open breaches", bullets=True))
    return Reply(text=text, blocks=tuple(blocks))


def _leave(days: int) -> str:
    if days >= 7 and days % 7 == 0:
        return w.plural(days // 7, "week")
    return w.plural(days, "day")


@dataclass(frozen=True, slots=True)
class TeamRow:
    person: PersonRecord
    held: Entitlements
    open_breaches: int


def team_reply(team: str, rows: Sequence[TeamRow]) -> Reply:
    lines = []
    for r in rows:
        cap = r.held.caseload
        figures = w.children(cap.children, cap.children, cap.children_cap)
        if cap.points_cap is not None:
            figures += ", " + w.points(cap.points, cap.points, cap.points_cap)
        breaches = w.plural(r.open_breaches, "open breach", "open breaches")
        lines.append(
            f"{r.person.display_name}: {w.month(r.held.month_of_practice)}, {figures}, {breaches}"
        )
    return Reply(
        text=f"{team}: {w.plural(len(rows), 'NQSW')}",
        blocks=(Section(tuple(lines) or ("Nobody in this team is on the ASYE.",)),),
    )


# --- breach alerts' buttons, and supervision -----------------------------------------------


def acknowledge_form(nqsw: PersonRecord, breach: int, length: tuple[int, int]) -> Reply:
    form = Form(
        kind=ActionKind.ACKNOWLEDGE,
        title="I'm on it",
        prompt=(
            f"Your plan for {nqsw.display_name}'s breach, if you want to say it (optional)."
            " It is shown on the alert and kept in the audit log. Case references only."
        ),
        submit="Acknowledge",
        value=ActionValue(breach=breach),
        min_length=0,
        max_length=length[1],
        label="Plan (optional)",
    )
    return Reply(text=f"Acknowledge {nqsw.display_name}'s breach", form=form)


def resolve_form(nqsw: PersonRecord, breach: int, length: tuple[int, int]) -> Reply:
    form = Form(
        kind=ActionKind.RESOLVE,
        title="Resolve a breach",
        prompt=(
            f"Why is {nqsw.display_name}'s breach resolved (e.g. C-2001 reallocated to a"
            " senior social worker)? It is shown on the alert and kept in the audit log."
            " Case references only."
        ),
        submit="Resolve",
        value=ActionValue(breach=breach),
        min_length=length[0],
        max_length=length[1],
        label="Reason",
    )
    return Reply(text=f"Resolve {nqsw.display_name}'s breach", form=form)


def acknowledged_reply(nqsw: PersonRecord, record: BreachRecord) -> Reply:
    return Reply(
        text=f"Acknowledged: you are on {nqsw.display_name}'s breach ({record.breach.detail})",
        blocks=(
            Section(
                (
                    "The alert now says so. The escalation ladder goes on until the breach is"
                    " resolved; your own daily reminders pause for a week.",
                )
            ),
        ),
        tone=Tone.CAUTION,
    )


def resolved_reply(nqsw: PersonRecord, record: BreachRecord) -> Reply:
    return Reply(
        text=f"Resolved: {nqsw.display_name}'s breach ({record.breach.detail})",
        blocks=(
            Section(
                (
                    "The alert now says so and no more reminders or escalations go out for it."
                    " If the caseload still breaks the same rule over other cases, a new breach"
                    " opens.",
                )
            ),
        ),
        tone=Tone.GOOD,
    )


def supervision_reply(subject: PersonRecord, on: dt.date, new: bool, own: bool) -> Reply:
    whose = "your" if own else f"{subject.display_name}'s"
    if not new:
        return Reply(text=f"Already recorded: {whose} supervision on {w.day(on)}")
    return Reply(text=f"Recorded: {whose} supervision on {w.day(on)}", tone=Tone.GOOD)
