"""Every date the contract accepts gets an answer: 0001-01-01 to 9999-12-31 (issue 6, defect 1).

`datetime.date` arithmetic raises past either end of the calendar, and a leave "to
9999-12-31" (how case-management systems say open-ended), an ASYE starting in 9999 or
`on` = 9999-12-31 used to turn every decision about that worker into a 500. Here the
records are anything the contract accepts, not the consistent careers of
test_properties.py, and the dates lean toward the calendar's two ends.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy import (
    CompiledPolicy,
    breaches,
    compile_policy,
    decide,
    entitlements,
    parse_caseload_request,
    parse_decision_request,
    parse_policy,
    preset_ids,
    preset_text,
)
from policy.clock import Pause, calendar_months, date_of_month, months_of_practice
from policy.views import (
    BreachesJson,
    DecisionJson,
    EntitlementsJson,
    breaches_json,
    decision_json,
    entitlements_json,
)
from tests.policy.test_properties import COMPILED, caseloads, review_months

FIRST, LAST = dt.date.min, dt.date.max


def _scaled(preset_id: str) -> CompiledPolicy:
    """The preset with gates scaled by FTE, so that any fte in (0, 1] reaches the clock
    (no preset scales them: stoke's 18 part-time months then give 12/18, others the fte)."""
    text = (
        f"extends: {preset_id}\nid: {preset_id}-by-fte\nprogramme: {{gates_scale_with_fte: true}}\n"
    )
    return compile_policy(parse_policy(text, f"{preset_id}-by-fte.yaml", parent=preset_text))


POLICIES: dict[str, CompiledPolicy] = {
    **COMPILED,
    **{f"{pid}-by-fte": _scaled(pid) for pid in preset_ids()},
}
EVERY_POLICY = pytest.mark.parametrize("policy_id", sorted(POLICIES))
PROPERTY = settings(max_examples=60, deadline=None, report_multiple_bugs=False)


# --- strategies ------------------------------------------------------------------------


def _day(ordinal: int) -> dt.date:
    """The date of a day number, held inside the calendar."""
    return dt.date.fromordinal(min(max(ordinal, 1), LAST.toordinal()))


def near(anchor: dt.date, days: int) -> st.SearchStrategy[dt.date]:
    return st.integers(-days, days).map(lambda n: _day(anchor.toordinal() + n))


calendar_days = st.one_of(
    st.sampled_from([FIRST, LAST, dt.date(1, 12, 31), dt.date(9999, 6, 1), dt.date(9999, 12, 1)]),
    st.dates(FIRST, dt.date(1, 12, 31)),
    st.dates(dt.date(9999, 1, 1), LAST),
    st.dates(),
)
"""Any date the contract accepts, three draws in four in year 1 or in 9999."""

ftes = st.sampled_from([1.0, 0.5, 1e-9, 1e-300, 5e-324]) | st.floats(
    0, 1, exclude_min=True, allow_subnormal=True
)
"""Any fte in (0, 1]; the smallest give a clock so slow that no milestone is in the calendar."""

rates = ftes | st.just(12 / 18)


@st.composite
def leaves(draw: st.DrawFn, anchor: dt.date) -> Pause:
    """Leave anywhere, or near `anchor`; open-ended (None), to 9999-12-31, or to a real day."""
    start = draw(calendar_days | near(anchor, 400))
    end = draw(
        st.none()
        | st.just(LAST)
        | st.integers(0, 400).map(lambda n: _day(start.toordinal() + n))
        | st.dates(start, LAST)
    )
    return Pause(start, end)


@dataclass(frozen=True)
class Edge:
    """A record and a day, each anywhere in the calendar."""

    on: dt.date
    asye_start: dt.date
    fte: float
    pauses: tuple[Pause, ...]
    reviews_passed: tuple[int, ...]
    agreements: tuple[str, ...]

    def wire(self, caseload: list[dict[str, Any]]) -> dict[str, Any]:
        """The entitlements and breaches request; a decision request adds a proposal."""
        worker = {
            "asye_start": self.asye_start.isoformat(),
            "fte": self.fte,
            "pauses": [
                {"from": p.start.isoformat(), "to": None if p.end is None else p.end.isoformat()}
                for p in self.pauses
            ],
            "reviews_passed": list(self.reviews_passed),
            "agreements": list(self.agreements),
        }
        return {"on": self.on.isoformat(), "worker": worker, "caseload": caseload}


@st.composite
def edges(draw: st.DrawFn, compiled: CompiledPolicy) -> Edge:
    asye_start = draw(calendar_days)
    on = draw(calendar_days | near(asye_start, 800))
    pauses = tuple(draw(st.lists(leaves(asye_start), max_size=3)))
    reviews = review_months(compiled)
    passed = draw(st.lists(st.sampled_from(reviews), unique=True)) if reviews else []
    vocabulary = sorted(compiled.agreements)
    agreements = draw(st.lists(st.sampled_from(vocabulary), unique=True)) if vocabulary else []
    return Edge(on, asye_start, draw(ftes), pauses, tuple(sorted(passed)), tuple(agreements))


def no_return_date(edge: Edge) -> tuple[Edge, Edge]:
    """The record with its open-ended leave spelt both ways: `to` null and `to` 9999-12-31."""
    open_ended = tuple(Pause(p.start, None if p.end == LAST else p.end) for p in edge.pauses)
    to_last = tuple(Pause(p.start, LAST if p.end is None else p.end) for p in edge.pauses)
    return replace(edge, pauses=open_ended), replace(edge, pauses=to_last)


# --- the clock -------------------------------------------------------------------------


def _400_years_earlier(day: dt.date) -> dt.date:
    return day.replace(year=day.year - 400)  # 29 February too: the leap years repeat


late = st.one_of(st.dates(dt.date(9998, 1, 1), LAST), st.dates(dt.date(401, 1, 1), LAST))
"""Days that have a day 400 years earlier, mostly in the calendar's last two years."""


@given(
    start=late,
    on=late,
    months=st.floats(0, 60),
    spans=st.lists(st.tuples(late, late), max_size=3),
)
def test_the_clock_at_the_end_of_the_calendar_is_the_clock_400_years_earlier(
    start: dt.date, on: dt.date, months: float, spans: list[tuple[dt.date, dt.date]]
) -> None:
    """The Gregorian calendar repeats every 400 years to the day, so dateutil's answer 400
    years earlier, where every date exists, is the answer past 9999-12-31."""
    spans = [(min(a, b), max(a, b)) for a, b in spans]
    leave = tuple(Pause(a, b) for a, b in spans)
    shifted = tuple(Pause(_400_years_earlier(a), _400_years_earlier(b)) for a, b in spans)
    assert calendar_months(start, on) == calendar_months(
        _400_years_earlier(start), _400_years_earlier(on)
    )
    assert months_of_practice(on, start, leave, 1.0) == months_of_practice(
        _400_years_earlier(on), _400_years_earlier(start), shifted, 1.0
    )
    earlier = date_of_month(months, _400_years_earlier(start), shifted, 1.0)
    assert earlier is not None  # nothing is past the calendar 400 years earlier
    expected = None if earlier.year + 400 > LAST.year else earlier.replace(year=earlier.year + 400)
    assert date_of_month(months, start, leave, 1.0) == expected


@given(
    start=calendar_days,
    months=st.integers(1, 60),
    data=st.data(),
)
def test_a_milestone_is_unknown_exactly_when_the_clock_never_reaches_it_in_the_calendar(
    start: dt.date, months: int, data: st.DataObject
) -> None:
    """With leave that ends (9999-12-31 included): the milestone's date is the first day
    the clock shows it, or None when even on 9999-12-31 the clock has not got there.
    (Month 0 is met from the start, so the engine never asks for its date.)"""
    leave = tuple(
        p
        for p in data.draw(st.lists(leaves(start), max_size=3), label="leave")
        if p.end is not None
    )
    day = date_of_month(months, start, leave, 1.0)
    if day is None:
        assert months_of_practice(LAST, start, leave, 1.0) < months
    else:
        assert day >= start
        assert months_of_practice(day, start, leave, 1.0) >= months


@given(
    start=calendar_days,
    on=calendar_days,
    months=st.floats(0, 60),
    rate=rates,
    data=st.data(),
)
def test_the_clock_answers_for_every_date_and_rate(
    start: dt.date, on: dt.date, months: float, rate: float, data: st.DataObject
) -> None:
    """However slow the clock (the smallest fte), a milestone past the calendar is None."""
    leave = tuple(data.draw(st.lists(leaves(start), max_size=3), label="leave"))
    practice = months_of_practice(on, start, leave, rate)
    assert 0.0 <= practice < float("inf")
    day = date_of_month(months, start, leave, rate)
    assert day is None or day >= start


@given(start=calendar_days, on=calendar_days, leave_from=calendar_days, rate=rates)
def test_leave_to_9999_12_31_stops_the_clock_as_leave_with_no_return_date(
    start: dt.date, on: dt.date, leave_from: dt.date, rate: float
) -> None:
    to_last, open_ended = (Pause(leave_from, LAST),), (Pause(leave_from, None),)
    assert months_of_practice(on, start, to_last, rate) == months_of_practice(
        on, start, open_ended, rate
    )
    for months in (0, 3, 6, 9, 12, 60):
        assert date_of_month(months, start, to_last, rate) == date_of_month(
            months, start, open_ended, rate
        )


# --- the engine ------------------------------------------------------------------------


def _dates_in(answer: Any) -> list[str]:
    """Every `allowed_from.date` in a JSON answer."""
    if isinstance(answer, dict):
        found = [answer["date"]] if "date" in answer and "milestone" in answer else []
        return found + [d for value in answer.values() for d in _dates_in(value)]
    if isinstance(answer, list):
        return [d for value in answer for d in _dates_in(value)]
    return []


def _answers(
    compiled: CompiledPolicy, edge: Edge, caseload: list[Any]
) -> tuple[list[DecisionJson], EntitlementsJson, BreachesJson]:
    """Every work type asked for as lead and co-worker, what the worker may hold, and the
    breaches of the caseload, as the CLI and the API print them (through JSON text)."""
    decisions = []
    for work_type in compiled.policy.work_types:
        for role in ("lead", "co_work"):
            proposal = {"case_id": "P-1", "work_type": work_type.id, "children": 1, "role": role}
            text = json.dumps({**edge.wire(caseload), "proposal": proposal})
            decisions.append(
                decision_json(decide(compiled, parse_decision_request(json.loads(text))))
            )
    request = parse_caseload_request(json.loads(json.dumps(edge.wire(caseload))))
    return (
        decisions,
        entitlements_json(entitlements(compiled, request)),
        breaches_json(breaches(compiled, request)),
    )


@EVERY_POLICY
@PROPERTY
@given(data=st.data())
def test_every_date_in_the_calendar_gets_an_answer_and_no_date_before_on(
    policy_id: str, data: st.DataObject
) -> None:
    compiled = POLICIES[policy_id]
    edge = data.draw(edges(compiled), label="record")
    caseload = data.draw(caseloads(compiled, "C"), label="caseload")
    decisions, held, found = _answers(compiled, edge, caseload)
    dates = _dates_in([decisions, held])
    assert all(dt.date.fromisoformat(d) >= edge.on for d in dates if d is not None), dates
    assert all(d["month_of_practice"] >= 0 for d in decisions)
    assert held["month_of_practice"] >= 0
    assert all(set(b["case_ids"]) <= {c["case_id"] for c in caseload} for b in found["breaches"])


@EVERY_POLICY
@PROPERTY
@given(data=st.data())
def test_leave_to_9999_12_31_is_leave_with_no_return_date(
    policy_id: str, data: st.DataObject
) -> None:
    """Decisions for every work type and role, entitlements and breaches are the same
    whichever way the open-ended leave is spelt, on any day in the calendar."""
    compiled = POLICIES[policy_id]
    edge = data.draw(edges(compiled), label="record")
    extra = data.draw(leaves(edge.asye_start), label="open-ended leave")
    edge = replace(edge, pauses=(*edge.pauses, Pause(extra.start, None)))
    caseload = data.draw(caseloads(compiled, "C"), label="caseload")
    open_ended, to_last = no_return_date(edge)
    assert _answers(compiled, open_ended, caseload) == _answers(compiled, to_last, caseload)


# --- issue 6, defect 1: the reported inputs ------------------------------------------------


@dataclass(frozen=True)
class Reported:
    policy_id: str
    on: str
    worker: dict[str, Any]
    work_type: str
    role: str
    outcome: str
    allowed_from: dict[str, Any] | None
    month_of_practice: float

    def proposal(self) -> dict[str, Any]:
        return {"case_id": "C-9", "work_type": self.work_type, "children": 1, "role": self.role}

    def request(self) -> dict[str, Any]:
        return {"on": self.on, "worker": self.worker, "caseload": [], "proposal": self.proposal()}


LEAVE_TO_9999 = {
    "asye_start": "2026-01-05",
    "reviews_passed": [3],
    "pauses": [{"from": "2026-03-01", "to": "9999-12-31"}],
}
STOKE_CP_MILESTONES = "month-6 review passed and month-9 review passed"

# fmt: off
REPORTED = [
    pytest.param(
        Reported(
            "stoke-childrens", "2026-07-01", LEAVE_TO_9999, "child_protection", "lead",
            "deny", {"date": None, "milestone": STOKE_CP_MILESTONES}, 1.82,
        ),
        id="leave-to-9999-12-31",
    ),
    pytest.param(
        Reported(
            "dorset-childrens", "2026-07-01", LEAVE_TO_9999, "child_protection", "lead",
            "deny", {"date": None, "milestone": "month 9 of practice"}, 1.82,
        ),
        id="leave-to-9999-12-31-months-of-practice",
    ),
    pytest.param(
        # Month 6 falls on 9999-12-01, inside the calendar.
        Reported(
            "dorset-childrens", "9999-07-01", {"asye_start": "9999-06-01"}, "child_protection",
            "co_work", "deny", {"date": "9999-12-01", "milestone": "month 6 of practice"}, 1.0,
        ),
        id="asye-start-9999-06-01",
    ),
    pytest.param(
        # Month 9 would be 10000-03-01: beyond the calendar, so no date.
        Reported(
            "dorset-childrens", "9999-07-01", {"asye_start": "9999-06-01"}, "care_proceedings",
            "lead", "co_work", {"date": None, "milestone": "month 9 of practice"}, 1.0,
        ),
        id="asye-start-9999-06-01-milestone-past-the-calendar",
    ),
    pytest.param(
        Reported(
            "stoke-childrens", "9999-12-31", {"asye_start": "2026-01-05"}, "child_protection",
            "lead", "deny", {"date": None, "milestone": STOKE_CP_MILESTONES}, 95687.84,
        ),
        id="on-9999-12-31",
    ),
    pytest.param(
        Reported(
            "dorset-childrens", "9999-12-31", {"asye_start": "9999-12-31"}, "child_protection",
            "lead", "deny", {"date": None, "milestone": "month 9 of practice"}, 0.0,
        ),
        id="on-and-asye-start-9999-12-31",
    ),
    pytest.param(
        # Leave on the first day of the calendar: the clock must not step back before it.
        Reported(
            "dorset-childrens", "0001-01-01",
            {"asye_start": "0001-01-01", "pauses": [{"from": "0001-01-01", "to": "0001-01-01"}]},
            "child_protection", "co_work",
            "deny", {"date": "0001-07-02", "milestone": "month 6 of practice"}, 0.0,
        ),
        id="leave-on-0001-01-01",
    ),
]
# fmt: on


@pytest.mark.parametrize("case", REPORTED)
def test_issue_6_defect_1_decisions_at_the_ends_of_the_calendar(case: Reported) -> None:
    compiled = COMPILED[case.policy_id]
    answer = decision_json(decide(compiled, parse_decision_request(case.request())))
    assert answer["outcome"] == case.outcome
    assert answer["allowed_from"] == case.allowed_from
    assert answer["month_of_practice"] == case.month_of_practice


@pytest.mark.parametrize("case", REPORTED)
def test_issue_6_defect_1_holding_the_case_breaches_the_rules_that_refused_it(
    case: Reported,
) -> None:
    """What the webhook does after `allocation.started`: the breaches of the new caseload."""
    compiled = COMPILED[case.policy_id]
    decision = decide(compiled, parse_decision_request(case.request()))
    request = {"on": case.on, "worker": case.worker, "caseload": [case.proposal()]}
    found = breaches(compiled, parse_caseload_request(request))
    assert found  # every reported allocation is refused, so holding it breaches
    assert {b.rule for b in found} == {
        r.rule for r in decision.reasons if r.effect.value != "allow"
    }
    held = entitlements_json(entitlements(compiled, parse_caseload_request(request)))
    [row] = [r for r in held["work_types"] if (r["work_type"], r["flags"]) == (case.work_type, [])]
    assert (row["lead"] if case.role == "lead" else row["co_work"]) == case.outcome
    if case.role == "lead":  # an entitlement's date is the lead role's
        assert row["allowed_from"] == case.allowed_from


def test_issue_6_defect_1_leave_to_9999_12_31_answers_as_leave_with_no_return_date() -> None:
    open_ended = {**LEAVE_TO_9999, "pauses": [{"from": "2026-03-01", "to": None}]}
    for policy_id, compiled in sorted(COMPILED.items()):
        for work_type in compiled.policy.work_types:
            proposal = {"case_id": "C-9", "work_type": work_type.id, "children": 1}
            answers = [
                decision_json(
                    decide(
                        compiled,
                        parse_decision_request(
                            {
                                "on": "2026-07-01",
                                "worker": worker,
                                "caseload": [],
                                "proposal": proposal,
                            }
                        ),
                    )
                )
                for worker in (LEAVE_TO_9999, open_ended)
            ]
            assert answers[0] == answers[1], (policy_id, work_type.id)
