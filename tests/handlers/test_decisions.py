"""Questions asked of the stored caseload: `decide_proposal` answers and logs (a decision
always, an override only when one was applied); `worker_entitlements` and
`worker_breaches` answer and write nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from handlers.case_events import apply_event
from handlers.decisions import decide_proposal, worker_breaches, worker_entitlements
from handlers.errors import UnknownOrganisation, UnknownPerson
from handlers.events import CaseEvent
from policy import Case, InputError, Override, Role, StaffRole
from tests.fakes import FakeTransactions
from tests.handlers.world import (
    JUSTIFICATION,
    MONTH_4,
    MONTH_7,
    MONTH_10,
    STOKE,
    T0,
    Given,
    event,
    given,
    snapshot,
    written,
)

CP = "stoke.cp.lead-from-nine-months"
CP6 = "stoke.cp.none-before-six-month-review"
SIX = (3, 6)


def proposal(work_type: str = "child_protection", role: str = "lead") -> Case:
    return Case(case_id="C-9", work_type=work_type, children=1, role=Role(role))


def override(role: StaffRole = StaffRole.TEAM_MANAGER) -> Override:
    return Override(justification=JUSTIFICATION, approver_role=role)


@dataclass(frozen=True)
class Ask:
    proposal: Case = field(default_factory=proposal)
    on: dt.date | None = MONTH_4
    override: Override | None = None
    worker: str = "NQ-1"
    org: str = STOKE


@dataclass(frozen=True)
class Then:
    outcome: str | None = None
    """None: the worker is not on the ASYE, so the policy does not restrict them."""
    audit: list[str] = field(default_factory=list)
    error: type[Exception] | None = None


DECISIONS = [
    pytest.param(
        Given(),
        Ask(proposal("child_in_need")),
        Then("allow", ["decision C-9 lead: allow"]),
        id="allowed: the decision is logged",
    ),
    pytest.param(
        Given(reviews=SIX),
        Ask(on=MONTH_7),
        Then("co_work", ["decision C-9 lead: co_work"]),
        id="co-work only: the decision is logged",
    ),
    pytest.param(
        Given(reviews=SIX),
        Ask(on=MONTH_7, override=override()),
        Then("allow", ["decision C-9 lead: allow", f"override C-9 {CP} by team_manager"]),
        id="an override applied: the decision and the override (by role) are logged",
    ),
    pytest.param(
        Given(reviews=SIX),
        Ask(on=MONTH_7, override=override(StaffRole.SOCIAL_WORKER)),
        Then("co_work", ["decision C-9 lead: co_work"]),
        id="an override by a role the rule does not name: not applied, not logged as one",
    ),
    pytest.param(
        Given(),
        Ask(override=override()),
        Then("deny", ["decision C-9 lead: deny"]),
        id="an override of a rule that applies regardless: not applied, not logged as one",
    ),
    pytest.param(
        Given(),
        Ask(proposal("child_in_need"), override=override()),
        Then("allow", ["decision C-9 lead: allow"]),
        id="an override not needed: not logged as one",
    ),
    pytest.param(Given(), Ask(worker="SW-1"), Then(None), id="a worker not on the ASYE"),
    pytest.param(Given(), Ask(worker="NQ-404"), Then(error=UnknownPerson), id="unknown worker"),
    pytest.param(Given(), Ask(org="nowhere"), Then(error=UnknownOrganisation), id="unknown org"),
    pytest.param(
        Given(),
        Ask(proposal("section_47")),
        Then(error=InputError),
        id="a work type the policy does not know",
    ),
]


@pytest.mark.parametrize(("state", "ask", "then"), DECISIONS)
async def test_decide_proposal(tx: FakeTransactions, state: Given, ask: Ask, then: Then) -> None:
    await given(tx, state)
    before = snapshot(tx)
    if then.error is not None:
        with pytest.raises(then.error):
            await decide_proposal(
                tx, ask.org, ask.worker, ask.proposal, ask.on, ask.override, "api:token:1", T0
            )
        assert tx.state == before
        return
    answer = await decide_proposal(
        tx, ask.org, ask.worker, ask.proposal, ask.on, ask.override, "api:token:1", T0
    )
    assert answer.person.ref == ask.worker
    assert (None if answer.result is None else answer.result.outcome) == then.outcome
    assert written(before, tx.state) == then.audit
    assert [row.actor for row in tx.state.audit[STOKE][len(before.audit[STOKE]) :]] == [
        "api:token:1"
    ] * len(then.audit)


async def test_without_a_date_the_day_is_londons_at_the_time_asked(tx: FakeTransactions) -> None:
    await given(tx)
    late = dt.datetime(2025, 8, 5, 23, 30, tzinfo=dt.UTC)  # 00:30 on 6 August in London
    answer = await decide_proposal(tx, STOKE, "NQ-1", proposal(), None, None, "api:token:1", late)
    assert answer.result is not None and answer.result.month_of_practice == 7.0
    assert '"on":"2025-08-06"' in tx.state.audit[STOKE][-1].data


async def test_the_decision_logged_is_the_one_answered(tx: FakeTransactions) -> None:
    """The figures an inspector reads are those the worker was told."""
    await given(tx, Given(cases={"C-1": ("child_in_need", 3)}, holds={"C-1": "lead"}))
    answer = await decide_proposal(
        tx, STOKE, "NQ-1", proposal("child_in_need"), MONTH_4, None, "api:token:1", T0
    )
    assert answer.result is not None
    logged = tx.state.audit[STOKE][-1]
    assert (logged.kind, logged.actor, logged.at) == ("decision", "api:token:1", T0)
    assert '"children_after":4' in logged.data and '"children_cap":16' in logged.data
    assert f'"on":"{MONTH_4}"' in logged.data and '"source":"api"' in logged.data


@dataclass(frozen=True)
class Can:
    month: float
    child_protection: tuple[str, str]
    """What the worker may do with child protection, as (lead, co_work)."""
    children_remaining: float


ENTITLEMENTS = [
    pytest.param(
        Given(cases={"C-1": ("child_in_need", 4)}, holds={"C-1": "lead"}),
        MONTH_4,
        Can(4.0, ("deny", "deny"), 12),
        id="month 4: no child protection; 12 of 16 children to go",
    ),
    pytest.param(Given(reviews=SIX), MONTH_7, Can(7.0, ("co_work", "allow"), 16), id="month 7"),
    pytest.param(
        Given(reviews=SIX, agreements=("complex_working_agreement",)),
        MONTH_7,
        Can(7.0, ("allow", "allow"), 16),
        id="month 7 with a Complex Working Agreement",
    ),
    pytest.param(
        Given(reviews=(3, 6, 9)), MONTH_10, Can(10.0, ("allow", "allow"), 16), id="month 10"
    ),
]


@pytest.mark.parametrize(("state", "on", "can"), ENTITLEMENTS)
async def test_worker_entitlements(
    tx: FakeTransactions, state: Given, on: dt.date, can: Can
) -> None:
    await given(tx, state)
    before = snapshot(tx)
    answer = await worker_entitlements(tx, STOKE, "NQ-1", on)
    assert answer.result is not None
    cp = next(e for e in answer.result.work_types if e.work_type == "child_protection")
    assert answer.result.month_of_practice == can.month
    assert (cp.lead, cp.co_work) == can.child_protection
    assert answer.result.caseload.children_remaining == can.children_remaining
    assert tx.state == before


@pytest.mark.parametrize(
    ("worker", "org", "error"),
    [
        pytest.param("SW-1", STOKE, None, id="a worker not on the ASYE: no restriction"),
        pytest.param("NQ-404", STOKE, UnknownPerson, id="unknown worker"),
        pytest.param("NQ-1", "nowhere", UnknownOrganisation, id="unknown org"),
    ],
)
async def test_worker_entitlements_of_others(
    tx: FakeTransactions, worker: str, org: str, error: type[Exception] | None
) -> None:
    await given(tx)
    if error is not None:
        with pytest.raises(error):
            await worker_entitlements(tx, org, worker, MONTH_4)
    else:
        assert (await worker_entitlements(tx, org, worker, MONTH_4)).result is None


STARTED = event("allocation.started", {"case_ref": "CP-1", "worker_ref": "NQ-1", "role": "lead"})
ENDED = event("allocation.ended", {"case_ref": "CP-1", "worker_ref": "NQ-1"})

BREACHES = [
    pytest.param([], (), id="none stored"),
    pytest.param(
        [STARTED],
        (CP6, CP),
        id="holding child protection as lead before the six-month review",
    ),
    pytest.param([STARTED, ENDED], (), id="resolved when the allocation ended"),
]


@pytest.mark.parametrize(("events", "rules"), BREACHES)
async def test_worker_breaches_are_those_the_events_left_open(
    tx: FakeTransactions, events: list[CaseEvent], rules: tuple[str, ...]
) -> None:
    await given(tx, Given(cases={"CP-1": ("child_protection", 1)}))
    for i, e in enumerate(events):
        await apply_event(tx, f"d-{i}", e, at=T0)
    before = snapshot(tx)
    answer = await worker_breaches(tx, STOKE, "NQ-1")
    assert answer.result is not None
    assert sorted(b.rule for b in answer.result) == sorted(rules)
    assert tx.state == before


async def test_worker_breaches_of_unknown_worker(tx: FakeTransactions) -> None:
    await given(tx)
    with pytest.raises(UnknownPerson):
        await worker_breaches(tx, STOKE, "NQ-404")
