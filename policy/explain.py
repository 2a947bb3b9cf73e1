"""A whole policy as a table by phase, computed by asking the engine itself.

Each phase begins at a milestone the policy names (month N of practice, or the month-N
review); the table shows what an NQSW who has reached that point (with every review
due by then passed, and no agreements) may hold, so the table cannot drift from the rules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from policy.clock import date_of_month
from policy.engine import CompiledPolicy, entitlements
from policy.requests import CaseloadRequest, Worker
from policy.schema import Outcome, PolicyFile, Requirement

_START = dt.date(2025, 1, 6)


@dataclass(frozen=True, slots=True)
class PhaseColumn:
    label: str
    months: float


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    cells: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    title: str
    phases: tuple[PhaseColumn, ...]
    rows: tuple[Row, ...]
    rules: tuple[tuple[str, str, str, str], ...]
    """(rule id, clause, summary, who may override)."""
    schedules: tuple[str, ...]


def explain(compiled: CompiledPolicy) -> Explanation:
    policy = compiled.policy
    starts = sorted({0.0, *(_milestone_months(policy))})
    phases = tuple(
        PhaseColumn(_label(m, starts[i + 1] if i + 1 < len(starts) else None), m)
        for i, m in enumerate(starts)
    )
    reviews = sorted(_review_months(policy))
    answers = []
    for phase in phases:
        on = date_of_month(phase.months, _START, (), 1.0) or _START
        worker = Worker(
            asye_start=_START, reviews_passed=frozenset(r for r in reviews if r <= phase.months)
        )
        answers.append(entitlements(compiled, CaseloadRequest(on=on, worker=worker)))

    rows: list[Row] = []
    for index, row in enumerate(answers[0].work_types):
        name = compiled.names.get(row.work_type, row.work_type)
        label = name + "".join(f" ({compiled.names.get(f, f)})" for f in row.flags)
        rows.append(
            Row(
                label,
                tuple(
                    _cell(a.work_types[index].lead, a.work_types[index].co_work) for a in answers
                ),
            )
        )
    for unit in ("children", "points"):
        caps = [getattr(a.caseload, f"{unit}_cap") for a in answers]
        if any(c is not None for c in caps) or (getattr(policy.caps, unit) is not None):
            rows.append(
                Row(f"Cap ({unit})", tuple("not set" if c is None else f"{c:g}" for c in caps))
            )

    rules = [
        (g.id, g.clause, g.summary, _overriders(g.override.by if g.override else ()))
        for g in policy.gates
    ]
    for cap in (policy.caps.children, policy.caps.points):
        if cap is not None:
            rules.append(
                (
                    cap.id,
                    cap.clause,
                    cap.summary,
                    _overriders(cap.override.by if cap.override else ()),
                )
            )
    rules += [
        (lim.id, lim.clause, lim.summary, _overriders(lim.override.by if lim.override else ()))
        for lim in policy.limits
    ]
    return Explanation(
        title=f"{policy.name} ({policy.id} version {policy.version}, in force from {policy.effective_from})",
        phases=phases,
        rows=tuple(rows),
        rules=tuple(rules),
        schedules=tuple(_schedules(policy)),
    )


def _cell(lead: Outcome, co_work: Outcome) -> str:
    if lead is Outcome.ALLOW:
        return "lead"
    if lead is Outcome.CO_WORK or co_work is Outcome.ALLOW:
        return "co-work only"
    return "no"


def _label(start: float, end: float | None) -> str:
    return f"months {start:g}+" if end is None else f"months {start:g}-{end:g}"


def _walk(req: Requirement | None) -> list[Requirement]:
    if req is None:
        return []
    return [req, *(sub for r in (req.all or ()) + (req.any or ()) for sub in _walk(r))]


def _requirements(policy: PolicyFile) -> list[Requirement]:
    reqs = [r for g in policy.gates for top in (g.lead, g.co_work) for r in _walk(top)]
    for cap in (policy.caps.children, policy.caps.points):
        if cap is not None:
            reqs += [r for phase in cap.phases for r in _walk(phase.from_)]
    return reqs


def _milestone_months(policy: PolicyFile) -> set[float]:
    out: set[float] = set()
    for r in _requirements(policy):
        if r.months is not None:
            out.add(r.months)
        if r.review is not None:
            out.add(float(r.review))
    return out


def _review_months(policy: PolicyFile) -> set[int]:
    found = {r.review for r in _requirements(policy) if r.review is not None}
    return found | set(policy.reviews.months if policy.reviews else ())


def _overriders(roles: tuple[object, ...]) -> str:
    return ", ".join(str(getattr(r, "value", r)).replace("_", " ") for r in roles) or "nobody"


def _schedules(policy: PolicyFile) -> list[str]:
    out: list[str] = []
    if policy.reviews:
        months = ", ".join(str(m) for m in policy.reviews.months)
        out.append(f"Reviews at months {months} ({policy.reviews.clause})")
    if policy.supervision:
        out.append(f"Supervision: {policy.supervision.summary} ({policy.supervision.clause})")
    if policy.escalation:
        for step in policy.escalation.ladder:
            wait = (
                f"{step.wait.working_days} working days"
                if step.wait.working_days is not None
                else f"{step.wait.calendar_days} calendar days"
            )
            roles = ", ".join(r.value.replace("_", " ") for r in step.notify)
            out.append(f"Escalation step {step.step}: after {wait}, notify {roles} ({step.clause})")
    p = policy.programme
    length = f"{p.months_full_time} months full time"
    if p.months_part_time:
        length += f", {p.months_part_time} part time"
    if p.max_months:
        length += f", never beyond {p.max_months} months"
    out.append(f"Programme: {length}")
    return out
