"""The working calendar: England and Wales bank holidays, working hours in London, waits.

Dates are worked by hand from the published bank holidays: Christmas Day 2026 is Friday
25 December and Boxing Day's substitute Monday 28 December; Christmas 2027 falls on a
Saturday, so Monday 27 and Tuesday 28 December 2027 are the substitutes; Easter 2027 puts
Good Friday on 26 March and Easter Monday on 29 March; the late summer bank holidays are
31 August 2026 and 30 August 2027. Clocks go forward on 29 March 2026 and 28 March 2027
and back on 25 October 2026.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy import (
    CLOSES,
    LONDON,
    OPENS,
    add_working_days,
    after_wait,
    first_working_day_from,
    is_working_day,
    next_posting_time,
)
from policy.schema import Wait

D = dt.date
UTC = dt.UTC


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A London wall-clock time, as the UTC instant it is."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


@pytest.mark.parametrize(
    ("day", "working", "why"),
    [
        (D(2026, 11, 25), True, "an ordinary Wednesday"),
        (D(2026, 11, 28), False, "Saturday"),
        (D(2026, 11, 29), False, "Sunday"),
        (D(2026, 12, 25), False, "Christmas Day, a Friday"),
        (D(2026, 12, 28), False, "Boxing Day (Saturday 26th) is moved to Monday 28th"),
        (D(2026, 12, 29), True, "the first working day after Christmas 2026"),
        (D(2027, 12, 27), False, "Christmas Day 2027 is a Saturday: substitute Monday 27th"),
        (D(2027, 12, 28), False, "Boxing Day 2027 is a Sunday: substitute Tuesday 28th"),
        (D(2027, 12, 29), True, "Wednesday after the substitutes"),
        (D(2027, 3, 26), False, "Good Friday 2027"),
        (D(2027, 3, 29), False, "Easter Monday 2027"),
        (D(2027, 3, 30), True, "the Tuesday after Easter 2027"),
        (D(2026, 5, 4), False, "early May bank holiday 2026"),
        (D(2026, 5, 25), False, "spring bank holiday 2026"),
        (D(2026, 8, 31), False, "late summer bank holiday 2026"),
        (D(2027, 8, 30), False, "late summer bank holiday 2027"),
        (D(2026, 8, 3), True, "Scotland's summer holiday, not England's"),
        (D(2026, 1, 2), True, "2 January is a bank holiday in Scotland only"),
        (D(2026, 3, 17), True, "St Patrick's Day is Northern Ireland's only"),
        (D(2026, 11, 30), True, "St Andrew's Day is Scotland's only"),
    ],
)
def test_working_days(day: dt.date, working: bool, why: str) -> None:
    assert is_working_day(day) is working, why


@pytest.mark.parametrize(
    ("day", "n", "expected", "why"),
    [
        (D(2026, 12, 24), 0, D(2026, 12, 24), "n = 0 is the day itself"),
        (D(2026, 12, 26), 0, D(2026, 12, 26), "even a Saturday"),
        (D(2026, 12, 24), 1, D(2026, 12, 29), "over Christmas, a weekend and Boxing Day moved"),
        (D(2026, 12, 26), 1, D(2026, 12, 29), "from a Saturday: Monday is Boxing Day's substitute"),
        (D(2027, 3, 25), 1, D(2027, 3, 30), "over Good Friday, a weekend and Easter Monday"),
        (D(2027, 3, 25), 2, D(2027, 3, 31), "one more"),
        (D(2026, 8, 28), 1, D(2026, 9, 1), "over the late summer bank holiday"),
        (D(2026, 11, 2), 5, D(2026, 11, 9), "a plain week"),
        (D(2026, 11, 6), 1, D(2026, 11, 9), "Friday to Monday"),
    ],
)
def test_add_working_days(day: dt.date, n: int, expected: dt.date, why: str) -> None:
    assert add_working_days(day, n) == expected, why


def test_no_negative_working_days() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_days(D(2026, 11, 2), -1)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2026, 11, 25), D(2026, 11, 25)),
        (D(2026, 12, 25), D(2026, 12, 29)),
        (D(2027, 3, 26), D(2027, 3, 30)),
    ],
)
def test_first_working_day_from(day: dt.date, expected: dt.date) -> None:
    assert first_working_day_from(day) == expected


@pytest.mark.parametrize(
    ("at", "expected", "why"),
    [
        (utc(2026, 11, 25, 10), utc(2026, 11, 25, 10), "in hours in winter: UTC is London"),
        (utc(2026, 11, 25, 8, 59), utc(2026, 11, 25, 9), "before opening: 09:00 the same day"),
        (utc(2026, 11, 25, 17, 59, 59), utc(2026, 11, 25, 17, 59, 59), "the last second open"),
        (utc(2026, 11, 25, 18), utc(2026, 11, 26, 9), "18:00 is closed: the next morning"),
        (utc(2026, 7, 1, 8, 30), utc(2026, 7, 1, 8, 30), "08:30 UTC is 09:30 BST: open"),
        (utc(2026, 7, 1, 17, 30), utc(2026, 7, 2, 8), "17:30 UTC is 18:30 BST: closed"),
        (utc(2026, 7, 5, 23, 30), utc(2026, 7, 6, 8), "Sunday 23:30 UTC is Monday in London"),
        (utc(2026, 3, 27, 18, 30), utc(2026, 3, 30, 8), "Friday night GMT to Monday 09:00 BST"),
        (utc(2026, 10, 23, 17, 30), utc(2026, 10, 26, 9), "Friday night BST to Monday GMT"),
        (utc(2026, 10, 25, 8, 30), utc(2026, 10, 26, 9), "the Sunday the clocks go back"),
        (utc(2027, 3, 27, 12), utc(2027, 3, 30, 8), "Easter 2027 and BST from the 28th"),
        (utc(2026, 12, 24, 18), utc(2026, 12, 29, 9), "Christmas Eve evening to the 29th"),
        (utc(2026, 8, 29, 10), utc(2026, 9, 1, 8), "over the late summer bank holiday"),
    ],
)
def test_next_posting_time(at: dt.datetime, expected: dt.datetime, why: str) -> None:
    assert next_posting_time(at) == expected, why


def test_posting_time_is_utc_whatever_zone_it_was_given_in() -> None:
    at = dt.datetime(2026, 11, 25, 21, tzinfo=dt.timezone(dt.timedelta(hours=5)))  # 16:00 UTC
    posted = next_posting_time(at)
    assert posted == utc(2026, 11, 25, 16)
    assert posted.utcoffset() == dt.timedelta(0)


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        next_posting_time(dt.datetime(2026, 11, 25, 10))


@pytest.mark.parametrize(
    ("start", "wait", "expected", "why"),
    [
        (
            london(2026, 11, 6, 22, 30),
            Wait(calendar_days=14),
            london(2026, 11, 23, 9),
            "Friday 22:30 plus two weeks is Friday night: Monday 09:00",
        ),
        (
            london(2026, 12, 11, 22, 30),
            Wait(calendar_days=14),
            london(2026, 12, 29, 9),
            "two weeks lands on Christmas night; Boxing Day is moved to Monday",
        ),
        (
            london(2026, 11, 14, 12),
            Wait(calendar_days=14),
            london(2026, 11, 30, 9),
            "Saturday noon plus two weeks is a Saturday: Monday 09:00",
        ),
        (
            london(2026, 3, 16, 10),
            Wait(calendar_days=14),
            london(2026, 3, 30, 10),
            "10:00 GMT to 10:00 BST: the wall clock is kept, 335 hours later",
        ),
        (
            london(2026, 10, 19, 10),
            Wait(calendar_days=14),
            london(2026, 11, 2, 10),
            "10:00 BST to 10:00 GMT, 337 hours later",
        ),
        (
            london(2026, 11, 3, 7),
            Wait(calendar_days=1),
            london(2026, 11, 4, 9),
            "an early start: the next day at opening",
        ),
        (
            london(2026, 11, 4, 14),
            Wait(calendar_days=0),
            london(2026, 11, 4, 14),
            "at once, in hours",
        ),
        (
            london(2026, 12, 24, 17),
            Wait(working_days=1),
            london(2026, 12, 29, 17),
            "one working day from Christmas Eve is the 29th, same time",
        ),
        (
            london(2027, 3, 27, 11),
            Wait(working_days=0),
            london(2027, 3, 30, 9),
            "opened on Easter Saturday: counted from Tuesday's opening",
        ),
        (
            london(2027, 3, 27, 11),
            Wait(working_days=1),
            london(2027, 3, 31, 9),
            "and one working day after that",
        ),
        (
            london(2026, 8, 28, 19),
            Wait(working_days=2),
            london(2026, 9, 3, 9),
            "Friday evening before the bank holiday: the clock starts Tuesday 09:00",
        ),
        (
            london(2026, 11, 2, 10),
            Wait(working_days=5),
            london(2026, 11, 9, 10),
            "five working days is a week in an ordinary week",
        ),
        (
            london(2026, 11, 4, 11),
            Wait(working_days=0),
            london(2026, 11, 4, 11),
            "at once on a Wednesday morning",
        ),
    ],
)
def test_after_wait(start: dt.datetime, wait: Wait, expected: dt.datetime, why: str) -> None:
    assert after_wait(start, wait) == expected, why


# Properties, over 2020-2035: every clock change and bank holiday of those years.
instants = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 12, 31), timezones=st.just(UTC)
)
days = st.dates(min_value=D(2020, 1, 1), max_value=D(2035, 12, 31))
counts = st.integers(min_value=0, max_value=40)


def _open(at: dt.datetime) -> bool:
    local = at.astimezone(LONDON)
    return is_working_day(local.date()) and OPENS <= local.time() < CLOSES


@given(instants)
def test_a_posting_time_is_in_working_hours_and_never_early(at: dt.datetime) -> None:
    posted = next_posting_time(at)
    assert _open(posted)
    assert posted >= at
    assert (posted == at) is _open(at)
    if posted != at:
        assert posted.astimezone(LONDON).time() == OPENS
    assert next_posting_time(posted) == posted


@given(days, counts, counts)
def test_adding_working_days_is_monotonic(day: dt.date, n: int, m: int) -> None:
    low, high = sorted((n, m))
    assert add_working_days(day, low) <= add_working_days(day, high)
    later = day + dt.timedelta(days=m)
    assert add_working_days(day, n) <= add_working_days(later, n)


@given(days, st.integers(min_value=1, max_value=40))
def test_n_working_days_are_counted_exactly(day: dt.date, n: int) -> None:
    end = add_working_days(day, n)
    between = (day + dt.timedelta(days=i) for i in range(1, (end - day).days + 1))
    assert is_working_day(end)
    assert sum(is_working_day(d) for d in between) == n


@given(instants, counts)
def test_a_working_day_wait_lands_in_working_hours(start: dt.datetime, n: int) -> None:
    due = after_wait(start, Wait(working_days=n))
    local = due.astimezone(LONDON)
    assert local.weekday() < 5
    assert _open(due)
    assert due >= start
    assert after_wait(start, Wait(working_days=n + 1)) > due


@given(instants, counts)
def test_a_calendar_day_wait_is_never_early(start: dt.datetime, n: int) -> None:
    due = after_wait(start, Wait(calendar_days=n))
    assert _open(due)
    assert due.astimezone(LONDON).date() >= start.astimezone(LONDON).date() + dt.timedelta(n)
    # A day across a clock change is 23 hours long: never more than an hour short.
    assert due >= start + dt.timedelta(days=n, hours=-1)
