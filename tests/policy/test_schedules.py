"""What falls due for one NQSW: escalation steps, review reminders, supervision, months.

Dates are worked by hand; the bank holidays and clock changes they meet are those listed
in test_calendar.py.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy import (
    ReviewDue,
    ReviewReminder,
    StaffRole,
    StepDue,
    Worker,
    is_working_day,
    ladder_due,
    load_preset,
    month_date,
    parse_policy,
    preset_text,
    programme_months,
    review_reminders,
    reviews_due,
    supervision_due,
)
from policy.requests import PauseIn
from policy.schema import Escalation, EscalationStep, Programme, Supervision, Wait
from tests.policy.test_calendar import london
from tests.policy.test_calendar_bounds import (
    EVERY_POLICY,
    POLICIES,
    PROPERTY,
    Edge,
    calendar_days,
    edges,
)

D = dt.date
STOKE = load_preset("stoke-childrens")
ADULTS = load_preset("adults-office-based")
START = D(2026, 5, 4)  # a Monday; the early May bank holiday, as it happens


def worker(start: dt.date = START, **kw: object) -> Worker:
    return Worker(asye_start=start, **kw)  # type: ignore[arg-type]


def leave(start: dt.date, end: dt.date | None) -> tuple[PauseIn, ...]:
    return (PauseIn(start, end),)


# Escalation.

STOKE_STEP_1 = (StaffRole.TEAM_MANAGER, StaffRole.ASYE_LEAD)
STOKE_STEP_2 = (StaffRole.PRINCIPAL_SOCIAL_WORKER,)


@pytest.mark.parametrize(
    ("opened", "first", "second", "why"),
    [
        (
            london(2026, 11, 6, 22, 30),
            london(2026, 11, 9, 9),
            london(2026, 11, 23, 9),
            "Friday 22:30: step 1 on Monday morning; two weeks on is a Friday night",
        ),
        (
            london(2026, 12, 11, 22, 30),
            london(2026, 12, 14, 9),
            london(2026, 12, 29, 9),
            "two weeks on is Christmas night, then a weekend and Boxing Day's Monday",
        ),
        (
            london(2026, 11, 11, 10, 15),
            london(2026, 11, 11, 10, 15),
            london(2026, 11, 25, 10, 15),
            "opened in hours: step 1 at once, step 2 to the minute two weeks later",
        ),
        (
            london(2026, 10, 14, 17, 30),
            london(2026, 10, 14, 17, 30),
            london(2026, 10, 28, 17, 30),
            "17:30 BST, then 17:30 GMT: the clocks went back between",
        ),
    ],
)
def test_stoke_ladder(
    opened: dt.datetime, first: dt.datetime, second: dt.datetime, why: str
) -> None:
    assert STOKE.escalation is not None
    steps = ladder_due(opened, STOKE.escalation)
    assert [(s.step, s.notify, s.due_at) for s in steps] == [
        (1, STOKE_STEP_1, first),
        (2, STOKE_STEP_2, second),
    ], why
    assert steps[1].clause == STOKE.escalation.ladder[1].clause


def _step(n: int, wait: Wait) -> EscalationStep:
    return EscalationStep(step=n, wait=wait, notify=(StaffRole.SERVICE_MANAGER,), clause=f"s{n}")


def test_waits_count_from_the_opening_not_from_the_step_before() -> None:
    ladder = Escalation(
        ladder=(_step(1, Wait(working_days=2)), _step(2, Wait(working_days=5))),
        summary="Two working days to the manager, five to the service manager.",
    )
    # Opened Wednesday 4 November 2026 at 10:00: two working days is Friday 6th, five is
    # Wednesday 11th; counted from step 1 it would be Friday 13th.
    steps = ladder_due(london(2026, 11, 4, 10), ladder)
    assert steps == (
        StepDue(1, (StaffRole.SERVICE_MANAGER,), "s1", london(2026, 11, 6, 10)),
        StepDue(2, (StaffRole.SERVICE_MANAGER,), "s2", london(2026, 11, 11, 10)),
    )


def test_the_adults_ladder_raises_at_once_in_working_hours() -> None:
    assert ADULTS.escalation is not None
    (step,) = ladder_due(london(2027, 3, 26, 11), ADULTS.escalation)  # Good Friday
    assert step.due_at == london(2027, 3, 30, 9)
    assert step.notify == (StaffRole.TEAM_MANAGER, StaffRole.ASSESSOR)


# Reviews.


@pytest.mark.parametrize(
    ("w", "on", "expected", "why"),
    [
        (
            worker(),
            D(2026, 11, 23),
            (
                ReviewReminder(3, D(2026, 8, 4), D(2026, 7, 21), True),
                ReviewReminder(6, D(2026, 11, 4), D(2026, 10, 21), True),
                ReviewReminder(9, D(2027, 2, 4), D(2027, 1, 21), False),
                # Due Sunday 4 April 2027; two weeks earlier is a Sunday too.
                ReviewReminder(11, D(2027, 4, 4), D(2027, 3, 22), False),
            ),
            "Stoke's 3, 6, 9 and 11 from 4 May 2026; two already overdue",
        ),
        (
            worker(reviews_passed=frozenset({3, 6, 9})),
            D(2027, 4, 4),
            (ReviewReminder(11, D(2027, 4, 4), D(2027, 3, 22), False),),
            "passed reviews are not reminded; due today is not yet overdue",
        ),
        (
            worker(reviews_passed=frozenset({3, 6, 9})),
            D(2027, 4, 5),
            (ReviewReminder(11, D(2027, 4, 4), D(2027, 3, 22), True),),
            "the day after it is",
        ),
        (
            worker(D(2027, 1, 9), reviews_passed=frozenset({6, 9, 11})),
            D(2027, 2, 1),
            # Due Friday 9 April 2027: two weeks earlier is Good Friday, then a weekend
            # and Easter Monday.
            (ReviewReminder(3, D(2027, 4, 9), D(2027, 3, 30), False),),
            "a reminder day on Good Friday moves to the Tuesday",
        ),
        (
            worker(
                pauses=leave(D(2026, 6, 1), D(2026, 7, 11)), reviews_passed=frozenset({6, 9, 11})
            ),
            D(2026, 8, 1),
            # 4 August plus 41 days of leave is Monday 14 September; two weeks earlier is
            # the late summer bank holiday.
            (ReviewReminder(3, D(2026, 9, 14), D(2026, 9, 1), False),),
            "leave moves the review and its reminder",
        ),
        (
            worker(pauses=leave(D(2026, 6, 1), None), reviews_passed=frozenset({6, 9, 11})),
            D(2027, 1, 1),
            (ReviewReminder(3, None, None, False),),
            "on leave with no return date: unknown, never overdue",
        ),
    ],
)
def test_review_reminders(
    w: Worker, on: dt.date, expected: tuple[ReviewReminder, ...], why: str
) -> None:
    assert review_reminders(STOKE, w, on) == expected, why


def test_part_time_reviews_run_three_monthly_through_the_longer_programme() -> None:
    w = worker(fte=0.5, reviews_passed=frozenset({3, 6, 9}))
    assert reviews_due(STOKE, w) == (
        ReviewDue(12, D(2027, 5, 4)),
        ReviewDue(15, D(2027, 8, 4)),
        ReviewDue(18, D(2027, 11, 4)),  # 18 months part time: no review at 11
    )


def test_a_policy_without_reviews_reminds_of_none() -> None:
    assert review_reminders(load_preset("phased-academy"), worker(), D(2026, 11, 23)) == ()


@pytest.mark.parametrize(
    ("programme", "fte", "months"),
    [
        (STOKE.programme, 1.0, 12),
        (STOKE.programme, 0.5, 18),  # the policy's part-time length, not 12 / 0.5
        (Programme(months_full_time=12), 0.6, 20),
        (
            Programme(months_full_time=12, max_months=18),
            0.5,
            18,
        ),  # 24 months part time, capped at 18
        (Programme(months_full_time=12, gates_scale_with_fte=True), 0.5, 12),
    ],
)
def test_programme_months(programme: Programme, fte: float, months: int) -> None:
    assert programme_months(programme, fte) == months


# Supervision: Stoke's weekly for six weeks, fortnightly to six months, then monthly.
# From Monday 4 May 2026 the six weeks end on 15 June and the six months on 4 November.

assert STOKE.supervision is not None
BANDS = STOKE.supervision


@pytest.mark.parametrize(
    ("w", "last", "on", "frequency", "due", "overdue", "why"),
    [
        (worker(), None, START, "weekly", D(2026, 5, 11), False, "first week from the start"),
        (worker(), None, D(2026, 5, 12), "weekly", D(2026, 5, 11), True, "none held at all"),
        (worker(), D(2026, 6, 8), D(2026, 6, 14), "weekly", D(2026, 6, 15), False, "week 6"),
        (worker(), D(2026, 6, 8), D(2026, 6, 15), "fortnightly", D(2026, 6, 22), False, "week 7"),
        (worker(), D(2026, 10, 20), D(2026, 11, 3), "fortnightly", D(2026, 11, 3), False, "last"),
        (worker(), D(2026, 10, 20), D(2026, 11, 4), "monthly", D(2026, 11, 20), False, "month 6"),
        (worker(), D(2026, 10, 31), D(2026, 11, 4), "monthly", D(2026, 11, 30), False, "30 Nov"),
        (worker(), D(2027, 1, 31), D(2027, 2, 1), "monthly", D(2027, 2, 28), False, "end of Feb"),
        (worker(), D(2027, 1, 31), D(2027, 3, 1), "monthly", D(2027, 2, 28), True, "missed"),
        (
            worker(pauses=leave(D(2026, 5, 18), D(2026, 5, 31))),
            D(2026, 6, 15),
            D(2026, 6, 20),
            "weekly",
            D(2026, 6, 22),
            False,
            "two weeks of leave: the weekly band runs to 29 June",
        ),
        (
            worker(pauses=leave(D(2026, 7, 6), D(2026, 7, 10))),
            D(2026, 7, 1),
            D(2026, 7, 17),
            "fortnightly",
            D(2026, 7, 20),
            False,
            "five days of leave after the last supervision move it from 15 to 20 July",
        ),
        (
            worker(pauses=leave(D(2026, 7, 6), None)),
            D(2026, 7, 1),
            D(2026, 9, 1),
            "fortnightly",
            None,
            False,
            "on leave with no return date: nothing is due",
        ),
    ],
)
def test_stoke_supervision(
    w: Worker,
    last: dt.date | None,
    on: dt.date,
    frequency: str,
    due: dt.date | None,
    overdue: bool,
    why: str,
) -> None:
    result = supervision_due(BANDS, w, last, on)
    assert result is not None
    assert (result.band.frequency, result.due, result.overdue) == (frequency, due, overdue), why


CUSTOM = Supervision.model_validate(
    {
        "clause": "test",
        "summary": "Three-weekly for four weeks, six-weekly to the end of the year.",
        "bands": [
            {"until": {"weeks": 4}, "frequency": "three_weekly"},
            {"until": {"months": 12}, "frequency": "six_weekly"},
        ],
    }
)


@pytest.mark.parametrize(
    ("on", "last", "expected"),
    [
        (D(2026, 5, 31), None, ("three_weekly", D(2026, 5, 25))),
        (D(2026, 6, 1), D(2026, 5, 25), ("six_weekly", D(2026, 7, 6))),
        (D(2027, 5, 3), D(2027, 4, 1), ("six_weekly", D(2027, 5, 13))),
        (D(2027, 5, 4), D(2027, 4, 1), None),  # every band has ended
    ],
)
def test_bands_that_all_end(
    on: dt.date, last: dt.date | None, expected: tuple[str, dt.date] | None
) -> None:
    result = supervision_due(CUSTOM, worker(), last, on)
    assert (None if result is None else (result.band.frequency, result.due)) == expected


# Months of practice, for reminders the policy states as a month (adults: external cases
# identified within the first three months).


@pytest.mark.parametrize(
    ("w", "policy_id", "month", "expected"),
    [
        (worker(D(2025, 1, 6)), "adults-office-based", 3, D(2025, 4, 6)),
        (
            worker(D(2025, 1, 6), pauses=leave(D(2025, 2, 1), D(2025, 2, 10))),
            "adults-office-based",
            3,
            D(2025, 4, 16),
        ),
        (worker(D(2025, 1, 31)), "adults-office-based", 1, D(2025, 2, 28)),
        (worker(D(2025, 1, 6), fte=0.5), "stoke-childrens", 6, D(2025, 7, 6)),
        (worker(D(2025, 1, 6), pauses=leave(D(2025, 2, 1), None)), "stoke-childrens", 3, None),
    ],
)
def test_month_date(w: Worker, policy_id: str, month: int, expected: dt.date | None) -> None:
    assert month_date(w, load_preset(policy_id), month) == expected


def test_month_date_follows_a_clock_scaled_by_fte() -> None:
    scaled = parse_policy(
        "extends: stoke-childrens\nid: stoke-by-fte\nprogramme: {gates_scale_with_fte: true}\n",
        "stoke-by-fte.yaml",
        parent=preset_text,
    )
    # 12 months full time against 18 part time: month 6 after nine calendar months.
    assert month_date(worker(D(2025, 1, 6), fte=0.5), scaled, 6) == D(2025, 10, 6)


# Every record the contract accepts gets an answer, to the calendar's two ends (issue 6).


def _worker(edge: Edge) -> Worker:
    return Worker(
        asye_start=edge.asye_start,
        fte=edge.fte,
        pauses=tuple(PauseIn(p.start, p.end) for p in edge.pauses),
        reviews_passed=frozenset(edge.reviews_passed),
    )


@EVERY_POLICY
@PROPERTY
@given(data=st.data())
def test_reminders_at_the_ends_of_the_calendar(policy_id: str, data: st.DataObject) -> None:
    policy = POLICIES[policy_id].policy
    edge = data.draw(edges(POLICIES[policy_id]))
    for r in review_reminders(policy, _worker(edge), edge.on):
        assert (r.due is None) is (r.remind_on is None)
        if r.due is not None and r.remind_on is not None:
            assert is_working_day(r.remind_on)
            assert r.remind_on <= r.due
            assert r.overdue is (edge.on > r.due)


@PROPERTY
@given(data=st.data(), last=st.none() | calendar_days)
def test_supervision_at_the_ends_of_the_calendar(data: st.DataObject, last: dt.date | None) -> None:
    edge = data.draw(edges(POLICIES["stoke-childrens"]))
    due = supervision_due(BANDS, _worker(edge), last, edge.on)
    assert due is not None  # Stoke's last band never ends
    if due.due is not None:
        assert due.due > (last or edge.asye_start)
