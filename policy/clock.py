"""The ASYE clock: months of practice from the start date, paused by recorded leave.

Calendar months, not 30-day blocks: month N is reached on the same day of the month N
calendar months after the start (clipped to the month's end, as dateutil does), moved
later by every paused day before it. Part-time workers' clocks run slower when the
policy scales its gates with FTE.

Any date the contract accepts (0001-01-01 to 9999-12-31) must give an answer, not an
OverflowError: the arithmetic is on day numbers (`date.toordinal()`), which go on past
9999-12-31, and a milestone that falls after it is beyond the calendar, so unknown (None).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

from dateutil.relativedelta import relativedelta

from policy.schema import Programme


@dataclass(frozen=True, slots=True)
class Pause:
    """Leave that stops the clock, inclusive of both dates; `to` None means still on leave."""

    start: dt.date
    end: dt.date | None = None


_LAST_DAY = dt.date.max.toordinal()
_CALENDAR_MONTHS = 9999 * 12
"""No start in the calendar plus this many months is still in it."""
_MONTHS_IN_400_YEARS, _DAYS_IN_400_YEARS = 4800, 146_097
"""The Gregorian calendar repeats every 400 years, to the day."""


@lru_cache(maxsize=4096)
def add_months(start: dt.date, months: int) -> int:
    """The day number of `start` plus `months` calendar months, as dateutil counts them.

    Past 9999-12-31, where a `date` cannot go, dateutil finds the same day of the month
    whole 400-year cycles earlier and the cycles' days are added back.
    """
    year = start.year + (start.month - 1 + months) // 12
    cycles = max(0, -((9999 - year) // 400))  # the fewest that bring the year to 9999 or before
    earlier = start + relativedelta(months=months - cycles * _MONTHS_IN_400_YEARS)
    return earlier.toordinal() + cycles * _DAYS_IN_400_YEARS


def merge_pauses(pauses: tuple[Pause, ...]) -> tuple[Pause, ...]:
    """Overlapping or adjoining leave as one pause each, in date order: a day of leave
    stops the clock once, however many records cover it."""
    if len(pauses) < 2:
        return pauses
    merged: list[Pause] = []
    for pause in sorted(pauses, key=lambda p: p.start):
        last = merged[-1] if merged else None
        # Compared by difference: the day after a pause ending 9999-12-31 is no date.
        if last is not None and (last.end is None or (pause.start - last.end).days <= 1):
            end = None if last.end is None or pause.end is None else max(last.end, pause.end)
            merged[-1] = Pause(last.start, end)
        else:
            merged.append(pause)
    return tuple(merged)


def paused_days(pauses: tuple[Pause, ...], asye_start: dt.date, on: dt.date) -> int:
    """Days of leave between the start and `on` (inclusive) that do not count as practice."""
    total = 0
    for pause in merge_pauses(pauses):
        first = max(pause.start, asye_start)
        last = min(pause.end or on, on)
        if last >= first:
            total += (last - first).days + 1
    return total


def clock_rate(programme: Programme, fte: float) -> float:
    """How many policy months one calendar month of practice is worth for this worker."""
    if fte >= 1.0 or not programme.gates_scale_with_fte:
        return 1.0
    if programme.months_part_time is not None:
        return programme.months_full_time / programme.months_part_time
    return fte


def calendar_months(start: dt.date, on: dt.date) -> float:
    """Whole calendar months from `start` to `on`, plus the fraction of the month under way."""
    if on <= start:
        return 0.0
    day = on.toordinal()
    whole = (on.year - start.year) * 12 + (on.month - start.month)
    while whole > 0 and add_months(start, whole) > day:
        whole -= 1
    lower = add_months(start, whole)
    return whole + (day - lower) / (add_months(start, whole + 1) - lower)


def months_of_practice(
    on: dt.date, asye_start: dt.date, pauses: tuple[Pause, ...], rate: float
) -> float:
    paused = paused_days(pauses, asye_start, on)
    # Leave on every day since the start: no practice yet, and stepping back from `on` could
    # leave the calendar (a start of 0001-01-01). Tested only when there was leave at all.
    if paused and paused > (on - asye_start).days:
        return 0.0
    return calendar_months(asye_start, on - dt.timedelta(days=paused)) * rate


def date_of_month(
    months: float, asye_start: dt.date, pauses: tuple[Pause, ...], rate: float
) -> dt.date | None:
    """The calendar date on which the worker reaches `months` of practice.

    Recorded leave pushes the date later; leave not yet recorded cannot be foreseen, and
    while the worker is on leave with no return date the answer is unknown (None), as is
    a date after 9999-12-31 (leave "to 9999-12-31" is how some systems say "no return date").
    """
    calendar = months / rate
    if calendar >= _CALENDAR_MONTHS:  # also keeps int() off the infinity a tiny fte gives
        return None
    whole = int(calendar)
    target = add_months(asye_start, whole)
    fraction = calendar - whole
    if fraction > 0:
        target += round((add_months(asye_start, whole + 1) - target) * fraction)
    return moved_by_leave(target, asye_start, pauses)


def moved_by_leave(target: int, since: dt.date, pauses: tuple[Pause, ...]) -> dt.date | None:
    """Day number `target`, reached by practice counted from `since`, as a calendar date:
    later by every day of recorded leave from `since` on. None while on leave with no
    return date, or past the calendar."""
    for pause in merge_pauses(pauses):
        if pause.start.toordinal() <= target:
            if pause.end is None:
                return None
            first = max(pause.start, since)
            if pause.end >= first:
                target += (pause.end - first).days + 1
    return dt.date.fromordinal(target) if target <= _LAST_DAY else None
