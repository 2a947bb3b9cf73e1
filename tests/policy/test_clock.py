"""The ASYE clock: calendar months, paused by leave, slowed for part-timers where the policy says."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from policy.clock import (
    Pause,
    calendar_months,
    clock_rate,
    date_of_month,
    merge_pauses,
    months_of_practice,
)
from policy.schema import Programme

D = dt.date


def test_whole_months_are_calendar_months() -> None:
    assert calendar_months(D(2025, 1, 6), D(2025, 7, 6)) == 6.0
    assert calendar_months(D(2025, 1, 6), D(2025, 7, 5)) < 6.0


def test_month_end_starts_clip_as_dateutil_does() -> None:
    # 31 January plus one month is 28 February.
    assert calendar_months(D(2025, 1, 31), D(2025, 2, 28)) == 1.0
    # A leap-day start completes its year on 28 February.
    assert calendar_months(D(2024, 2, 29), D(2025, 2, 28)) == 12.0


def test_leave_stops_the_clock() -> None:
    start = D(2025, 1, 6)
    leave = (Pause(D(2025, 3, 1), D(2025, 3, 31)),)  # 31 days
    assert months_of_practice(D(2025, 8, 6), start, leave, 1.0) < 7.0
    assert date_of_month(6, start, leave, 1.0) == D(2025, 8, 6)
    assert months_of_practice(D(2025, 8, 6), start, leave, 1.0) == 6.0


def test_leave_after_the_milestone_does_not_move_it() -> None:
    start = D(2025, 1, 6)
    assert date_of_month(3, start, (Pause(D(2025, 9, 1), D(2025, 9, 30)),), 1.0) == D(2025, 4, 6)


def test_open_ended_leave_makes_the_date_unknown() -> None:
    start = D(2025, 1, 6)
    assert date_of_month(6, start, (Pause(D(2025, 3, 1), None),), 1.0) is None
    # ...and the clock stands still while it lasts.
    on_leave = (Pause(D(2025, 3, 1), None),)
    assert months_of_practice(D(2025, 3, 1), start, on_leave, 1.0) == months_of_practice(
        D(2025, 9, 1), start, on_leave, 1.0
    )


def test_part_time_clock_follows_the_programme_length() -> None:
    scaled = Programme(months_full_time=12, months_part_time=18, gates_scale_with_fte=True)
    assert clock_rate(scaled, 0.6) == 12 / 18
    assert clock_rate(scaled, 1.0) == 1.0
    assert clock_rate(Programme(gates_scale_with_fte=True), 0.5) == 0.5
    assert clock_rate(Programme(months_part_time=18), 0.6) == 1.0
    start = D(2025, 1, 6)
    assert months_of_practice(D(2025, 10, 6), start, (), 12 / 18) == 6.0
    assert date_of_month(6, start, (), 12 / 18) == D(2025, 10, 6)


starts = st.dates(min_value=D(2020, 1, 1), max_value=D(2030, 12, 31))
pauses = st.lists(st.tuples(st.integers(0, 700), st.integers(0, 120)), max_size=3).map(
    lambda spans: spans
)


@given(start=starts, months=st.integers(1, 24), spans=pauses)
def test_date_of_month_is_the_first_day_the_clock_shows_that_month(
    start: dt.date, months: int, spans: list[tuple[int, int]]
) -> None:
    leave = tuple(
        Pause(start + dt.timedelta(days=offset), start + dt.timedelta(days=offset + length))
        for offset, length in spans
    )
    day = date_of_month(months, start, leave, 1.0)
    assert day is not None
    assert months_of_practice(day, start, leave, 1.0) >= months
    if not any(p.start <= day - dt.timedelta(days=1) <= (p.end or day) for p in leave):
        assert months_of_practice(day - dt.timedelta(days=1), start, leave, 1.0) < months


def test_overlapping_leave_stops_the_clock_once() -> None:
    start = D(2026, 1, 5)
    overlapping = (Pause(D(2026, 3, 1), D(2026, 3, 31)), Pause(D(2026, 3, 15), D(2026, 4, 15)))
    as_one = (Pause(D(2026, 3, 1), D(2026, 4, 15)),)
    for day in (D(2026, 3, 20), D(2026, 3, 25), D(2026, 9, 1)):
        assert months_of_practice(day, start, overlapping, 1.0) == months_of_practice(
            day, start, as_one, 1.0
        )
    assert date_of_month(6, start, overlapping, 1.0) == date_of_month(6, start, as_one, 1.0)
    assert merge_pauses(overlapping) == as_one
    # A pause with no end absorbs every later one.
    assert merge_pauses((Pause(D(2026, 3, 1), None), Pause(D(2026, 5, 1), D(2026, 5, 9)))) == (
        Pause(D(2026, 3, 1), None),
    )


@given(
    start=starts,
    spans=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 90)), max_size=4),
    days=st.integers(0, 700),
)
def test_the_clock_never_runs_backwards(
    start: dt.date, spans: list[tuple[int, int]], days: int
) -> None:
    leave = tuple(
        Pause(start + dt.timedelta(days=o), start + dt.timedelta(days=o + n)) for o, n in spans
    )
    today = start + dt.timedelta(days=days)
    assert months_of_practice(
        today + dt.timedelta(days=1), start, leave, 1.0
    ) >= months_of_practice(today, start, leave, 1.0)
