"""`allocate`: each row is what is stored, what is asked, and what the policy answered,
what changed and what the audit log says; a refusal by error changes nothing at all."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from handlers.allocations import AllocationRequest, Approval, allocate
from handlers.case_events import apply_event
from handlers.errors import (
    AlreadyAllocated,
    ApproverLacksRole,
    CaseClosed,
    UnknownCase,
    UnknownOrganisation,
    UnknownPerson,
)
from handlers.ports import Source
from policy import InputError, Role, StaffRole
from tests.fakes import FakeTransactions
from tests.handlers.world import (
    JUSTIFICATION,
    MONTH_4,
    MONTH_7,
    MONTH_10,
    STOKE,
    T0,
    Given,
    changes,
    event,
    given,
    snapshot,
    written,
)

CP = "stoke.cp.lead-from-nine-months"
CWA = "complex_working_agreement"
HOUR = dt.timedelta(hours=1)
CP6 = "stoke.cp.none-before-six-month-review"
CAP = "stoke.cap.sixteen-children"


@dataclass(frozen=True)
class Ask:
    case: str
    role: str = "lead"
    on: dt.date = MONTH_4
    worker: str = "NQ-1"
    org: str = STOKE
    approval: Approval | None = None
    accept_co_work: bool = False

    def request(self) -> AllocationRequest:
        return AllocationRequest(
            org_id=self.org,
            case_ref=self.case,
            worker_ref=self.worker,
            role=Role(self.role),
            on=self.on,
            source=Source.CHAT,
            actor="person:TM-1",
            approval=self.approval,
            accept_co_work=self.accept_co_work,
        )


@dataclass(frozen=True)
class Then:
    decision: str | None = None
    """The policy's answer to the request as asked; None when no decision was made."""
    changes: set[str] = field(default_factory=set)
    audit: list[str] = field(default_factory=list)
    error: type[Exception] | None = None


def by(approver: str, role: StaffRole = StaffRole.TEAM_MANAGER) -> Approval:
    return Approval(approver, role, JUSTIFICATION)


CIN_2 = {"C-1": ("child_in_need", 2)}
CP_1 = {"CP-1": ("child_protection", 1)}
SIX = (3, 6)
NINE = (3, 6, 9)

ROWS = [
    pytest.param(
        Given(cases=CIN_2),
        Ask("C-1"),
        Then(
            "allow",
            {"+allocation C-1 NQ-1 lead 2025-05-06.. chat"},
            ["decision C-1 lead: allow", "allocation_started C-1 NQ-1 lead (allow)"],
        ),
        id="child in need as lead is allowed and allocated",
    ),
    pytest.param(
        Given(reviews=SIX, cases=CP_1),
        Ask("CP-1", on=MONTH_7),
        Then("co_work", set(), ["decision CP-1 lead: co_work"]),
        id="child protection as lead between the six- and nine-month reviews is co-work only",
    ),
    pytest.param(
        Given(reviews=SIX, cases=CP_1),
        Ask("CP-1", on=MONTH_7, accept_co_work=True),
        Then(
            "co_work",
            {"+allocation CP-1 NQ-1 co_work 2025-08-06.. chat"},
            [
                "decision CP-1 lead: co_work",
                "decision CP-1 co_work: allow",
                "allocation_started CP-1 NQ-1 co_work (allow)",
            ],
        ),
        id="co-work only, accepted: allocated as co-worker",
    ),
    pytest.param(
        Given(cases=CP_1),
        Ask("CP-1", accept_co_work=True),
        Then("deny", set(), ["decision CP-1 lead: deny"]),
        id="child protection before the six-month review is refused even as co-worker",
    ),
    pytest.param(
        Given(cases={**CIN_2, "C-2": ("child_in_need", 15)}, holds={"C-2": "lead"}),
        Ask("C-1"),
        Then("co_work", set(), ["decision C-1 lead: co_work"]),
        id="a case that takes the lead caseload over 16 children is co-work only",
    ),
    pytest.param(
        Given(cases={**CIN_2, "C-2": ("child_in_need", 15)}, holds={"C-2": "lead"}),
        Ask("C-1", role="co_work"),
        Then(
            "allow",
            {"+allocation C-1 NQ-1 co_work 2025-05-06.. chat"},
            ["decision C-1 co_work: allow", "allocation_started C-1 NQ-1 co_work (allow)"],
        ),
        id="co-working does not count towards the children's cap",
    ),
    pytest.param(
        Given(reviews=SIX, cases=CP_1),
        Ask("CP-1", on=MONTH_7, approval=by("TM-1")),
        Then(
            "allow",
            {f"+allocation CP-1 NQ-1 lead 2025-08-06.. chat overriding {CP}"},
            [
                "decision CP-1 lead: allow",
                f"override CP-1 {CP} by TM-1",
                "allocation_started CP-1 NQ-1 lead (allow)",
            ],
        ),
        id="a team manager's override sets the nine-month rule aside, and is kept",
    ),
    pytest.param(
        Given(cases=CP_1),
        Ask("CP-1", approval=by("TM-1")),
        Then("deny", set(), ["decision CP-1 lead: deny"]),
        id="no override of a rule that applies regardless: refused, no override recorded",
    ),
    pytest.param(
        Given(reviews=SIX, cases=CP_1),
        Ask("CP-1", on=MONTH_7, approval=by("SW-1")),
        Then(error=ApproverLacksRole),
        id="an approver who does not hold the role they approve as is refused",
    ),
    pytest.param(
        Given(reviews=SIX, cases=CP_1),
        Ask("CP-1", on=MONTH_7, approval=by("TM-404")),
        Then(error=UnknownPerson),
        id="an unknown approver is refused",
    ),
    pytest.param(
        Given(reviews=SIX, cases=CP_1),
        Ask("CP-1", on=MONTH_7, approval=Approval("TM-1", StaffRole.TEAM_MANAGER, "ok")),
        Then(error=InputError),
        id="a justification too short to explain anything is refused",
    ),
    pytest.param(
        Given(cases=CIN_2, holds={"C-1": "lead"}),
        Ask("C-1"),
        Then(error=AlreadyAllocated),
        id="a case already held in the same role is refused",
    ),
    pytest.param(
        Given(reviews=NINE, cases=CP_1, holds={"CP-1": "co_work"}),
        Ask("CP-1", on=MONTH_10),
        Then(
            "allow",
            {
                "-allocation CP-1 NQ-1 co_work 2025-01-06.. import",
                "+allocation CP-1 NQ-1 co_work 2025-01-06..2025-11-06 import",
                "+allocation CP-1 NQ-1 lead 2025-11-06.. chat",
            },
            [
                "decision CP-1 lead: allow",
                "allocation_ended CP-1 NQ-1 co_work (role_changed)",
                "allocation_started CP-1 NQ-1 lead (allow)",
            ],
        ),
        id="a change of role ends the old allocation the day the new one starts",
    ),
    pytest.param(
        Given(cases=CIN_2, closed={"C-1": MONTH_4}),
        Ask("C-1"),
        Then(error=CaseClosed),
        id="a case closed by the day asked is refused",
    ),
    pytest.param(Given(), Ask("C-404"), Then(error=UnknownCase), id="unknown case"),
    pytest.param(
        Given(cases=CIN_2),
        Ask("C-1", worker="NQ-404"),
        Then(error=UnknownPerson),
        id="unknown worker",
    ),
    pytest.param(
        Given(cases=CIN_2),
        Ask("C-1", org="nowhere"),
        Then(error=UnknownOrganisation),
        id="unknown org",
    ),
    pytest.param(
        Given(cases=CP_1),
        Ask("CP-1", worker="SW-1"),
        Then(
            None,
            {"+allocation CP-1 SW-1 lead 2025-05-06.. chat"},
            ["allocation_started CP-1 SW-1 lead (not on the ASYE)"],
        ),
        id="a worker not on the ASYE is allocated without a decision",
    ),
    pytest.param(
        Given(cases={**CIN_2, **CP_1}, holds={"CP-1": "lead"}),
        Ask("C-1"),
        Then(
            "allow",
            {
                "+allocation C-1 NQ-1 lead 2025-05-06.. chat",
                f"+breach NQ-1 {CP6} CP-1",
                f"+breach NQ-1 {CP} CP-1",
            },
            [
                "decision C-1 lead: allow",
                "allocation_started C-1 NQ-1 lead (allow)",
                f"breach_opened NQ-1 {CP6}",
                f"breach_opened NQ-1 {CP}",
            ],
        ),
        id="breaches in the caseload it joins are opened and audited",
    ),
]


@pytest.mark.parametrize(("state", "ask", "then"), ROWS)
async def test_allocate(tx: FakeTransactions, state: Given, ask: Ask, then: Then) -> None:
    await given(tx, state)
    before = snapshot(tx)
    if then.error is not None:
        with pytest.raises(then.error):
            await allocate(tx, ask.request(), at=T0)
        assert tx.state == before
        return
    result = await allocate(tx, ask.request(), at=T0)
    assert (None if result.decision is None else result.decision.outcome) == then.decision
    assert changes(before, tx.state) == then.changes
    assert written(before, tx.state) == then.audit
    assert (result.allocation is not None) == any(c.startswith("+allocation") for c in then.changes)
    assert len(result.breach_changes) == sum(1 for c in then.audit if c.startswith("breach_"))


async def test_a_change_of_role_applies_when_the_case_systems_clock_runs_ahead(
    tx: FakeTransactions,
) -> None:
    """The held allocation's last event carries a time after the request's (the case system
    may run up to a day ahead): the old allocation must still end, or a second one would
    open beside it, which storage refuses (as busy, however often it is retried)."""
    await given(tx, Given(reviews=SIX, agreements=(CWA,), cases=CP_1))
    co_work = {"case_ref": "CP-1", "worker_ref": "NQ-1", "role": "co_work"}
    await apply_event(tx, "d-1", event("allocation.started", co_work, T0 + HOUR), at=T0)
    before = snapshot(tx)
    result = await allocate(tx, Ask("CP-1", on=MONTH_7).request(), at=T0)
    assert result.allocation is not None and result.allocation.role is Role.LEAD
    assert changes(before, tx.state) == {
        "-allocation CP-1 NQ-1 co_work 2025-08-06.. webhook",
        "+allocation CP-1 NQ-1 co_work 2025-08-06..2025-08-06 webhook",
        "+allocation CP-1 NQ-1 lead 2025-08-06.. chat",
    }
    assert written(before, tx.state) == [
        "decision CP-1 lead: allow",
        "allocation_ended CP-1 NQ-1 co_work (role_changed)",
        "allocation_started CP-1 NQ-1 lead (allow)",
    ]
