"""Where an NQSW stands in their year, and who may set a refusal aside, per preset."""

from __future__ import annotations

import datetime as dt

import pytest

from policy import (
    Case,
    Caseload,
    DecisionRequest,
    Role,
    StaffRole,
    Worker,
    compile_policy,
    decide,
    load_preset,
)
from policy.progress import override_roles, progress
from policy.requests import PauseIn
from policy.schedules import ReviewDue

START = dt.date(2026, 5, 4)
ON = dt.date(2026, 11, 23)


def stoke_worker(**kw: object) -> Worker:
    return Worker(asye_start=START, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("worker", "month", "length", "paused", "review"),
    [
        (
            stoke_worker(reviews_passed=frozenset({3, 6})),
            6.61,
            12,
            0,
            ReviewDue(9, dt.date(2027, 2, 4)),
        ),
        (stoke_worker(), 6.61, 12, 0, ReviewDue(3, dt.date(2026, 8, 4))),  # overdue
        (
            stoke_worker(fte=0.5),
            6.61,
            18,
            0,
            ReviewDue(3, dt.date(2026, 8, 4)),
        ),  # part time: 18 months
        # Part time, reviewed every three months throughout: after 9 comes 12, not 11.
        (
            stoke_worker(fte=0.5, reviews_passed=frozenset({3, 6, 9})),
            6.61,
            18,
            0,
            ReviewDue(12, dt.date(2027, 5, 4)),
        ),
        (
            stoke_worker(pauses=(PauseIn(dt.date(2026, 6, 1), dt.date(2026, 6, 21)),)),
            5.9,
            12,
            21,
            ReviewDue(3, dt.date(2026, 8, 25)),  # three weeks later
        ),
        (
            stoke_worker(pauses=(PauseIn(dt.date(2026, 6, 1), None),)),
            0.9,
            12,
            176,
            ReviewDue(3, None),
        ),
        (stoke_worker(reviews_passed=frozenset({3, 6, 9, 11, 12})), 6.61, 12, 0, None),
    ],
)
def test_progress_on_the_stoke_policy(
    worker: Worker, month: float, length: int, paused: int, review: ReviewDue | None
) -> None:
    compiled = compile_policy(load_preset("stoke-childrens"))
    p = progress(compiled, ON, worker)
    assert p.month_of_practice == pytest.approx(month, abs=0.05)
    assert (p.programme_months, p.days_paused, p.next_review) == (length, paused, review)


def request(
    work_type: str, children: int, held: int = 0, reviews: frozenset[int] = frozenset({3, 6})
) -> DecisionRequest:
    caseload = tuple(
        Case(case_id=f"H-{i}", work_type="child_in_need", children=1) for i in range(held)
    )
    return DecisionRequest(
        on=ON,
        worker=stoke_worker(reviews_passed=reviews),
        caseload=Caseload(caseload),
        proposal=Case(case_id="C-1", work_type=work_type, children=children, role=Role.LEAD),
    )


@pytest.mark.parametrize(
    ("req", "roles"),
    [
        # "support recorded in the Complex Work Agreement": a team manager may set it aside.
        (request("child_protection", 1), (StaffRole.TEAM_MANAGER,)),
        # "regardless of circumstances": nobody may.
        (request("child_protection", 1, reviews=frozenset()), ()),
        # Allowed as asked: no exception is needed.
        (request("child_in_need", 1), ()),
        # The cap of 16 "never exceeded during the ASYE": nobody may.
        (request("child_in_need", 2, held=15), ()),
    ],
    ids=["cp lead in month 7", "cp before six-month review", "allowed", "17th child"],
)
def test_who_may_set_a_refusal_aside(req: DecisionRequest, roles: tuple[StaffRole, ...]) -> None:
    compiled = compile_policy(load_preset("stoke-childrens"))
    assert override_roles(compiled, req, decide(compiled, req)) == roles
