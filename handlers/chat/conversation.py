"""Chat's use cases: every command a person types or presses, answered as a neutral
`Reply` for Slack, Teams and the try-out page alike.

The asker is found by their chat identity; what they may ask is `permissions.TABLE`;
the answers come from the policy engine over the stored caseload. A check is audited
like any decision; recording an allocation goes through `handlers.allocations.allocate`,
which re-checks the policy under the worker's lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from handlers import audit
from handlers.alerts import lifecycle
from handlers.allocations import (
    AllocationRequest,
    Approval,
    NewCase,
    allocate,
    check_work_type,
)
from handlers.chat import answers
from handlers.chat import wording as w
from handlers.chat.asker import Who, whoami
from handlers.chat.channels import link_channel
from handlers.chat.commands import (
    Acknowledge,
    AskAcknowledge,
    Asker,
    AskException,
    AskResolve,
    CaseDetails,
    Caseload,
    ChatUser,
    Check,
    Command,
    Help,
    Home,
    LinkChannel,
    Person,
    Record,
    Report,
    RequestException,
    Resolve,
    SupervisionDone,
    TeamCaseload,
    WhoCanTake,
    WorkerRef,
)
from handlers.chat.permissions import Ask, Reach, may, roles_for
from handlers.chat.replies import ActionValue, ChatAddress, Reply
from handlers.chat.report import report
from handlers.errors import (
    AlreadyAllocated,
    CannotApprove,
    CaseClosed,
    NeedsWorkType,
    NoExceptionNeeded,
    NoTeam,
    NotInYourScope,
    NotOverridable,
    NotYours,
    ReasonNeeded,
    UnknownChatPerson,
)
from handlers.events import event_day
from handlers.policy_cache import compiled_policy
from handlers.ports import (
    CaseRecord,
    OrgRecord,
    PersonRecord,
    Source,
    TeamRecord,
    Transactions,
    UnitOfWork,
)
from policy import (
    Case,
    CaseloadRequest,
    Decision,
    DecisionRequest,
    Outcome,
    Role,
    StaffRole,
    Worker,
    decide,
    entitlements,
)
from policy.progress import override_roles, progress

JUSTIFICATION = (10, 1000)
"""Shortest and longest justification, as the policy engine's `Override` accepts."""
REASON = (10, 500)
"""Shortest and longest reason or plan for a breach, as the breaches table keeps it."""


async def run(tx: Transactions, asker: Asker, command: Command, at: dt.datetime) -> Reply:
    """The reply to one command; raises `CaseloadError` and `InputError` for the caller
    to word (see `handlers.chat.respond`)."""
    on = event_day(at)
    match command:
        case Help(topic, problem):
            return answers.help_reply(topic, problem)
        case Check():
            return await _check(tx, asker, command, on, at)
        case WhoCanTake():
            return await _who_can_take(tx, asker, command, on)
        case Record():
            return await _record(tx, asker, command, on, at)
        case AskException():
            return await _ask_exception(tx, asker, command, on)
        case RequestException():
            return await _request_exception(tx, asker, command, on, at)
        case Caseload(person):
            return await _caseload(tx, asker, person, on)
        case TeamCaseload():
            return await _team(tx, asker, on)
        case Home():
            return await _home(tx, asker, on)
        case LinkChannel():
            return await link_channel(tx, asker, command, at)
        case AskAcknowledge(breach) | AskResolve(breach):
            return await _ask_about_breach(tx, asker, command, breach)
        case Acknowledge(breach, plan):
            return await _acknowledge(tx, asker, breach, plan, at)
        case Resolve(breach, reason):
            return await _resolve(tx, asker, breach, reason, at)
        case SupervisionDone(person):
            return await _supervision(tx, asker, person, on, at)
        case Report():
            return await report(tx, asker, command, at)


# --- who is asking, and about whom ------------------------------------------------------


async def _subject(uow: UnitOfWork, asker: Asker, who: Who, person: Person) -> PersonRecord:
    """The person asked about, in the asker's organisation; anyone else is unknown."""
    if isinstance(person, ChatUser):
        found = await uow.directory.person(asker.platform, asker.tenant, person.user_id)
        shown = f"<@{person.user_id}>"
    else:
        assert isinstance(person, WorkerRef)
        found = await uow.people.get(who.org.id, person.ref)
        shown = person.ref
    if found is None or found.org_id != who.org.id:
        raise UnknownChatPerson(who=shown)
    return found


def _nearness(who: Who, subject: PersonRecord) -> Reach:
    """Without the assessor: that needs a read, made only when it could change the answer."""
    me = who.person
    if subject.id == me.id:
        return Reach.SELF
    if subject.manager_id == me.id or (me.team_id is not None and subject.team_id == me.team_id):
        return Reach.TEAM
    return Reach.ORG


async def _permit(uow: UnitOfWork, ask: Ask, who: Who, subject: PersonRecord | None) -> None:
    roles = who.person.roles
    nearness = Reach.TEAM if subject is None else _nearness(who, subject)
    if may(ask, roles, nearness):
        return
    if (
        subject is not None
        and nearness > Reach.ASSESSED
        and may(ask, roles, Reach.ASSESSED)
        and await uow.people.assessor_of(subject.id) == who.person.id
    ):
        return
    allowed = roles_for(ask)
    if subject is None or (ask is not Ask.CASELOAD_OF and not roles & set(allowed)):
        # Not theirs at all (anyone may see their own caseload, so that ask is about reach).
        raise NotYours(what=_capital(ask.value), roles=w.roles(allowed), yours=w.roles(roles))
    scope = _SCOPES.get(ask, _SCOPES[Ask.CHECK])
    raise NotInYourScope(what=_capital(ask.value), worker=subject.display_name, scope=scope)


_SCOPES = {
    Ask.CHECK: "their own team's managers and advanced practitioners, the ASYE lead or an admin",
    Ask.CASELOAD_OF: (
        "their own team's manager, their assessor, the ASYE lead or the principal social worker"
    ),
    Ask.ACKNOWLEDGE: (
        "their own team's managers, their assessor, the ASYE lead, the principal social worker,"
        " a service manager or the head of service"
    ),
    Ask.RESOLVE: (
        "their own team's managers, the ASYE lead, the principal social worker, a service"
        " manager or the head of service"
    ),
    Ask.SUPERVISION: (
        "themselves, their own team's managers and advanced practitioners, their assessor or"
        " the ASYE lead"
    ),
}
"""Who may act on someone outside the asker's reach, by ask; allocating asks share CHECK's."""


async def _own_team(uow: UnitOfWork, who: Who) -> TeamRecord:
    team_id = who.person.team_id
    team = None if team_id is None else await uow.teams.get_by_id(team_id)
    if team is None:
        raise NoTeam()
    return team


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


# --- the case asked about -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CaseAsked:
    proposal: Case
    """As the policy sees it (role set per question)."""
    stored: CaseRecord | None
    ignored_details: bool
    """The asker gave a type or children that the stored case overrides."""


async def _case(uow: UnitOfWork, org: OrgRecord, details: CaseDetails, role: Role) -> CaseAsked:
    stored = await uow.cases.get(org.id, details.ref)
    if stored is not None:
        if stored.closed_on is not None:
            raise CaseClosed(ref=stored.ref, closed_on=w.day(stored.closed_on))
        differs = (details.work_type not in (None, stored.work_type)) or (
            details.children not in (None, stored.children)
        )
        return CaseAsked(stored.as_policy_case(role), stored, differs)
    if details.work_type is None:
        known = ", ".join(sorted(compiled_policy(org).work_types))
        raise NeedsWorkType(ref=details.ref, known=known)
    check_work_type(org, details.work_type)
    proposal = Case(
        case_id=details.ref,
        work_type=details.work_type,
        children=details.children or 1,
        role=role,
    )
    return CaseAsked(proposal, None, False)


def _value(asked: CaseAsked, worker: PersonRecord | None, role: Role | None) -> ActionValue:
    """A button's payload: a stored case needs only its reference."""
    p = asked.proposal
    new = asked.stored is None
    return ActionValue(
        case=p.case_id,
        worker=None if worker is None else worker.ref,
        role=role,
        work_type=p.work_type if new else None,
        children=p.children if new else None,
    )


# --- /allocate ---------------------------------------------------------------------------


async def _check(
    tx: Transactions, asker: Asker, command: Check, on: dt.date, at: dt.datetime
) -> Reply:
    """Read, decide, then record the decision: nothing else is written, so the answer
    never waits behind the write lock, and the decision joins other answers' commit."""
    async with tx.read() as uow:
        who = await whoami(uow, asker)
        subject = await _subject(uow, asker, who, command.person)
        await _permit(uow, Ask.CHECK, who, subject)
        asked = await _case(uow, who.org, command.case, command.role)
        worker = await uow.people.asye_worker(subject.id)
        caseload = await uow.allocations.caseload(subject.id, on)
    held = next((c.role for c in caseload if c.case_id == asked.proposal.case_id), None)
    compiled = compiled_policy(who.org)
    decision: Decision | None = None
    approvers: tuple[StaffRole, ...] = ()
    if worker is not None:
        request = DecisionRequest(on=on, worker=worker, caseload=caseload, proposal=asked.proposal)
        decision = decide(compiled, request)
        record = audit.decision_made(subject, asked.proposal, on, Source.CHAT, decision)
        await tx.audit(who.org.id, record, who.actor, at)
        approvers = override_roles(compiled, request, decision)
    return answers.check_reply(
        answers.Checked(
            compiled=compiled,
            subject=subject,
            proposal=asked.proposal,
            decision=decision,
            caseload=caseload,
            approvers=approvers,
            held=held,
            ignored_details=asked.ignored_details,
            value=lambda role: _value(asked, subject, role),
        )
    )


PRACTITIONERS = frozenset(
    {StaffRole.NQSW, StaffRole.SOCIAL_WORKER, StaffRole.ADVANCED_PRACTITIONER}
)
"""Who may be offered a case besides anyone on the ASYE."""


async def _who_can_take(tx: Transactions, asker: Asker, command: WhoCanTake, on: dt.date) -> Reply:
    async with tx.read() as uow:
        who = await whoami(uow, asker)
        await _permit(uow, Ask.WHO_CAN_TAKE, who, None)
        asked = await _case(uow, who.org, command.case, Role.LEAD)
        team = await _own_team(uow, who)
        compiled = compiled_policy(who.org)
        candidates: list[answers.Candidate] = []
        for member in await uow.people.in_team(team.id):
            worker = await uow.people.asye_worker(member.id)
            if worker is None and not member.roles & PRACTITIONERS:
                continue
            caseload = await uow.allocations.caseload(member.id, on)
            decision = None
            if worker is not None:
                request = DecisionRequest(
                    on=on, worker=worker, caseload=caseload, proposal=asked.proposal
                )
                decision = decide(compiled, request)
            holds = any(c.case_id == asked.proposal.case_id for c in caseload)
            candidates.append(answers.Candidate(member, caseload, decision, holds))
    return answers.who_can_take_reply(
        compiled, team.name, asked.proposal, candidates, _value(asked, None, None)
    )


@dataclass(frozen=True, slots=True)
class Allocating:
    who: Who
    subject: PersonRecord
    asked: CaseAsked
    worker: Worker | None
    approvers: tuple[StaffRole, ...]
    allowed: bool
    """Allowed as asked without an exception (always so for someone not on the ASYE)."""


async def _allocating(
    tx: Transactions,
    asker: Asker,
    person: Person,
    details: CaseDetails,
    role: Role,
    ask: Ask,
    on: dt.date,
) -> Allocating:
    async with tx.read() as uow:
        who = await whoami(uow, asker)
        subject = await _subject(uow, asker, who, person)
        await _permit(uow, ask, who, subject)
        asked = await _case(uow, who.org, details, role)
        worker = await uow.people.asye_worker(subject.id)
        approvers: tuple[StaffRole, ...] = ()
        allowed = True
        if worker is not None and ask is Ask.EXCEPTION:
            caseload = await uow.allocations.caseload(subject.id, on)
            request = DecisionRequest(
                on=on, worker=worker, caseload=caseload, proposal=asked.proposal
            )
            compiled = compiled_policy(who.org)
            decision = decide(compiled, request)
            allowed = decision.outcome is Outcome.ALLOW
            approvers = override_roles(compiled, request, decision)
    return Allocating(who, subject, asked, worker, approvers, allowed)


def _request(
    a: Allocating, role: Role, on: dt.date, approval: Approval | None = None
) -> AllocationRequest:
    p = a.asked.proposal
    return AllocationRequest(
        org_id=a.who.org.id,
        case_ref=p.case_id,
        worker_ref=a.subject.ref,
        role=role,
        on=on,
        source=Source.CHAT,
        actor=a.who.actor,
        approval=approval,
        new_case=None if a.asked.stored is not None else NewCase(p.work_type, p.children),
    )


async def _record(
    tx: Transactions, asker: Asker, command: Record, on: dt.date, at: dt.datetime
) -> Reply:
    a = await _allocating(tx, asker, command.person, command.case, command.role, Ask.RECORD, on)
    compiled = compiled_policy(a.who.org)
    try:
        result = await allocate(tx, _request(a, command.role, on), at)
    except AlreadyAllocated:
        return answers.already_reply(compiled, a.subject, a.asked.proposal)
    return answers.recorded_reply(compiled, a.subject, a.asked.proposal, result, on)


def _approving_role(a: Allocating) -> StaffRole:
    if a.allowed:
        raise NoExceptionNeeded(worker=a.subject.display_name)
    if not a.approvers:
        raise NotOverridable()
    mine = [r for r in a.approvers if r in a.who.person.roles]
    if not mine:
        raise CannotApprove(roles=w.roles(a.approvers))
    return mine[0]


async def _ask_exception(
    tx: Transactions, asker: Asker, command: AskException, on: dt.date
) -> Reply:
    a = await _allocating(tx, asker, command.person, command.case, command.role, Ask.EXCEPTION, on)
    _approving_role(a)
    return answers.exception_form(
        compiled_policy(a.who.org),
        a.subject,
        a.asked.proposal,
        _value(a.asked, a.subject, command.role),
        JUSTIFICATION,
    )


async def _request_exception(
    tx: Transactions, asker: Asker, command: RequestException, on: dt.date, at: dt.datetime
) -> Reply:
    a = await _allocating(tx, asker, command.person, command.case, command.role, Ask.EXCEPTION, on)
    role = _approving_role(a)
    compiled = compiled_policy(a.who.org)
    approval = Approval(a.who.person.ref, role, command.justification.strip())
    try:
        result = await allocate(tx, _request(a, command.role, on, approval), at)
    except AlreadyAllocated:
        return answers.already_reply(compiled, a.subject, a.asked.proposal)
    reply = answers.recorded_reply(compiled, a.subject, a.asked.proposal, result, on)
    if result.allocation is None or result.decision is None:
        return reply
    async with tx.read() as uow:
        told: list[int] = []
        assessor = await uow.people.assessor_of(a.subject.id)
        if assessor is not None:
            told.append(assessor)
        for told_role in (StaffRole.ASYE_LEAD, StaffRole.PRINCIPAL_SOCIAL_WORKER):
            told += [p.id for p in await uow.people.with_role(a.who.org.id, told_role)]
        wanted = [i for i in dict.fromkeys(told) if i != a.who.person.id]
        addresses = tuple(
            ChatAddress(i.platform, i.tenant, i.user_id)
            for i in await uow.directory.identities(wanted)
        )
    notice = answers.exception_notice(
        compiled, a.subject, a.who.person, role, a.asked.proposal, result.decision, addresses
    )
    return answers.with_notice(reply, notice)


# --- /caseload ---------------------------------------------------------------------------


async def _caseload(tx: Transactions, asker: Asker, person: Person | None, on: dt.date) -> Reply:
    async with tx.read() as uow:
        who = await whoami(uow, asker)
        subject = who.person if person is None else await _subject(uow, asker, who, person)
        own = subject.id == who.person.id
        if not own:
            await _permit(uow, Ask.CASELOAD_OF, who, subject)
        worker = await uow.people.asye_worker(subject.id)
        caseload = await uow.allocations.caseload(subject.id, on)
        open_breaches = await uow.breaches.open_for(subject.id)
    compiled = compiled_policy(who.org)
    if worker is None:
        return answers.not_on_asye_reply(subject, caseload, own)
    return answers.caseload_reply(
        compiled,
        subject,
        entitlements(compiled, CaseloadRequest(on=on, worker=worker, caseload=caseload)),
        progress(compiled, on, worker),
        open_breaches,
        own,
        on,
    )


async def _team(tx: Transactions, asker: Asker, on: dt.date) -> Reply:
    async with tx.read() as uow:
        who = await whoami(uow, asker)
        await _permit(uow, Ask.TEAM_CASELOAD, who, None)
        team = await _own_team(uow, who)
        compiled = compiled_policy(who.org)
        rows: list[answers.TeamRow] = []
        for member in await uow.people.in_team(team.id):
            worker = await uow.people.asye_worker(member.id)
            if worker is None:
                continue
            caseload = await uow.allocations.caseload(member.id, on)
            held = entitlements(compiled, CaseloadRequest(on=on, worker=worker, caseload=caseload))
            rows.append(answers.TeamRow(member, held, len(await uow.breaches.open_for(member.id))))
    return answers.team_reply(team.name, rows)


async def _home(tx: Transactions, asker: Asker, on: dt.date) -> Reply:
    async with tx.read() as uow:
        who = await whoami(uow, asker)
        on_asye = await uow.people.asye_worker(who.person.id) is not None
    if on_asye:
        return await _caseload(tx, asker, None, on)
    if who.person.team_id is not None and may(Ask.TEAM_CASELOAD, who.person.roles, Reach.TEAM):
        return await _team(tx, asker, on)
    return answers.help_reply("start", None)


# --- breach alerts' buttons, and supervision -----------------------------------------------


async def _ask_about_breach(
    tx: Transactions, asker: Asker, command: AskAcknowledge | AskResolve, breach: int
) -> Reply:
    """The form first; who may act is checked now, so nobody types a plan for nothing."""
    acknowledging = isinstance(command, AskAcknowledge)
    async with tx.read() as uow:
        who = await whoami(uow, asker)
        record = await lifecycle.unresolved(uow, who.org, breach)
        nqsw = await _breach_subject(uow, who, record.person_id)
        await _permit(uow, Ask.ACKNOWLEDGE if acknowledging else Ask.RESOLVE, who, nqsw)
    form = answers.acknowledge_form if acknowledging else answers.resolve_form
    return form(nqsw, breach, REASON)


async def _acknowledge(
    tx: Transactions, asker: Asker, breach: int, plan: str | None, at: dt.datetime
) -> Reply:
    if plan is not None and len(plan) > REASON[1]:
        raise ReasonNeeded(min=0, max=REASON[1])

    async def once() -> Reply:
        async with tx.write(urgent=True) as uow:
            who = await whoami(uow, asker)
            record = await lifecycle.unresolved(uow, who.org, breach)
            nqsw = await _breach_subject(uow, who, record.person_id)
            await _permit(uow, Ask.ACKNOWLEDGE, who, nqsw)
            done = await lifecycle.acknowledge(uow, who.org, record, who.person, plan, at)
        return answers.acknowledged_reply(nqsw, done)

    return await tx.retry(once)


async def _resolve(
    tx: Transactions, asker: Asker, breach: int, reason: str, at: dt.datetime
) -> Reply:
    if not REASON[0] <= len(reason) <= REASON[1]:
        raise ReasonNeeded(min=REASON[0], max=REASON[1])

    async def once() -> Reply:
        async with tx.write(urgent=True) as uow:
            who = await whoami(uow, asker)
            record = await lifecycle.unresolved(uow, who.org, breach)
            nqsw = await _breach_subject(uow, who, record.person_id)
            await _permit(uow, Ask.RESOLVE, who, nqsw)
            done = await lifecycle.resolve(uow, who.org, record, who.person, reason, at)
        return answers.resolved_reply(nqsw, done)

    return await tx.retry(once)


async def _breach_subject(uow: UnitOfWork, who: Who, person_id: int) -> PersonRecord:
    nqsw = await uow.people.get_by_id(person_id)
    assert nqsw is not None and nqsw.org_id == who.org.id, "a breach's person is its org's"
    return nqsw


async def _supervision(
    tx: Transactions, asker: Asker, person: Person | None, on: dt.date, at: dt.datetime
) -> Reply:
    async def once() -> Reply:
        async with tx.write(urgent=True) as uow:
            who = await whoami(uow, asker)
            subject = who.person if person is None else await _subject(uow, asker, who, person)
            own = subject.id == who.person.id
            if not own:
                await _permit(uow, Ask.SUPERVISION, who, subject)
            new = await uow.supervisions.record(subject.id, on, at)
            if new:
                entry = audit.SupervisionRecorded(worker=subject.ref, on=on, source=Source.CHAT)
                await uow.audit.append(who.org.id, entry, who.actor, at)
        return answers.supervision_reply(subject, on, new, own)

    return await tx.retry(once)
