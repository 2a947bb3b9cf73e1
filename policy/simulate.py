"""What if another policy were in force: one NQSW's caseload judged under the policy in
force and under a proposed one, and what would change.

Policies name their own vocabularies. A flag or agreement the proposed policy does not
name cannot matter to any of its rules, so it is set aside (and said so); a case of a work
type it does not name cannot be judged at all, so the NQSW is reported as undecided rather
than guessed at.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import StrEnum

from policy.engine import Breach, Capacity, CompiledPolicy, breaches, entitlements
from policy.requests import Caseload, CaseloadRequest


class Movement(StrEnum):
    INTO = "into_breach"
    OUT = "out_of_breach"
    CHANGED = "changed"
    """In breach under both, but not the same breaches."""
    UNCHANGED = "unchanged"
    UNDECIDED = "undecided"
    """A policy cannot judge the caseload: it has no such work type."""


@dataclass(frozen=True, slots=True)
class Standing:
    """One NQSW under one policy."""

    month_of_practice: float
    caseload: Capacity
    breaches: tuple[Breach, ...]
    set_aside: tuple[str, ...]
    """The record's flags and agreements this policy does not name, e.g. `agreement X`."""


@dataclass(frozen=True, slots=True)
class Undecided:
    reason: str


Judgement = Standing | Undecided


@dataclass(frozen=True, slots=True)
class Comparison:
    movement: Movement
    current: Judgement
    proposed: Judgement
    opened: tuple[Breach, ...]
    """Breaches under the proposed policy that the current one does not find."""
    closed: tuple[Breach, ...]
    """Breaches under the current policy that the proposed one does not find."""


def judge(compiled: CompiledPolicy, request: CaseloadRequest) -> Judgement:
    """The NQSW's month, caseload against the caps and breaches under `compiled`."""
    unknown = [c for c in request.caseload if c.work_type not in compiled.work_types]
    if unknown:
        types = ", ".join(sorted({c.work_type for c in unknown}))
        cases = ", ".join(c.case_id for c in unknown)
        return Undecided(f"{compiled.policy.id} has no work type {types} (case {cases})")
    worker = request.worker
    agreements = worker.agreements & compiled.agreements
    set_aside = [f"agreement {a}" for a in sorted(worker.agreements - agreements)]
    set_aside += [
        f"flag {f} (case {c.case_id})"
        for c in request.caseload
        for f in sorted(c.flags - compiled.flags)
    ]
    fitted = CaseloadRequest(
        on=request.on,
        worker=dataclasses.replace(worker, agreements=agreements),
        caseload=Caseload(
            dataclasses.replace(c, flags=c.flags & compiled.flags) for c in request.caseload
        ),
    )
    held = entitlements(compiled, fitted)
    return Standing(
        month_of_practice=held.month_of_practice,
        caseload=held.caseload,
        breaches=breaches(compiled, fitted),
        set_aside=tuple(set_aside),
    )


def _key(b: Breach) -> tuple[str, str, tuple[str, ...]]:
    """The same rule over the same cases for the same reason: a clause reworded is no move."""
    return b.rule, b.detail, b.case_ids


def compare(
    current: CompiledPolicy, proposed: CompiledPolicy, request: CaseloadRequest
) -> Comparison:
    now, then = judge(current, request), judge(proposed, request)
    if isinstance(now, Undecided) or isinstance(then, Undecided):
        return Comparison(Movement.UNDECIDED, now, then, (), ())
    before = {_key(b) for b in now.breaches}
    after = {_key(b) for b in then.breaches}
    opened = tuple(b for b in then.breaches if _key(b) not in before)
    closed = tuple(b for b in now.breaches if _key(b) not in after)
    if not now.breaches and then.breaches:
        movement = Movement.INTO
    elif now.breaches and not then.breaches:
        movement = Movement.OUT
    elif opened or closed:
        movement = Movement.CHANGED
    else:
        movement = Movement.UNCHANGED
    return Comparison(movement, now, then, opened, closed)
