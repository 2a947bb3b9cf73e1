"""The try-out demo (`caseload-bot serve --demo`): a fictional council, seeded through the
product's own use cases, so that someone can see the bot work before any Slack or Teams
app exists.

Everything arrives as a case-management system would send it (`apply_event`, each event
once-only by its delivery id), the team's channel is linked by its manager through the
chat's own use case (`link this channel to team`), and the demo people get chat identities
on the try-out page (`web`, tenant `demo`).
So the decisions, the audit chain, the breach and its alert in the outbox are all real.
Seeding again changes nothing: every step is once-only.

The people are fictional and say so in their names; cases are references and counts only,
as everywhere in the product.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from dateutil.relativedelta import relativedelta

from handlers.admin import create_organisation
from handlers.case_events import apply_event
from handlers.chat.channels import link_channel
from handlers.chat.commands import Asker, LinkChannel
from handlers.errors import OrganisationExists
from handlers.events import event_day, parse_event
from handlers.ports import Transactions
from policy import (
    CLOSES,
    LONDON,
    StaffRole,
    is_working_day,
    next_posting_time,
    parse_policy,
    preset_text,
)

ORG = "demo"
ORG_NAME = "Demo Borough Council (fictional)"
POLICY = "stoke-childrens"
TENANT = "demo"
"""The `web` platform's tenant of every demo identity."""
CHANNEL = "demo-managers"
"""The demo team's managers' channel on the try-out page."""
TEAM = "T-DEMO"
ACTOR = "system:demo"


@dataclass(frozen=True, slots=True)
class DemoPerson:
    ref: str
    """Their worker reference, which is also their handle on the page (`@sam.okafor`)."""
    name: str
    about: str
    """What the page's list of people says of them."""
    roles: tuple[StaffRole, ...]
    team: str
    asye_months: int | None = None
    """Whole months of practice done on the day of seeding (month `asye_months + 1` under
    way); None: not on the ASYE."""


MANAGER = DemoPerson(
    "alex.rivers",
    "Demo Manager Alex Rivers",
    "team manager of the Demo Assessment Team",
    (StaffRole.TEAM_MANAGER,),
    TEAM,
)
NQSW_EARLY = DemoPerson(
    "sam.okafor",
    "Demo NQSW Sam Okafor",
    "newly qualified social worker, month 2 of the ASYE",
    (StaffRole.NQSW,),
    TEAM,
    asye_months=1,
)
NQSW_LATER = DemoPerson(
    "priya.shah",
    "Demo NQSW Priya Shah",
    "newly qualified social worker, month 8 of the ASYE",
    (StaffRole.NQSW,),
    TEAM,
    asye_months=7,
)
PEOPLE = (
    MANAGER,
    NQSW_EARLY,
    NQSW_LATER,
    DemoPerson(
        "chris.taylor",
        "Demo Social Worker Chris Taylor",
        "experienced social worker in the Demo Assessment Team",
        (StaffRole.SOCIAL_WORKER,),
        TEAM,
    ),
    DemoPerson(
        "jordan.blake",
        "Demo ASYE Lead Jordan Blake",
        "ASYE lead, and both NQSWs' assessor",
        (StaffRole.ASYE_LEAD, StaffRole.ASSESSOR),
        "T-DEMO-WFD",
    ),
    DemoPerson(
        "morgan.ellis",
        "Demo Principal Social Worker Morgan Ellis",
        "principal social worker",
        (StaffRole.PRINCIPAL_SOCIAL_WORKER,),
        "T-DEMO-WFD",
    ),
)
"""Who can be picked on the page; the first is who it starts as."""

_TEAMS = (
    (TEAM, "Demo Assessment Team (fictional)", "assessment"),
    ("T-DEMO-WFD", "Demo Workforce Development (fictional)", "workforce_development"),
)

_CASES = (
    # Held already: Sam co-works C-2001, which steps up to child protection below.
    ("C-2001", "child_in_need", 2, ()),
    ("C-2002", "child_in_need", 3, ()),
    ("C-2003", "child_in_care", 1, ("settled_placement",)),
    ("C-2004", "private_law", 1, ()),
    ("C-2005", "child_in_need", 1, ()),
    ("C-2006", "child_protection", 2, ()),
    # Waiting to be allocated: for `/allocate` on the page.
    ("C-1042", "child_in_need", 2, ()),
    ("C-1043", "child_protection", 1, ()),
    ("C-1044", "private_law", 1, ()),
)

_ALLOCATIONS = (
    ("C-2001", "chris.taylor", "lead", 30),
    ("C-2001", "sam.okafor", "co_work", 20),
    ("C-2005", "sam.okafor", "lead", 25),
    ("C-2002", "priya.shah", "lead", 120),
    ("C-2003", "priya.shah", "lead", 90),
    ("C-2004", "priya.shah", "lead", 40),
    ("C-2006", "chris.taylor", "lead", 60),
)
"""(case, worker, role, days ago it started)."""


def office_hours_before(now: dt.datetime) -> dt.datetime:
    """`now` when the office is open, else the last working day at 17:00 London time.

    The demo's history happens then, so that its breach alert is due at once: one seeded
    at night would otherwise wait, like any alert, for 09:00 on the next working day."""
    if next_posting_time(now) == now:
        return now
    local = now.astimezone(LONDON)
    day = local.date() if local.time() >= CLOSES else local.date() - dt.timedelta(days=1)
    while not is_working_day(day):
        day -= dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(17), tzinfo=LONDON).astimezone(dt.UTC)


def _staff(today: dt.date) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = [
        (f"team:{ref}", {"type": "team.upserted", "data": {"ref": ref, "name": n, "kind": k}})
        for ref, n, k in _TEAMS
    ]
    for p in PEOPLE:
        data: dict[str, Any] = {
            "ref": p.ref,
            "name": p.name,
            "roles": [r.value for r in p.roles],
            "team_ref": p.team,
        }
        if p.team == TEAM and p is not MANAGER:
            data["manager_ref"] = MANAGER.ref
        if p.asye_months is not None:
            start = _asye_start(today, p.asye_months)
            data["asye"] = {"start": start.isoformat(), "assessor_ref": "jordan.blake"}
        out.append((f"worker:{p.ref}", {"type": "worker.upserted", "data": data}))
    started = _asye_start(today, NQSW_LATER.asye_months or 0)
    for month in (3, 6):
        on = started + relativedelta(months=month, days=7)
        review = {"worker_ref": NQSW_LATER.ref, "month": month, "passed": True, "on": str(on)}
        out.append((f"review:{month}", {"type": "worker.review_recorded", "data": review}))
    for p, days in ((NQSW_EARLY, 4), (NQSW_LATER, 9)):
        supervision = {"worker_ref": p.ref, "on": (today - dt.timedelta(days=days)).isoformat()}
        out.append(
            (f"supervision:{p.ref}", {"type": "worker.supervision_recorded", "data": supervision})
        )
    return out


def _asye_start(today: dt.date, months_done: int) -> dt.date:
    """Ten days into month `months_done + 1` today."""
    return today - relativedelta(months=months_done, days=10)


def _work(today: dt.date) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for ref, work_type, children, flags in _CASES:
        case = {"ref": ref, "work_type": work_type, "children": children, "flags": list(flags)}
        out.append((f"case:{ref}", {"type": "case.upserted", "data": case}))
    for case_ref, worker, role, days in _ALLOCATIONS:
        start = (today - dt.timedelta(days=days)).isoformat()
        allocation = {"case_ref": case_ref, "worker_ref": worker, "role": role, "from": start}
        out.append(
            (f"allocation:{case_ref}:{worker}", {"type": "allocation.started", "data": allocation})
        )
    # The step-up that the month-2 NQSW's co-working cannot follow: the demo's open breach.
    step_up = {"ref": "C-2001", "work_type": "child_protection", "children": 2}
    out.append(("case:C-2001:stepped-up", {"type": "case.upserted", "data": step_up}))
    return out


async def seed(tx: Transactions, now: dt.datetime) -> bool:
    """Seed the demo organisation; True when it was created now, False when it was there
    already (then nothing changes: each event is once-only by its delivery id)."""
    at = office_hours_before(now)
    today = event_day(at)
    source, text = preset_text(POLICY)
    try:
        await create_organisation(
            tx, ORG, ORG_NAME, parse_policy(text, source), POLICY, text, ACTOR, at
        )
        created = True
    except OrganisationExists:
        created = False
    staff, work = _staff(today), _work(today)
    clock = at - dt.timedelta(seconds=len(staff) + len(work) + 2)
    for key, event in staff:
        clock += dt.timedelta(seconds=1)
        await _send(tx, key, event, clock, at)
    async with tx.write() as uow:
        for p in PEOPLE:
            person = await uow.people.get(ORG, p.ref)
            assert person is not None, "each demo person's own event came first"
            await uow.directory.link(person.id, "web", TENANT, p.ref)
    await link_channel(tx, Asker("web", TENANT, MANAGER.ref), LinkChannel(TEAM, CHANNEL), at)
    for key, event in work:
        clock += dt.timedelta(seconds=1)
        await _send(tx, key, event, clock, at)
    return created


async def _send(
    tx: Transactions, key: str, event: dict[str, Any], occurred_at: dt.datetime, at: dt.datetime
) -> None:
    """As the case system's webhook would: the same contract, parsed and applied once."""
    body = {**event, "occurred_at": occurred_at.isoformat(), "org": ORG}
    await apply_event(tx, f"demo:{key}", parse_event(json.dumps(body)), at)
