"""`apply_event`, every event type: each row is the events already applied, the event sent,
and how it was acknowledged, what it changed and what the audit log says. Events refused
by error change nothing, not even the record of their delivery.

Breaches are evaluated on the server's day, 6 August 2025 (NQ-1's month 7).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from handlers.case_events import apply_event
from handlers.errors import NotYetKnown, UnknownOrganisation
from handlers.events import CaseEvent
from policy import InputError
from tests.fakes import FakeTransactions
from tests.handlers.world import T0, changes, create_stoke, event, snapshot, written

CP = "stoke.cp.lead-from-nine-months"
CP6 = "stoke.cp.none-before-six-month-review"
CWA = "complex_working_agreement"
HOUR = dt.timedelta(hours=1)
EARLIER = T0 - HOUR
"""When the events already applied happened, unless a row says otherwise."""


def team(name: str = "Assessment East", when: dt.datetime = EARLIER) -> CaseEvent:
    data = {"ref": "T-1", "name": name, "kind": "assessment", "channels": {"slack": "C01"}}
    return event("team.upserted", data, when)


def worker(
    ref: str = "NQ-1", name: str = "Sam Worker", when: dt.datetime = EARLIER, **extra: Any
) -> CaseEvent:
    data = {"ref": ref, "name": name, "roles": ["nqsw"], "team_ref": "T-1", **extra}
    return event("worker.upserted", data, when)


def nqsw(when: dt.datetime = EARLIER) -> CaseEvent:
    return worker(when=when, asye={"start": "2025-01-06"})


def leave(ref: str = "NQ-1", to: str = "2025-03-31", when: dt.datetime = EARLIER) -> CaseEvent:
    data = {"worker_ref": ref, "from": "2025-03-01", "to": to, "reason": "sickness"}
    return event("worker.leave_recorded", data, when)


def review(month: int, passed: bool = True, when: dt.datetime = EARLIER) -> CaseEvent:
    data = {"worker_ref": "NQ-1", "month": month, "passed": passed, "on": "2025-07-07"}
    return event("worker.review_recorded", data, when)


def agreement(name: str = CWA, on: str = "2025-07-08", when: dt.datetime = EARLIER) -> CaseEvent:
    data = {"worker_ref": "NQ-1", "agreement": name, "on": on}
    return event("worker.agreement_recorded", data, when)


def case(
    ref: str = "C-1",
    work_type: str = "child_in_need",
    children: int = 1,
    when: dt.datetime = EARLIER,
    **extra: Any,
) -> CaseEvent:
    data = {"ref": ref, "work_type": work_type, "children": children, **extra}
    return event("case.upserted", data, when)


def closed(ref: str = "C-1", when: dt.datetime = EARLIER) -> CaseEvent:
    return event("case.closed", {"ref": ref}, when)


def started(
    ref: str = "C-1",
    role: str = "lead",
    who: str = "NQ-1",
    when: dt.datetime = EARLIER,
    **extra: Any,
) -> CaseEvent:
    return event(
        "allocation.started", {"case_ref": ref, "worker_ref": who, "role": role, **extra}, when
    )


def ended(ref: str = "C-1", when: dt.datetime = EARLIER, **extra: Any) -> CaseEvent:
    return event("allocation.ended", {"case_ref": ref, "worker_ref": "NQ-1", **extra}, when)


@dataclass(frozen=True)
class Then:
    ack: str = "changed"
    """`changed`, `unchanged` (acknowledged, nothing to change) or `duplicate`."""
    changes: set[str] = field(default_factory=set)
    audit: list[str] = field(default_factory=list)
    error: type[Exception] | None = None
    field: str | None = None
    """The field an `InputError` names."""


UNCHANGED = Then("unchanged")
NQ_1 = "person NQ-1 'Sam Worker' [nqsw] team=T-1 manager=None"
ALLOC_C1 = "allocation C-1 NQ-1 lead 2025-08-06.. webhook"
HOLDS_C1 = [nqsw(), case(), started()]
HOLDS_CP_BEFORE_SIX = [nqsw(), review(3), case(work_type="child_protection"), started()]

ROWS = [
    # --- team.upserted -------------------------------------------------------------------
    pytest.param(
        [],
        team(when=T0),
        Then(changes={"+team T-1 'Assessment East' assessment slack=C01"}),
        id="team: applied",
    ),
    pytest.param(
        [team("Assessment West", when=T0)],
        team(when=EARLIER),
        UNCHANGED,
        id="team: older than the stored team, ignored",
    ),
    # --- worker.upserted -----------------------------------------------------------------
    pytest.param(
        [],
        worker(
            when=T0,
            manager_ref="TM-1",
            asye={"start": "2025-01-06", "fte": 0.8, "assessor_ref": "AS-1"},
            chat={
                "slack_team_id": "T01",
                "slack_user_id": "U01",
                "teams_tenant_id": "tenant-1",
                "teams_aad_object_id": "aad-1",
            },
        ),
        Then(
            changes={
                "+person NQ-1 'Sam Worker' [nqsw] team=T-1 manager=TM-1",
                "+person TM-1 'TM-1' [] team=None manager=None",
                "+person AS-1 'AS-1' [] team=None manager=None",
                "+team T-1 'T-1' unknown slack=None",
                "+asye NQ-1 from 2025-01-06 fte 0.8 assessor=AS-1",
                "+chat slack T01/U01 is NQ-1",
                "+chat teams tenant-1/aad-1 is NQ-1",
            }
        ),
        id="worker: applied, with placeholders for the team, manager and assessor not yet known",
    ),
    pytest.param(
        [leave(ref="NQ-1")],
        worker(when=T0),
        Then(
            changes={
                "-person NQ-1 'NQ-1' [] team=None manager=None",
                "+person NQ-1 'Sam Worker' [nqsw] team=T-1 manager=None",
                "+team T-1 'T-1' unknown slack=None",
            }
        ),
        id="worker: fills the placeholder an earlier event made",
    ),
    pytest.param(
        [worker(name="Sam Newname", when=T0)],
        worker(when=EARLIER),
        UNCHANGED,
        id="worker: older than the stored worker, ignored",
    ),
    pytest.param(
        [nqsw(when=T0)],
        nqsw(when=T0),
        UNCHANGED,
        id="worker: the same facts again change nothing",
    ),
    # --- worker.leave_recorded -----------------------------------------------------------
    pytest.param(
        [nqsw()],
        leave(when=T0),
        Then(changes={"+leave NQ-1 2025-03-01..2025-03-31 sickness"}),
        id="leave: applied",
    ),
    pytest.param(
        [],
        leave(when=T0),
        Then(
            changes={
                "+person NQ-1 'NQ-1' [] team=None manager=None",
                "+leave NQ-1 2025-03-01..2025-03-31 sickness",
            }
        ),
        id="leave: of a worker not yet known, kept with a placeholder for them",
    ),
    pytest.param(
        [nqsw(), leave(to="2025-04-30", when=T0)],
        leave(when=EARLIER),
        UNCHANGED,
        id="leave: older than the stored leave, ignored",
    ),
    # --- worker.review_recorded ----------------------------------------------------------
    pytest.param(
        [nqsw()],
        review(3, when=T0),
        Then(changes={"+review NQ-1 month 3 passed 2025-07-07"}),
        id="review: applied",
    ),
    pytest.param(
        [nqsw(), review(6, passed=False, when=T0)],
        review(6, when=EARLIER),
        UNCHANGED,
        id="review: older than the stored review, ignored",
    ),
    pytest.param(
        [nqsw(), review(3), case(work_type="child_protection"), started(role="co_work")],
        review(6, when=T0),
        Then(
            changes={"+review NQ-1 month 6 passed 2025-07-07", f"-breach NQ-1 {CP6} C-1"},
            audit=[f"breach_resolved NQ-1 {CP6}"],
        ),
        id="review: the six-month review resolves co-working child protection before it",
    ),
    # --- worker.agreement_recorded -------------------------------------------------------
    pytest.param(
        [nqsw()],
        agreement(when=T0),
        Then(changes={f"+agreement NQ-1 {CWA} 2025-07-08"}),
        id="agreement: applied",
    ),
    pytest.param(
        [nqsw(), agreement(on="2025-07-09", when=T0)],
        agreement(when=EARLIER),
        UNCHANGED,
        id="agreement: older than the stored agreement, ignored",
    ),
    pytest.param(
        [nqsw()],
        agreement("complex_work_agreement", when=T0),
        Then(error=InputError, field="data.agreement"),
        id="agreement: one the policy does not know is refused",
    ),
    pytest.param(
        [nqsw(), review(3), review(6), case(work_type="child_protection"), started()],
        agreement(when=T0),
        Then(
            changes={f"+agreement NQ-1 {CWA} 2025-07-08", f"-breach NQ-1 {CP} C-1"},
            audit=[f"breach_resolved NQ-1 {CP}"],
        ),
        id="agreement: a Complex Working Agreement after the six-month review resolves leading CP",
    ),
    # --- case.upserted -------------------------------------------------------------------
    pytest.param(
        [],
        case(when=T0, flags=["settled_placement"], external=True),
        Then(changes={"+case C-1 child_in_need 1 +settled_placement external"}),
        id="case: applied",
    ),
    pytest.param(
        [case(children=3, when=T0)],
        case(when=EARLIER),
        UNCHANGED,
        id="case: older than the stored case, ignored",
    ),
    pytest.param(
        [],
        case(work_type="child_in_needs", when=T0),
        Then(error=InputError, field="data.work_type"),
        id="case: a work type the policy does not know is refused",
    ),
    pytest.param(
        [],
        case(when=T0, flags=["settled"]),
        Then(error=InputError, field="data.flags"),
        id="case: a flag the policy does not know is refused",
    ),
    pytest.param(
        [case(), closed()],
        case(when=T0),
        Then(changes={"-case C-1 child_in_need 1 closed 2025-08-06", "+case C-1 child_in_need 1"}),
        id="case: a newer upsert reopens a closed case",
    ),
    pytest.param(
        [nqsw(), review(3), case(), started()],
        case(work_type="child_protection", when=T0),
        Then(
            changes={
                "-case C-1 child_in_need 1",
                "+case C-1 child_protection 1",
                f"+breach NQ-1 {CP6} C-1",
                f"+breach NQ-1 {CP} C-1",
            },
            audit=[f"breach_opened NQ-1 {CP6}", f"breach_opened NQ-1 {CP}"],
        ),
        id="case: a step-up to child protection opens its holder's breaches",
    ),
    # --- case.closed ---------------------------------------------------------------------
    pytest.param(
        HOLDS_CP_BEFORE_SIX,
        closed(when=T0),
        Then(
            changes={
                "-case C-1 child_protection 1",
                "+case C-1 child_protection 1 closed 2025-08-06",
                f"-breach NQ-1 {CP6} C-1",
                f"-breach NQ-1 {CP} C-1",
            },
            audit=[f"breach_resolved NQ-1 {CP}", f"breach_resolved NQ-1 {CP6}"],
        ),
        id="closed: applied, and its holder's breaches resolve",
    ),
    pytest.param(
        [],
        closed(when=T0),
        Then(error=NotYetKnown),
        id="closed: a case not yet known is refused until it is",
    ),
    pytest.param(
        [case(when=T0)],
        closed(when=EARLIER),
        UNCHANGED,
        id="closed: older than the case's last upsert, ignored",
    ),
    # --- allocation.started --------------------------------------------------------------
    pytest.param(
        [nqsw(), review(3), case(work_type="child_protection")],
        started(when=T0),
        Then(
            changes={"+" + ALLOC_C1, f"+breach NQ-1 {CP6} C-1", f"+breach NQ-1 {CP} C-1"},
            audit=[
                "allocation_started C-1 NQ-1 lead (deny)",
                f"breach_opened NQ-1 {CP6}",
                f"breach_opened NQ-1 {CP}",
            ],
        ),
        id="started: a fact the policy would refuse is kept, with the policy's answer and breaches",
    ),
    pytest.param(
        [case()],
        started(who="NQ-9", when=T0, **{"from": "2025-08-01"}),
        Then(
            changes={
                "+person NQ-9 'NQ-9' [] team=None manager=None",
                "+allocation C-1 NQ-9 lead 2025-08-01.. webhook",
            },
            audit=["allocation_started C-1 NQ-9 lead (not on the ASYE)"],
        ),
        id="started: from a given day, to a worker not yet known (a placeholder)",
    ),
    pytest.param(
        [nqsw()],
        started(when=T0),
        Then(error=NotYetKnown),
        id="started: a case not yet known is refused until it is",
    ),
    pytest.param(
        HOLDS_C1,
        started(when=T0),
        UNCHANGED,
        id="started: the same allocation again changes nothing",
    ),
    pytest.param(
        HOLDS_C1,
        started(role="co_work", when=T0),
        Then(
            changes={
                "-allocation C-1 NQ-1 lead 2025-08-06.. webhook",
                "+allocation C-1 NQ-1 lead 2025-08-06..2025-08-06 webhook",
                "+allocation C-1 NQ-1 co_work 2025-08-06.. webhook",
            },
            audit=[
                "allocation_ended C-1 NQ-1 lead (role_changed)",
                "allocation_started C-1 NQ-1 co_work (allow)",
            ],
        ),
        id="started: a change of role ends the old allocation, audited as a role change",
    ),
    pytest.param(
        [*HOLDS_C1, ended(when=T0)],
        started(role="co_work", when=EARLIER + HOUR / 2),
        UNCHANGED,
        id="started: older than the end already stored, ignored",
    ),
    # --- allocation.ended ----------------------------------------------------------------
    pytest.param(
        HOLDS_CP_BEFORE_SIX,
        ended(when=T0, to="2025-08-05"),
        Then(
            changes={
                "-allocation C-1 NQ-1 lead 2025-08-06.. webhook",
                "+allocation C-1 NQ-1 lead 2025-08-06..2025-08-06 webhook",
                f"-breach NQ-1 {CP6} C-1",
                f"-breach NQ-1 {CP} C-1",
            },
            audit=[
                "allocation_ended C-1 NQ-1 lead (ended)",
                f"breach_resolved NQ-1 {CP}",
                f"breach_resolved NQ-1 {CP6}",
            ],
        ),
        id="ended: applied (never before its start), and the breaches resolve",
    ),
    pytest.param(
        [nqsw(), case()],
        ended(when=T0),
        Then(error=NotYetKnown),
        id="ended: an allocation not yet known is refused until it is",
    ),
    pytest.param(
        [*HOLDS_C1, ended(when=EARLIER + HOUR / 2)],
        ended(when=T0),
        UNCHANGED,
        id="ended: already ended, ignored",
    ),
    pytest.param(
        [nqsw(), case(), started(when=T0)],
        ended(when=EARLIER),
        UNCHANGED,
        id="ended: older than the allocation's start, ignored",
    ),
    # --- any event -----------------------------------------------------------------------
    pytest.param(
        [],
        event(
            "case.upserted",
            {"ref": "C-1", "work_type": "child_in_need", "children": 1},
            T0,
            "nowhere",
        ),
        Then(error=UnknownOrganisation),
        id="any: an organisation that does not exist is refused",
    ),
    pytest.param(
        [],
        case(when=T0 + dt.timedelta(days=1, seconds=1)),
        Then(error=InputError, field="occurred_at"),
        id="any: from more than a day in the future is refused",
    ),
    pytest.param(
        [],
        case(when=T0 + dt.timedelta(days=1)),
        Then(changes={"+case C-1 child_in_need 1"}),
        id="any: up to a day ahead of the server's clock is accepted",
    ),
]


async def _apply_all(tx: FakeTransactions, events: list[CaseEvent]) -> None:
    for i, e in enumerate(events):
        await apply_event(tx, f"given-{i}", e, at=T0)


@pytest.mark.parametrize(("before_events", "sent", "then"), ROWS)
async def test_apply_event(
    tx: FakeTransactions, before_events: list[CaseEvent], sent: CaseEvent, then: Then
) -> None:
    await create_stoke(tx)
    await _apply_all(tx, before_events)
    before = snapshot(tx)
    if then.error is not None:
        with pytest.raises(then.error) as raised:
            await apply_event(tx, "sent", sent, at=T0)
        assert tx.state == before
        if then.field is not None:
            assert isinstance(raised.value, InputError) and raised.value.field == then.field
        return
    applied = await apply_event(tx, "sent", sent, at=T0)
    assert (applied.duplicate, applied.changed) == (False, then.ack == "changed")
    assert changes(before, tx.state) == then.changes
    assert written(before, tx.state) == then.audit
    assert len(applied.breach_changes) == sum(1 for a in then.audit if a.startswith("breach_"))


@pytest.mark.parametrize("i", range(3))
async def test_a_redelivery_is_acknowledged_and_changes_nothing(
    tx: FakeTransactions, i: int
) -> None:
    await create_stoke(tx)
    await _apply_all(tx, HOLDS_C1)
    before = snapshot(tx)
    applied = await apply_event(tx, f"given-{i}", HOLDS_C1[i], at=T0)
    assert (applied.duplicate, applied.changed) == (True, False)
    assert tx.state == before


async def test_a_delivery_refused_as_not_yet_known_is_applied_when_redelivered_in_order(
    tx: FakeTransactions,
) -> None:
    """The refusal leaves no receipt behind, or the sender's retry would be a duplicate."""
    await create_stoke(tx)
    with pytest.raises(NotYetKnown):
        await apply_event(tx, "d-2", started(), at=T0)
    await apply_event(tx, "d-1", case(), at=T0)
    applied = await apply_event(tx, "d-2", started(), at=T0)
    assert (applied.duplicate, applied.changed) == (False, True)


async def test_delivery_ids_are_per_organisation(tx: FakeTransactions) -> None:
    await create_stoke(tx)
    await create_stoke(tx, "other")
    await apply_event(tx, "d-1", case(), at=T0)
    other = event(
        "case.upserted",
        {"ref": "C-1", "work_type": "child_in_need", "children": 1},
        EARLIER,
        "other",
    )
    applied = await apply_event(tx, "d-1", other, at=T0)
    assert (applied.duplicate, applied.changed) == (False, True)
