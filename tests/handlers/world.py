"""The world the handler tests run in: organisation `stoke` on the stoke-childrens preset
(no child protection before the six-month review, co-work only until the nine-month one
unless a Complex Working Agreement, at most 16 children held as lead), its people, and
ways to state what is stored before a use case runs and read what it changed.

NQ-1 is an NQSW whose ASYE started on Monday 6 January 2025; TM-1 a team manager and
SW-1 a social worker, neither on the ASYE. Times are fixed: nothing depends on today.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from handlers import admin, audit
from handlers.events import CaseEvent, parse_event
from handlers.ports import Source
from policy import PolicyFile, Role, StaffRole, parse_policy, preset_text
from tests.fakes import FakeState, FakeTransactions

STOKE = "stoke"
ASYE_START = dt.date(2025, 1, 6)
MONTH_4 = dt.date(2025, 5, 6)
MONTH_7 = dt.date(2025, 8, 6)
MONTH_10 = dt.date(2025, 11, 6)

CREATED = dt.datetime(2025, 1, 2, 9, 0, tzinfo=dt.UTC)
"""When the organisation was created."""
SEEDED = dt.datetime(2025, 1, 3, 9, 0, tzinfo=dt.UTC)
"""`occurred_at` of everything a `Given` stores: older than any event a test sends."""
T0 = dt.datetime(2025, 8, 6, 9, 0, tzinfo=dt.UTC)
"""The server's time when a use case runs: 10:00 on 6 August 2025 in London, month 7."""

JUSTIFICATION = "Sibling group already known to this worker"


@cache
def stoke_policy() -> tuple[PolicyFile, str, str]:
    """The preset parsed, its source and text: parsed once, as it costs more than a test."""
    source, text = preset_text("stoke-childrens")
    return parse_policy(text, source), source, text


async def create_stoke(tx: FakeTransactions, org_id: str = STOKE) -> None:
    """As `caseload-bot org create --policy stoke-childrens` does, with its first audit row."""
    policy, source, text = stoke_policy()
    await admin.create_organisation(
        tx, org_id, org_id.title(), policy, source, text, "cli", CREATED
    )


@dataclass(frozen=True)
class Given:
    """What is stored before the use case runs (besides the organisation and its people)."""

    reviews: tuple[int, ...] = (3,)
    """NQ-1's reviews passed."""
    agreements: tuple[str, ...] = ()
    cases: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    """Case ref: (work type, children)."""
    holds: Mapping[str, str] = field(default_factory=dict)
    """Case ref: the role NQ-1 has held it in since the start of their ASYE."""
    closed: Mapping[str, dt.date] = field(default_factory=dict)


async def given(tx: FakeTransactions, state: Given = Given()) -> None:
    """Create `stoke` and store `state` directly, as earlier events would have."""
    await create_stoke(tx)
    async with tx.write() as uow:
        people = {
            "NQ-1": StaffRole.NQSW,
            "TM-1": StaffRole.TEAM_MANAGER,
            "SW-1": StaffRole.SOCIAL_WORKER,
        }
        for ref, staff_role in people.items():
            await uow.people.upsert(
                STOKE,
                ref,
                display_name=ref,
                roles=[staff_role],
                team_ref="T-1",
                manager_ref=None,
                occurred_at=SEEDED,
            )
        nq = await uow.people.ensure(STOKE, "NQ-1")
        await uow.people.set_asye(
            nq, start=ASYE_START, fte=1.0, assessor_ref=None, occurred_at=SEEDED
        )
        for month in state.reviews:
            on = ASYE_START + dt.timedelta(days=30 * month)
            await uow.people.record_review(nq, month=month, passed=True, on=on, occurred_at=SEEDED)
        for agreement in state.agreements:
            await uow.people.record_agreement(
                nq, agreement=agreement, on=ASYE_START, occurred_at=SEEDED
            )
        for ref, (work_type, children) in state.cases.items():
            await uow.cases.upsert(
                STOKE, ref, work_type=work_type, children=children, occurred_at=SEEDED
            )
        for ref, role in state.holds.items():
            case = await uow.cases.get(STOKE, ref)
            assert case is not None, f"hold of an unknown case {ref}"
            await uow.allocations.start(
                case_id=case.id,
                person_id=nq,
                role=Role(role),
                on=ASYE_START,
                source=Source.IMPORT,
                overrides=frozenset(),
                occurred_at=SEEDED,
            )
        for ref, on in state.closed.items():
            await uow.cases.close(STOKE, ref, on, SEEDED)


def event(type_: str, data: dict[str, Any], when: dt.datetime = T0, org: str = STOKE) -> CaseEvent:
    """An event as the webhook receives it (dates in `data` as YYYY-MM-DD strings)."""
    body = {"type": type_, "occurred_at": when.isoformat(), "org": org, "data": data}
    return parse_event(json.dumps(body))


# --- reading what changed ----------------------------------------------------------------


def facts(state: FakeState) -> set[str]:
    """Everything stored, one line a fact, by reference (ids mean nothing to a reader)."""
    people = {row.value.id: ref for (_, ref), row in state.people.items()}
    teams = {row.value.id: ref for (_, ref), row in state.teams.items()}
    cases = {row.value.id: ref for (_, ref), row in state.cases.items()}
    out = {f"organisation {o.id} on {o.policy_id} {o.policy_version}" for o in state.orgs.values()}
    for team_row in state.teams.values():
        t = team_row.value
        out.add(f"team {t.ref} {t.name!r} {t.kind} slack={t.slack_channel_id}")
    for person_row in state.people.values():
        p = person_row.value
        roles = ",".join(sorted(p.roles))
        team = None if p.team_id is None else teams[p.team_id]
        manager = None if p.manager_id is None else people[p.manager_id]
        out.add(f"person {p.ref} {p.display_name!r} [{roles}] team={team} manager={manager}")
    for pid, a in state.asye.items():
        assessor = None if a.value.assessor_id is None else people[a.value.assessor_id]
        out.add(f"asye {people[pid]} from {a.value.start} fte {a.value.fte} assessor={assessor}")
    for (pid, start), pause in state.pauses.items():
        end, reason = pause.value
        out.add(f"leave {people[pid]} {start}..{end} {reason}")
    for (pid, month), review in state.reviews.items():
        passed, on = review.value
        out.add(f"review {people[pid]} month {month} {'passed' if passed else 'failed'} {on}")
    for (pid, agreement), agreed in state.agreements.items():
        out.add(f"agreement {people[pid]} {agreement} {agreed.value}")
    for (platform, tenant, user), pid in state.chat.items():
        out.add(f"chat {platform} {tenant}/{user} is {people[pid]}")
    for case_row in state.cases.values():
        c = case_row.value
        extra = "".join(f" +{flag}" for flag in sorted(c.flags)) + (" external" * c.external)
        closed = "" if c.closed_on is None else f" closed {c.closed_on}"
        out.add(f"case {c.ref} {c.work_type} {c.children}{extra}{closed}")
    for al in state.allocations.values():
        overriding = "".join(f" overriding {rule}" for rule in sorted(al.overrides))
        out.add(
            f"allocation {cases[al.case_id]} {people[al.person_id]} {al.role} "
            f"{al.from_date}..{al.to_date or ''} {al.source}{overriding}"
        )
    for (pid, rule), breach in state.open_breaches.items():
        out.add(f"breach {people[pid]} {rule} {','.join(breach.case_ids)}")
    return out


def changes(before: FakeState, after: FakeState) -> set[str]:
    """Facts added (`+`) and removed (`-`): a changed fact is one of each."""
    old, new = facts(before), facts(after)
    return {f"+{f}" for f in new - old} | {f"-{f}" for f in old - new}


def records(state: FakeState, org: str = STOKE) -> list[audit.AuditRecord]:
    """The organisation's audit rows read back as records."""
    return [audit.parse_record(row.kind, row.data) for row in state.audit.get(org, [])]


def line(record: audit.AuditRecord) -> str:
    """An audit record as a table row names it: its kind and what tells it apart."""
    match record:
        case audit.DecisionMade():
            return f"decision {record.case} {record.role}: {record.outcome}"
        case audit.OverrideApproved():
            by = record.approver or record.approver_role
            return f"override {record.case} {','.join(record.rules)} by {by}"
        case audit.AllocationStarted():
            said = "not on the ASYE" if record.policy_outcome is None else record.policy_outcome
            return f"allocation_started {record.case} {record.worker} {record.role} ({said})"
        case audit.AllocationEnded():
            return f"allocation_ended {record.case} {record.worker} {record.role} ({record.reason})"
        case audit.BreachOpened() | audit.BreachResolved():
            return f"{record.kind} {record.worker} {record.rule}"
    return str(record.kind)


def written(before: FakeState, after: FakeState, org: str = STOKE) -> list[str]:
    """The audit rows added between two states, as `line`s."""
    return [line(r) for r in records(after, org)[len(records(before, org)) :]]


def snapshot(tx: FakeTransactions) -> FakeState:
    return copy.deepcopy(tx.state)
