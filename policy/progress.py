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
from policy.schema import Outcome, PolicyFile, StaffRole


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
    Empty when allowed or when no role can. Only the roles the policy names are tried."""
    if decision.outcome is Outcome.ALLOW:
        return ()
    return tuple(
        role
        for role in _named_overriders(compiled.policy)
        if decide(
            compiled,
            dataclasses.replace(
                request, override=Override(justification=_PROBE, approver_role=role)
            ),
        ).outcome
        is Outcome.ALLOW
    )


def _named_overriders(policy: PolicyFile) -> tuple[StaffRole, ...]:
    caps = [c for c in (policy.caps.children, policy.caps.points) if c is not None]
    overrides = [
        *(g.override for g in policy.gates),
        *(c.override for c in caps),
        *(p.override for c in caps for p in c.phases),
        *(limit.override for limit in policy.limits),
    ]
    named = {role for o in overrides if o is not None for role in o.by}
    return tuple(role for role in StaffRole if role in named)
