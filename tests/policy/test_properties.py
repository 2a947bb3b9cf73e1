"""Hypothesis properties of the engine, over every preset shipped with the product.

The generated records are consistent: pauses do not overlap (one open-ended pause, if
any, comes last), reviews are passed in order and only once they are due, and
agreements, work types and flags come from the policy's own vocabulary.

"Stricter" compares outcomes in `RESTRICTIVENESS` order (allow < co_work < deny).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy import (
    Caseload,
    CaseloadRequest,
    CompiledPolicy,
    Decision,
    breaches,
    compile_policy,
    decide,
    load_preset,
    parse_caseload_request,
    parse_decision_request,
    preset_ids,
)
from policy.clock import Pause, clock_rate, months_of_practice
from policy.progress import override_roles
from policy.requests import Override
from policy.schema import RESTRICTIVENESS, Outcome, Requirement, StaffRole
from policy.views import decision_json

COMPILED: dict[str, CompiledPolicy] = {
    pid: compile_policy(load_preset(pid)) for pid in preset_ids()
}

# Each property runs once per preset, so each policy gets the same attention. One failure
# is shrunk and reported at a time: shrinking several at once is slow here.
PROPERTY = settings(max_examples=40, deadline=None, report_multiple_bugs=False)
EVERY_PRESET = pytest.mark.parametrize("policy_id", sorted(COMPILED))


def _reviews_in(req: Requirement | None) -> Iterator[int]:
    if req is None:
        return
    if req.review is not None:
        yield req.review
    for sub in (*(req.all or ()), *(req.any or ())):
        yield from _reviews_in(sub)


def review_months(compiled: CompiledPolicy) -> list[int]:
    """Every review the policy schedules or names in a gate or a cap phase, in order."""
    p = compiled.policy
    months = set(p.reviews.months if p.reviews else ())
    for gate in p.gates:
        months.update(_reviews_in(gate.lead), _reviews_in(gate.co_work))
    for cap in (p.caps.children, p.caps.points):
        for phase in cap.phases if cap else ():
            months.update(_reviews_in(phase.from_))
    return sorted(months)


def rule_ids_of_caps_and_limits(compiled: CompiledPolicy) -> frozenset[str]:
    caps = compiled.policy.caps
    ids = {cap.id for cap in (caps.children, caps.points) if cap is not None}
    return frozenset(ids | {limit.id for limit in compiled.policy.limits})


def gate_outcome(compiled: CompiledPolicy, decision: Decision) -> Outcome:
    """The decision as the gates alone make it: the most restrictive gate effect, caps aside."""
    excluded = rule_ids_of_caps_and_limits(compiled)
    effects = [r.effect for r in decision.reasons if r.rule not in excluded]
    return max(effects, key=RESTRICTIVENESS.__getitem__, default=Outcome.ALLOW)


def stricter(a: Outcome, b: Outcome) -> bool:
    return RESTRICTIVENESS[a] > RESTRICTIVENESS[b]


# --- strategies ------------------------------------------------------------------------


def uniform(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Every value equally likely: `st.integers` favours small and boundary values, but the
    milestones that matter (3, 6, 9 months; a cap of 16 children) lie mid-range."""
    return st.sampled_from(range(lo, hi + 1))


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


@st.composite
def pauses(draw: st.DrawFn, asye_start: dt.date) -> list[Pause]:
    """Up to three leave periods in date order, never overlapping; only the last may be open."""
    out: list[Pause] = []
    cursor = asye_start - dt.timedelta(days=draw(st.integers(0, 60)))
    for _ in range(draw(st.integers(0, 3))):
        start = cursor + dt.timedelta(days=draw(st.integers(0, 240)))
        if draw(st.integers(0, 9)) == 0:
            out.append(Pause(start, None))
            break
        end = start + dt.timedelta(days=draw(st.integers(0, 180)))
        out.append(Pause(start, end))
        cursor = end + dt.timedelta(days=1)
    return out


@dataclass(frozen=True)
class Record:
    """A worker's ASYE record and the reviews and agreements they could go on to record."""

    asye_start: dt.date
    fte: float
    pauses: tuple[Pause, ...]
    reviews_passed: tuple[int, ...]
    reviews_due: tuple[int, ...]
    agreements: tuple[str, ...]

    def wire(self) -> dict[str, Any]:
        return {
            "asye_start": self.asye_start.isoformat(),
            "fte": self.fte,
            "pauses": [{"from": _iso(p.start), "to": _iso(p.end)} for p in self.pauses],
            "reviews_passed": list(self.reviews_passed),
            "agreements": list(self.agreements),
        }


@st.composite
def records(draw: st.DrawFn, compiled: CompiledPolicy, on: dt.date) -> Record:
    asye_start = on - dt.timedelta(days=draw(uniform(-45, 20 * 30)))
    fte = draw(st.sampled_from([1.0, 1.0, 0.9, 0.8, 0.6, 0.5, 0.4]))
    leave = tuple(draw(pauses(asye_start)))
    rate = clock_rate(compiled.policy.programme, fte)
    months = months_of_practice(on, asye_start, leave, rate)
    due = tuple(r for r in review_months(compiled) if r <= months)
    passed = due[: draw(uniform(0, len(due)))]
    vocabulary = sorted(compiled.agreements)
    agreements = draw(st.lists(st.sampled_from(vocabulary), unique=True)) if vocabulary else []
    return Record(asye_start, fte, leave, passed, due, tuple(agreements))


def cases(compiled: CompiledPolicy, case_id: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    flags = sorted(compiled.flags)
    return st.fixed_dictionaries(
        {
            "case_id": case_id,
            "work_type": st.sampled_from([w.id for w in compiled.policy.work_types]),
            "children": st.integers(0, 6),
            "role": st.sampled_from(["lead", "co_work"]),
            "flags": st.lists(st.sampled_from(flags), unique=True) if flags else st.just([]),
            "external": st.booleans(),
        }
    )


@st.composite
def caseloads(draw: st.DrawFn, compiled: CompiledPolicy, prefix: str) -> list[dict[str, Any]]:
    """0 to 25 cases, ids distinct by construction (`prefix`-1, `prefix`-2, ...)."""
    one = cases(compiled, st.just(""))
    size = draw(uniform(0, 25))
    return [{**draw(one), "case_id": f"{prefix}-{i}"} for i in range(1, size + 1)]


overrides = st.none() | st.builds(
    lambda role: {"justification": "Agreed in supervision, see record", "approver_role": role},
    # Team managers may set most overridable rules aside; every other role is tried too.
    st.sampled_from(["team_manager"] * 3 + [r.value for r in StaffRole]),
)


@dataclass(frozen=True)
class Scenario:
    policy_id: str
    on: dt.date
    record: Record
    caseload: tuple[dict[str, Any], ...]
    proposal: dict[str, Any]
    override: dict[str, Any] | None

    @property
    def compiled(self) -> CompiledPolicy:
        return COMPILED[self.policy_id]

    def wire(self) -> dict[str, Any]:
        return {
            "on": self.on.isoformat(),
            "worker": self.record.wire(),
            "caseload": list(self.caseload),
            "proposal": self.proposal,
            "override": self.override,
        }

    def decide(self) -> Decision:
        return decide(self.compiled, parse_decision_request(self.wire()))


@st.composite
def scenarios(draw: st.DrawFn, policy_id: str) -> Scenario:
    compiled = COMPILED[policy_id]
    on = draw(st.dates(dt.date(2023, 1, 1), dt.date(2030, 12, 31)))
    record = draw(records(compiled, on))
    caseload = draw(caseloads(compiled, "C"))
    # Mostly a new case; sometimes one already held, asked for again (a change of role or type).
    held = [c["case_id"] for c in caseload]
    proposal_id = st.sampled_from(["P-1", *held]) if held else st.just("P-1")
    proposal = draw(cases(compiled, proposal_id))
    return Scenario(policy_id, on, record, tuple(caseload), proposal, draw(overrides))


def variants(s: Scenario) -> Iterator[Scenario]:
    """The scenario's proposal asked for every work type of the policy, as lead and co-worker."""
    for work_type in s.compiled.policy.work_types:
        for role in ("lead", "co_work"):
            yield replace(s, proposal={**s.proposal, "work_type": work_type.id, "role": role})


def allocate(
    s: Scenario, candidates: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[Decision]]:
    """Offer the candidates one by one on the scenario's day, starting from an empty caseload.

    A case is taken only on `allow` without an override; a lead request answered `co_work`
    is asked again as co-worker, as a manager would. Returns the caseload and every decision.
    """
    held: list[dict[str, Any]] = []
    decisions: list[Decision] = []
    for candidate in candidates:
        for role in ("lead", "co_work") if candidate["role"] == "lead" else ("co_work",):
            proposal = {**candidate, "role": role}
            d = replace(s, caseload=tuple(held), proposal=proposal).decide()
            decisions.append(d)
            if d.outcome is Outcome.ALLOW and not d.overridden:
                held.append(proposal)
            if d.outcome is not Outcome.CO_WORK:
                break
    return held, decisions


# --- properties ------------------------------------------------------------------------


@EVERY_PRESET
@PROPERTY
@given(data=st.data())
def test_the_same_input_always_gives_the_same_decision(policy_id: str, data: st.DataObject) -> None:
    s = data.draw(scenarios(policy_id), label="scenario")
    first = decision_json(s.decide())
    again = decision_json(s.decide())
    # A fresh compile of the same preset, and a request that went through JSON text.
    fresh = compile_policy(load_preset(s.policy_id))
    via_text = parse_decision_request(json.loads(json.dumps(s.wire())))
    assert first == again == decision_json(decide(fresh, via_text))


@EVERY_PRESET
@PROPERTY
@given(data=st.data(), days=uniform(1, 400))
def test_more_months_of_practice_never_make_the_gates_stricter(
    policy_id: str, data: st.DataObject, days: int
) -> None:
    """The same record on a later day: the gates' answer never gets stricter.

    Formulation: the outcome is taken over the gate reasons only (cap and limit rules are
    left out). That is a property of the engine for any policy: gates open on months of
    practice, reviews and agreements, and months only grow with time for a fixed record.
    Caps are excluded because a policy may lawfully lower a cap in a later phase, and
    limits because they do not depend on time. Checked for every work type and role.
    """
    s = data.draw(scenarios(policy_id), label="scenario")
    for v in variants(s):
        earlier = v.decide()
        later = replace(v, on=v.on + dt.timedelta(days=days)).decide()
        assert later.month_of_practice >= earlier.month_of_practice
        assert not stricter(gate_outcome(v.compiled, later), gate_outcome(v.compiled, earlier))


@EVERY_PRESET
@PROPERTY
@given(data=st.data())
def test_more_reviews_or_agreements_never_make_the_gates_stricter(
    policy_id: str, data: st.DataObject
) -> None:
    """The same day, a record with more reviews passed and more agreements: gates only open.

    Same formulation as for time: gate reasons only, because a cap phase may be keyed on
    a review and a policy may set any cap in any phase. Checked for every work type and role.
    """
    s = data.draw(scenarios(policy_id), label="scenario")
    record = s.record
    more_reviews = record.reviews_due[
        : data.draw(uniform(len(record.reviews_passed), len(record.reviews_due)))
    ]
    vocabulary = sorted(s.compiled.agreements - set(record.agreements))
    extra = data.draw(st.lists(st.sampled_from(vocabulary), unique=True)) if vocabulary else []
    richer = replace(record, reviews_passed=more_reviews, agreements=(*record.agreements, *extra))
    for v in variants(s):
        before = v.decide()
        after = replace(v, record=richer).decide()
        assert not stricter(gate_outcome(v.compiled, after), gate_outcome(v.compiled, before))


@EVERY_PRESET
@PROPERTY
@given(data=st.data())
def test_an_allowed_decision_never_leaves_the_caseload_over_a_cap(
    policy_id: str, data: st.DataObject
) -> None:
    """Checked on the scenario for every work type and role, and on every decision made
    while filling an empty caseload (which walks each cap up to its limit)."""
    s = data.draw(scenarios(policy_id), label="scenario")
    decisions = [v.decide() for v in variants(s)]
    decisions += allocate(s, data.draw(caseloads(s.compiled, "N")))[1]
    for d in decisions:
        if d.outcome is not Outcome.ALLOW or d.overridden:
            continue
        c = d.caseload
        if c.children_cap is not None:
            assert c.children_after <= c.children_cap or c.children_after <= c.children_before
        if c.points_cap is not None:
            assert c.points_after <= c.points_cap or c.points_after <= c.points_before


@EVERY_PRESET
@PROPERTY
@given(data=st.data())
def test_adding_a_case_to_the_caseload_never_loosens_a_decision(
    policy_id: str, data: st.DataObject
) -> None:
    """The added case is any case, or another like the proposal (which counts against the
    same caps and limits). Checked for every work type and role of the proposal."""
    s = data.draw(scenarios(policy_id), label="scenario")
    like_proposal = st.just({**s.proposal, "case_id": "X-1"})
    extra = data.draw(cases(s.compiled, st.just("X-1")) | like_proposal)
    for v in variants(s):
        smaller = v.decide()
        larger = replace(v, caseload=(*v.caseload, extra)).decide()
        assert not stricter(smaller.outcome, larger.outcome)


@EVERY_PRESET
@PROPERTY
@given(data=st.data())
def test_a_caseload_built_from_allowed_decisions_has_no_breaches_that_day(
    policy_id: str, data: st.DataObject
) -> None:
    s = data.draw(scenarios(policy_id), label="scenario")
    held, _ = allocate(s, data.draw(caseloads(s.compiled, "N")))
    request = {"on": s.on.isoformat(), "worker": s.record.wire(), "caseload": held}
    assert breaches(s.compiled, parse_caseload_request(request)) == ()


@EVERY_PRESET
@PROPERTY
@given(data=st.data())
def test_the_approvers_found_are_exactly_the_roles_whose_override_allows(
    policy_id: str, data: st.DataObject
) -> None:
    """`override_roles` only tries roles the blocking rules' overrides name: trying every
    role there is finds the same ones. Checked for every work type and role of the proposal."""
    s = data.draw(scenarios(policy_id), label="scenario")
    for v in variants(replace(s, override=None)):
        request = parse_decision_request(v.wire())
        every = tuple(
            role
            for role in StaffRole
            if decide(
                v.compiled,
                replace(request, override=Override(justification="x" * 10, approver_role=role)),
            ).outcome
            is Outcome.ALLOW
            and v.decide().outcome is not Outcome.ALLOW
        )
        assert override_roles(v.compiled, request, v.decide()) == every


@EVERY_PRESET
@PROPERTY
@given(data=st.data())
def test_a_caseload_grown_case_by_case_answers_as_one_read_at_once(
    policy_id: str, data: st.DataObject
) -> None:
    """Storage grows a worker's caseload with `with_case` after each allocation instead of
    grouping it again: the decision and the breaches must not tell the two apart, and each
    breach names its cases in the caseload's order."""
    s = data.draw(scenarios(policy_id), label="scenario")
    request = parse_decision_request(s.wire())
    shuffled = data.draw(st.permutations(request.caseload), label="order of arrival")
    grown = Caseload()
    for case in shuffled:
        grown = grown.with_case(case)
    made = Caseload(sorted(request.caseload, key=lambda c: c.case_id))
    assert grown == made and grown.ids == made.ids
    assert {k: g.ids for k, g in grown.groups.items()} == {k: g.ids for k, g in made.groups.items()}
    as_grown = replace(request, caseload=grown)
    assert decision_json(decide(s.compiled, as_grown)) == decision_json(
        decide(s.compiled, replace(request, caseload=made))
    )
    held = CaseloadRequest(on=s.on, worker=request.worker, caseload=grown)
    found = breaches(s.compiled, held)
    assert found == breaches(s.compiled, replace(held, caseload=made))
    for breach in found:
        assert list(breach.case_ids) == [i for i in made.ids if i in set(breach.case_ids)]
