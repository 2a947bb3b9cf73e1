"""The ASYE clock: months of practice from the start date, paused by recorded leave.

Calendar months, not 30-day blocks: month N is reached on the same day of the month N
calendar months after the start (clipped to the month's end, as dateutil does), moved
later by every paused day before it. Part-time workers' clocks run slower when the
policy scales its gates with FTE.
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


@lru_cache(maxsize=4096)
def _add_months(start: dt.date, months: int) -> dt.date:
    return start + relativedelta(months=months)


def merge_pauses(pauses: tuple[Pause, ...]) -> tuple[Pause, ...]:
    """Overlapping or adjoining leave as one pause each, in date order: a day of leave
    stops the clock once, however many records cover it."""
    if len(pauses) < 2:
        return pauses
    merged: list[Pause] = []
    for pause in sorted(pauses, key=lambda p: p.start):
        last = merged[-1] if merged else None
        if last is not None and (
            last.end is None or pause.start <= last.end + dt.timedelta(days=1)
        ):
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
    whole = (on.year - start.year) * 12 + (on.month - start.month)
    while whole > 0 and _add_months(start, whole) > on:
        whole -= 1
    lower = _add_months(start, whole)
    upper = _add_months(start, whole + 1)
    return whole + (on - lower).days / (upper - lower).days


def months_of_practice(
    on: dt.date, asye_start: dt.date, pauses: tuple[Pause, ...], rate: float
) -> float:
    practice_day = on - dt.timedelta(days=paused_days(pauses, asye_start, on))
    return calendar_months(asye_start, practice_day) * rate


def date_of_month(
    months: float, asye_start: dt.date, pauses: tuple[Pause, ...], rate: float
) -> dt.date | None:
    """The calendar date on which the worker reaches `months` of practice.

    Recorded leave pushes the date later; leave not yet recorded cannot be foreseen, and
    while the worker is on leave with no return date the answer is unknown (None).
    """
    calendar = months / rate
    whole = int(calendar)
    lower = _add_months(asye_start, whole)
    fraction = calendar - whole
    target = lower
    if fraction > 0:
        upper = _add_months(asye_start, whole + 1)
        target = lower + dt.timedelta(days=round((upper - lower).days * fraction))
    for pause in merge_pauses(pauses):
        if pause.start <= target:
            if pause.end is None:
                return None
            first = max(pause.start, asye_start)
            if pause.end >= first:
                target += dt.timedelta(days=(pause.end - first).days + 1)
    return target
