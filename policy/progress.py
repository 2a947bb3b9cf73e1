"""Where an NQSW stands in their year, and who could set a refusal aside: the facts a
person asks of chat beside the decision itself."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from policy.clock import clock_rate, months_of_practice, paused_days
from policy.engine import CompiledPolicy, Decision, decide
from policy.requests import DecisionRequest, Override, Worker
from policy.schedules import ReviewDue, programme_months, reviews_due
from policy.schema import Outcome, StaffRole


@dataclass(frozen=True, slots=True)
class Progress:
    month_of_practice: float
    programme_months: int
    """How long this worker's ASYE lasts, in the months `month_of_practice` counts."""
    asye_start: dt.date
    days_paused: int
    """Days of recorded leave up to today that stopped the clock."""
    next_review: ReviewDue | None
    """The first review of the policy's schedule not yet passed (it may be overdue)."""


def progress(compiled: CompiledPolicy, on: dt.date, worker: Worker) -> Progress:
    policy = compiled.policy
    rate = clock_rate(policy.programme, worker.fte)
    pauses = worker.clock_pauses()
    pending = reviews_due(policy, worker)
    return Progress(
        month_of_practice=round(months_of_practice(on, worker.asye_start, pauses, rate), 2),
        programme_months=programme_months(policy.programme, worker.fte),
        asye_start=worker.asye_start,
        days_paused=paused_days(pauses, worker.asye_start, on) if on >= worker.asye_start else 0,
        next_review=pending[0] if pending else None,
    )


_PROBE = "who could approve an exception to this decision"


def override_roles(
    compiled: CompiledPolicy, request: DecisionRequest, decision: Decision
) -> tuple[StaffRole, ...]:
    """The roles whose approval would turn `decision` (the answer to `request` without an
    override) into an allocation: every blocking rule must be overridable by the same role.
    Empty when allowed or when no role can. Only a role that some override of every
    blocking rule names is tried (an override changes no rule's own effect, only whether it
    blocks), and `decide` has the last word on it."""
    if decision.outcome is Outcome.ALLOW:
        return ()
    blocking = [
        compiled.may_override.get(r.rule, frozenset())
        for r in decision.reasons
        if r.effect is not Outcome.ALLOW
    ]
    return tuple(
        role
        for role in compiled.overriders
        if all(role in by for by in blocking)
        and decide(
            compiled,
            dataclasses.replace(
                request, override=Override(justification=_PROBE, approver_role=role)
            ),
        ).outcome
        is Outcome.ALLOW
    )
