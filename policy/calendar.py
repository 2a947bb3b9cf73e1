"""The working calendar: when a council's office is open to be told something.

Dates are Europe/London calendar dates and timestamps timezone-aware UTC datetimes, as
everywhere in the product. Working days are Monday to Friday except the bank holidays of
England and Wales (the `holidays` package's, which knows them to 2100; later years have
weekends only). Messages are posted from 09:00 to 18:00 London time on working days, so
that nobody is paged at night or on Christmas Day about a caseload.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from policy.schema import Wait

LONDON = ZoneInfo("Europe/London")
OPENS = dt.time(9)
CLOSES = dt.time(18)
"""Working hours are [OPENS, CLOSES): a message due at 18:00 waits for the next morning."""


@lru_cache(maxsize=256)
def _bank_holidays(year: int) -> frozenset[dt.date]:
    """One year's England and Wales bank holidays, substitute days included; frozen so the
    cached set is safe to share (the package's own dict fills itself in on lookup)."""
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def first_working_day_from(day: dt.date) -> dt.date:
    """`day` if it is a working day, else the next one."""
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The n-th working day after `day`; n = 0 is `day` itself, working day or not."""
    if n < 0:
        raise ValueError(f"n must not be negative (got {n})")
    for _ in range(n):
        day = first_working_day_from(day + dt.timedelta(days=1))
    return day


def _london(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} has no time zone; timestamps are aware UTC datetimes")
    return at.astimezone(LONDON)


def _opening(day: dt.date) -> dt.datetime:
    """09:00 London on `day`, in UTC (09:00 is never inside a clock change, which happen at
    01:00 and 02:00)."""
    return dt.datetime.combine(day, OPENS, tzinfo=LONDON).astimezone(dt.UTC)


def next_posting_time(at: dt.datetime) -> dt.datetime:
    """`at` (in UTC) if it falls in working hours on a working day in London, else 09:00 on
    the next working day. The London date decides: 23:30 UTC on a summer Sunday is already
    Monday 00:30 in London, so the answer is 09:00 that Monday."""
    local = _london(at)
    day = local.date()
    if is_working_day(day):
        if OPENS <= local.time() < CLOSES:
            return at.astimezone(dt.UTC)
        if local.time() < OPENS:
            return _opening(day)
    return _opening(first_working_day_from(day + dt.timedelta(days=1)))


def after_wait(start: dt.datetime, wait: Wait) -> dt.datetime:
    """When a step that waits `wait` after `start` may be posted, in UTC.

    Calendar days: the same London wall-clock time that many days later (a day across a
    clock change is 23 or 25 hours). Working days: the clock starts when the office is
    next open (`next_posting_time(start)`; a breach opened on Saturday counts from Monday
    09:00), then that many working days later at the same wall-clock time. Either way the
    moment goes through `next_posting_time`, so nothing is posted out of hours.
    """
    if wait.calendar_days is not None:
        local = _london(start)
        due = local.date() + dt.timedelta(days=wait.calendar_days)
    else:
        local = next_posting_time(start).astimezone(LONDON)
        due = add_working_days(local.date(), wait.working_days or 0)
    # A wall-clock time inside the spring gap (01:00-02:00) reads as GMT; it is out of
    # hours anyway, so next_posting_time moves it to 09:00.
    moment = dt.datetime.combine(due, local.time(), tzinfo=LONDON)
    return next_posting_time(moment.astimezone(dt.UTC))
