"""What falls due for one NQSW, and when: escalation steps, review reminders, supervision.

Pure: the caller says what happened (when a breach opened, which reviews passed, when
supervision last took place) and what day it is; these functions say what is due. Dates
move with recorded leave as the ASYE clock does (`policy.clock`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from policy.calendar import after_wait, first_working_day_from
from policy.clock import add_months, clock_rate, date_of_month, moved_by_leave
from policy.requests import Worker
from policy.schema import (
    Escalation,
    PolicyFile,
    Programme,
    StaffRole,
    Supervision,
    SupervisionBand,
)


@dataclass(frozen=True, slots=True)
class StepDue:
    step: int
    notify: tuple[StaffRole, ...]
    clause: str
    due_at: dt.datetime
    """UTC, within working hours on a working day."""


def ladder_due(opened_at: dt.datetime, escalation: Escalation) -> tuple[StepDue, ...]:
    """When each step of the ladder goes out for a breach opened at `opened_at` (aware).

    Every wait is measured from the opening, not from the step before: "to the PCFSW if
    unresolved after two weeks" means two weeks after the breach was reported. The caller
    posts a step once its time has come and the breach is still open.
    """
    return tuple(
        StepDue(s.step, s.notify, s.clause, after_wait(opened_at, s.wait))
        for s in escalation.ladder
    )


def programme_months(programme: Programme, fte: float) -> int:
    """How long this worker's ASYE lasts, in months of their clock."""
    if fte >= 1.0 or programme.gates_scale_with_fte:
        length = programme.months_full_time
    else:
        length = programme.months_part_time or round(programme.months_full_time / fte)
    if programme.max_months is not None:
        length = min(length, programme.max_months)
    return length


def month_date(worker: Worker, policy: PolicyFile, month: float) -> dt.date | None:
    """The date the worker reaches month `month` of practice on the policy's clock; None
    while on leave with no return date, or past the calendar."""
    rate = clock_rate(policy.programme, worker.fte)
    return date_of_month(month, worker.asye_start, worker.clock_pauses(), rate)


@dataclass(frozen=True, slots=True)
class ReviewDue:
    month: int
    due: dt.date | None
    """None while the worker is on leave with no return date, or past the calendar."""


def reviews_due(policy: PolicyFile, worker: Worker) -> tuple[ReviewDue, ...]:
    """The reviews of the worker's schedule not yet passed, earliest first.

    A part-time worker is reviewed every `part_time_every_months` through their longer
    programme when the policy says so (Stoke: three-monthly), else on the full-time months.
    """
    reviews = policy.reviews
    if reviews is None:
        return ()
    every = reviews.part_time_every_months
    schedule: Iterable[int] = reviews.months
    if worker.fte < 1.0 and every is not None:
        schedule = range(every, programme_months(policy.programme, worker.fte) + 1, every)
    pending = sorted(set(schedule) - worker.reviews_passed)
    return tuple(ReviewDue(m, month_date(worker, policy, m)) for m in pending)


REMIND_DAYS_BEFORE = 14


@dataclass(frozen=True, slots=True)
class ReviewReminder:
    month: int
    due: dt.date | None
    remind_on: dt.date | None
    """Two weeks before `due`, or the next working day after that: time to book the
    meeting with the NQSW, the manager and the assessor."""
    overdue: bool
    """`due` has passed without the review being recorded."""


def review_reminders(policy: PolicyFile, worker: Worker, on: dt.date) -> tuple[ReviewReminder, ...]:
    """Every review not yet passed, with when to remind and whether it is overdue on `on`."""
    return tuple(
        ReviewReminder(
            r.month,
            r.due,
            _reminder_day(r.due),
            r.due is not None and on > r.due,
        )
        for r in reviews_due(policy, worker)
    )


def _reminder_day(due: dt.date | None) -> dt.date | None:
    if due is None:
        return None
    # Compared as day numbers: a review due in the calendar's first fortnight has no
    # date two weeks earlier; remind on the first day there is.
    earlier = max(due.toordinal() - REMIND_DAYS_BEFORE, 1)
    return first_working_day_from(dt.date.fromordinal(earlier))


_INTERVAL_DAYS = {"weekly": 7, "fortnightly": 14, "three_weekly": 21, "six_weekly": 42}
"""Monthly is by calendar month, not days: the same day of the next month."""


@dataclass(frozen=True, slots=True)
class SupervisionDue:
    band: SupervisionBand
    """The band in force on the day asked about."""
    due: dt.date | None
    """The next supervision is due by this date; None while on leave with no return date,
    or past the calendar."""
    overdue: bool


def supervision_due(
    supervision: Supervision, worker: Worker, last: dt.date | None, on: dt.date
) -> SupervisionDue | None:
    """The band in force on `on` and when the next supervision is due after `last` (None:
    none recorded yet, so counted from the ASYE start).

    Bands are measured from the ASYE start in weeks or calendar months of practice, later
    by recorded leave; they are not scaled by FTE (weekly means every calendar week). The
    interval is the band's in force on `on`: bands only grow further apart, so a date asked
    early may move later once a band ends, never earlier. Leave after `last` moves the due
    date too: no supervision falls due while the worker is away. None when every band has
    an end and all have ended.
    """
    band = _band_in_force(supervision, worker, on)
    if band is None:
        return None
    since = last or worker.asye_start
    if band.frequency == "monthly":
        target = add_months(since, 1)
    else:
        target = since.toordinal() + _INTERVAL_DAYS[band.frequency]
    due = moved_by_leave(target, since, worker.clock_pauses())
    return SupervisionDue(band, due, due is not None and on > due)


def _band_in_force(supervision: Supervision, worker: Worker, on: dt.date) -> SupervisionBand | None:
    pauses = worker.clock_pauses()
    start = worker.asye_start
    for band in supervision.bands:
        if band.until is None:
            return band
        if band.until.weeks is not None:
            ends = moved_by_leave(start.toordinal() + 7 * band.until.weeks, start, pauses)
        else:
            ends = date_of_month(band.until.months or 0, start, pauses, 1.0)
        # An end not yet knowable (leave with no return date) has not come.
        if ends is None or on < ends:
            return band
    return None
