"""The decision: may this worker hold this case in this role today, and if not, when?

`compile_policy` indexes a policy once; `decide`, `entitlements` and `breaches` are pure
functions of the compiled policy and a request, and return every rule that applied,
so a manager can see why, not just what.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from policy.clock import Pause, clock_rate, date_of_month, months_of_practice
from policy.errors import InputError
from policy.loader import unknown_message
from policy.requests import (
    Case,
    Caseload,
    CaseloadRequest,
    DecisionRequest,
    Group,
    Override,
    Worker,
)
from policy.schema import (
    RESTRICTIVENESS,
    Cap,
    Gate,
    Limit,
    Outcome,
    PointsCap,
    PolicyFile,
    Requirement,
    Role,
    Selector,
    StaffRole,
)
from policy.schema import (
    Override as RuleOverride,
)

# --- results -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str
    clause: str
    summary: str
    effect: Outcome
    overridden: bool = False
    note: str | None = None


@dataclass(frozen=True, slots=True)
class AllowedFrom:
    """Not before `date` (None: no date bound), and once every milestone has happened.

    Months of practice are kept as a number so that "month 6 and month 9" reads "month 9".
    """

    date: dt.date | None
    milestones: tuple[str, ...] = ()
    practice_months: float | None = None

    @property
    def milestone(self) -> str:
        months = (
            ()
            if self.practice_months is None
            else (f"month {_num(self.practice_months)} of practice",)
        )
        return " and ".join((*months, *self.milestones))


@dataclass(frozen=True, slots=True)
class CaseloadFigures:
    children_before: int
    children_after: int
    children_cap: float | None
    points_before: float
    points_after: float
    points_cap: float | None


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    requested_role: Role
    overridden: bool
    reasons: tuple[Reason, ...]
    conditions: tuple[str, ...]
    allowed_from: AllowedFrom | None
    caseload: CaseloadFigures
    month_of_practice: float
    policy_id: str
    policy_version: str


@dataclass(frozen=True, slots=True)
class Entitlement:
    work_type: str
    flags: tuple[str, ...]
    lead: Outcome
    co_work: Outcome
    allowed_from: AllowedFrom | None
    clause: str | None
    conditions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Capacity:
    children: int
    children_cap: float | None
    children_remaining: float | None
    points: float
    points_cap: float | None
    points_remaining: float | None


@dataclass(frozen=True, slots=True)
class Entitlements:
    month_of_practice: float
    caseload: Capacity
    work_types: tuple[Entitlement, ...]
    policy_id: str
    policy_version: str


@dataclass(frozen=True, slots=True)
class Breach:
    rule: str
    clause: str
    summary: str
    detail: str
    remedy: str
    case_ids: tuple[str, ...]


# --- compiled policy -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    policy: PolicyFile
    gates_by_work_type: dict[str, tuple[Gate, ...]]
    work_types: frozenset[str]
    flags: frozenset[str]
    agreements: frozenset[str]
    children_cap: Cap | None
    points_cap: PointsCap | None
    limits: tuple[Limit, ...]
    names: dict[str, str] = field(default_factory=dict)
    points_of: Callable[[Case], float] | None = None
    """Points of one case under the points cap's weights, ready to call."""
    overriders: tuple[StaffRole, ...] = ()
    """Every role some override of the policy names, in `StaffRole` order."""
    may_override: dict[str, frozenset[StaffRole]] = field(default_factory=dict)
    """By rule id, every role any of its overrides names (a cap's phases included)."""
    gate_order: dict[str, int] = field(default_factory=dict)
    """Each gate's place in the policy file: breaches found together are listed in it."""


def _overrides(policy: PolicyFile) -> dict[str, frozenset[StaffRole]]:
    caps = [c for c in (policy.caps.children, policy.caps.points) if c is not None]
    rules: list[tuple[str, tuple[RuleOverride | None, ...]]] = [
        *((g.id, (g.override,)) for g in policy.gates),
        *((c.id, (c.override, *(p.override for p in c.phases))) for c in caps),
        *((limit.id, (limit.override,)) for limit in policy.limits),
    ]
    by_rule: dict[str, frozenset[StaffRole]] = {}
    for rule_id, overrides in rules:
        named = {role for o in overrides if o is not None for role in o.by}
        by_rule[rule_id] = by_rule.get(rule_id, frozenset()) | named
    return by_rule


def compile_policy(policy: PolicyFile) -> CompiledPolicy:
    may_override = _overrides(policy)
    by_type: dict[str, list[Gate]] = {w.id: [] for w in policy.work_types}
    for gate in policy.gates:
        for wt in gate.applies_to.work_types or by_type:
            by_type[wt].append(gate)
    return CompiledPolicy(
        policy=policy,
        gates_by_work_type={wt: tuple(gates) for wt, gates in by_type.items()},
        work_types=frozenset(by_type),
        flags=frozenset(f.id for f in policy.flags),
        agreements=frozenset(a.id for a in policy.agreements),
        children_cap=policy.caps.children,
        points_cap=policy.caps.points,
        limits=policy.limits,
        names={v.id: v.name for v in (*policy.work_types, *policy.flags, *policy.agreements)},
        points_of=_points_weigher(policy.caps.points) if policy.caps.points is not None else None,
        overriders=tuple(r for r in StaffRole if any(r in by for by in may_override.values())),
        may_override=may_override,
        gate_order={gate.id: i for i, gate in enumerate(policy.gates)},
    )


# --- the worker's standing on a date -------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Standing:
    """What requirements are tested against: the clock and the record."""

    on: dt.date
    months: float
    worker: Worker
    rate: float
    pauses: tuple[Pause, ...]

    def met(self, req: Requirement) -> bool:
        if req.never:
            return False
        if req.months is not None:
            return self.months >= req.months
        if req.review is not None:
            return req.review in self.worker.reviews_passed
        if req.agreement is not None:
            return req.agreement in self.worker.agreements
        if req.all is not None:
            return all(self.met(r) for r in req.all)
        return any(self.met(r) for r in req.any or ())

    def when(self, req: Requirement, names: dict[str, str]) -> AllowedFrom | None:
        """The earliest date (if knowable) and the milestone at which `req` is met; None if never."""
        w = self.worker
        if req.never:
            return None
        if req.months is not None:
            day = date_of_month(req.months, w.asye_start, self.pauses, self.rate)
            return AllowedFrom(day, practice_months=req.months)
        if req.review is not None:
            due = date_of_month(req.review, w.asye_start, self.pauses, self.rate)
            upcoming = due if due is not None and due > self.on else None
            return AllowedFrom(upcoming, (f"month-{req.review} review passed",))
        if req.agreement is not None:
            return AllowedFrom(None, (f"{names.get(req.agreement, req.agreement)} recorded",))
        if req.all is not None:
            parts = [self.when(r, names) for r in req.all if not self.met(r)]
            return _latest(parts)
        options = [a for a in (self.when(r, names) for r in req.any or ()) if a is not None]
        return min(options, key=lambda a: a.date or self.on) if options else None


def _standing(compiled: CompiledPolicy, on: dt.date, worker: Worker) -> _Standing:
    _check_record(compiled, worker)
    rate = clock_rate(compiled.policy.programme, worker.fte)
    pauses = worker.clock_pauses()
    months = months_of_practice(on, worker.asye_start, pauses, rate)
    return _Standing(on, months, worker, rate, pauses)


def _latest(parts: Iterable[AllowedFrom | None]) -> AllowedFrom | None:
    """All of these must happen: the last of them, or None if one never will."""
    items = list(parts)
    if not items or None in items:
        return None
    known = [a for a in items if a is not None]
    dates = [a.date for a in known if a.date is not None]
    milestones = tuple(dict.fromkeys(m for a in known for m in a.milestones))
    months = [a.practice_months for a in known if a.practice_months is not None]
    return AllowedFrom(max(dates) if dates else None, milestones, max(months) if months else None)


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


# --- decide ----------------------------------------------------------------------------


def decide(compiled: CompiledPolicy, request: DecisionRequest) -> Decision:
    proposal = request.proposal
    caseload = request.caseload
    _check_case(compiled, proposal, "proposal")
    _check_caseload(compiled, caseload)
    tally = _tally(compiled, caseload, proposal.case_id)
    standing = _standing(compiled, request.on, request.worker)
    role = proposal.role

    reasons: list[Reason] = []
    waits: list[AllowedFrom | None] = []
    conditions: dict[Outcome, list[str]] = {Outcome.ALLOW: [], Outcome.CO_WORK: []}
    outcome = Outcome.ALLOW
    overridden = False

    def record(reason: Reason, wait: AllowedFrom | None) -> None:
        nonlocal outcome, overridden
        reasons.append(reason)
        overridden = overridden or reason.overridden
        if RESTRICTIVENESS[reason.effect] > RESTRICTIVENESS[outcome]:
            outcome = reason.effect
        if reason.effect is not Outcome.ALLOW:
            waits.append(wait)

    for gate in _applicable(compiled, proposal):
        effect, wait = _gate_effect(gate, role, standing, compiled.names)
        conditions[Outcome.ALLOW] += (
            gate.conditions.lead if role is Role.LEAD else gate.conditions.co_work
        )
        conditions[Outcome.CO_WORK] += gate.conditions.co_work
        record(*_with_override(gate, gate.override, effect, wait, request.override))

    figures, cap_results = _caps(compiled, standing, tally, proposal)
    for cap, phase_override, effect, wait, note in cap_results:
        record(
            *_with_override(
                cap, phase_override or cap.override, effect, wait, request.override, note
            )
        )

    for limit in compiled.limits:
        effect, note = _limit_effect(limit, tally.replaced, caseload, proposal)
        wait = (
            AllowedFrom(None, (f"fewer than {limit.max_cases} such cases held",))
            if effect is not Outcome.ALLOW
            else None
        )
        record(*_with_override(limit, limit.override, effect, wait, request.override, note))

    allowed_from = _latest(waits) if outcome is not Outcome.ALLOW and waits else None
    final_conditions = conditions.get(outcome, [])
    if overridden and outcome is Outcome.ALLOW and request.override is not None:
        final_conditions = [*final_conditions, _override_condition(request.override)]
    return Decision(
        outcome=outcome,
        requested_role=role,
        overridden=overridden and outcome is Outcome.ALLOW,
        reasons=tuple(reasons),
        conditions=tuple(dict.fromkeys(final_conditions)),
        allowed_from=allowed_from,
        caseload=figures,
        month_of_practice=round(standing.months, 2),
        policy_id=compiled.policy.id,
        policy_version=compiled.policy.version,
    )


def _applicable(compiled: CompiledPolicy, case: Case) -> Iterator[Gate]:
    for gate in compiled.gates_by_work_type[case.work_type]:
        if _selects(gate.applies_to, case):
            yield gate


def _selects(sel: Selector, case: Case) -> bool:
    if sel.work_types is not None and case.work_type not in sel.work_types:
        return False
    if sel.flags_any and not case.flags.intersection(sel.flags_any):
        return False
    if sel.flags_none and case.flags.intersection(sel.flags_none):
        return False
    return sel.external is None or sel.external == case.external


def _gate_effect(
    gate: Gate, role: Role, standing: _Standing, names: dict[str, str]
) -> tuple[Outcome, AllowedFrom | None]:
    lead_open = gate.lead is None or standing.met(gate.lead)
    co_open = lead_open or gate.co_work is None or standing.met(gate.co_work)
    if role is Role.LEAD:
        if lead_open:
            return Outcome.ALLOW, None
        assert gate.lead is not None
        return (Outcome.CO_WORK if co_open else Outcome.DENY), standing.when(gate.lead, names)
    if co_open:
        return Outcome.ALLOW, None
    assert gate.co_work is not None
    options = [gate.co_work] + ([gate.lead] if gate.lead is not None else [])
    return Outcome.DENY, standing.when(Requirement(any=tuple(options)), names)


def _with_override(
    rule: Gate | Cap | Limit,
    rule_override: RuleOverride | None,
    effect: Outcome,
    wait: AllowedFrom | None,
    asked: Override | None,
    note: str | None = None,
) -> tuple[Reason, AllowedFrom | None]:
    overridden = False
    if effect is not Outcome.ALLOW and asked is not None:
        if rule_override is None:
            note = _join(note, "not overridable: this rule applies regardless of circumstances")
        elif asked.approver_role in rule_override.by:
            effect, overridden = Outcome.ALLOW, True
            note = _join(note, f"overridden by {asked.approver_role.value}")
        else:
            allowed = ", ".join(r.value for r in rule_override.by)
            note = _join(
                note, f"{asked.approver_role.value} may not override this rule; {allowed} may"
            )
    return Reason(rule.id, rule.clause, rule.summary, effect, overridden, note), wait


def _join(a: str | None, b: str) -> str:
    return f"{a}; {b}" if a else b


def _override_condition(asked: Override) -> str:
    return f"Override approved by {asked.approver_role.value.replace('_', ' ')} is recorded with its justification"


# --- caps ------------------------------------------------------------------------------


_LEAD = Role.LEAD
"""Hot loops compare with this module constant: an enum attribute lookup costs ten times more."""


def _points_weigher(cap: PointsCap) -> _Weigh:
    """Points of one case; the cap's settings are read once, not once per case."""
    w = cap.weights
    by_type, by_flag, external, default = w.work_types, w.flags, w.external, w.default or 0.0

    def weigh(case: Case) -> float:
        points = by_type.get(case.work_type, default)
        if case.flags:  # most cases carry none: skip the generator
            points += sum(by_flag.get(f, 0.0) for f in case.flags)
        if case.external:
            points += external
        return points

    return weigh


def _cap_value(
    compiled: CompiledPolicy, cap: Cap, standing: _Standing, unit: str
) -> tuple[float | None, int]:
    index = 0
    for i, phase in enumerate(cap.phases):
        if phase.from_ is None or standing.met(phase.from_):
            index = i
    return _phase_value(compiled, cap, index, unit), index


def _phase_value(compiled: CompiledPolicy, cap: Cap, index: int, unit: str) -> float | None:
    phase = cap.phases[index]
    if phase.max is not None:
        return phase.max
    reference = compiled.policy.reference_caseload
    total = getattr(reference, unit) if reference is not None else None
    return None if total is None or phase.relative is None else round(phase.relative * total, 2)


_CapResult = tuple[Cap, RuleOverride | None, Outcome, AllowedFrom | None, str | None]


@dataclass(slots=True)
class _Tally:
    """The caseload summed once, by role, with and without the proposal's own case
    (asking again for a case already held replaces it)."""

    replaced: tuple[Case, ...]
    """The proposal's own case as already held, if it is."""
    lead_children: int = 0
    co_children: int = 0
    lead_children_rest: int = 0
    co_children_rest: int = 0
    lead_points: float = 0.0
    co_points: float = 0.0
    lead_points_rest: float = 0.0
    co_points_rest: float = 0.0


def _tally(compiled: CompiledPolicy, caseload: Caseload, proposal_id: str) -> _Tally:
    """Every sum a cap needs, once per kind of case held.

    Written with locals, not attribute updates: this loop is most of a decision's cost.
    """
    points, lead_role = compiled.points_of, _LEAD
    lead_c = co_c = 0
    lead_p = co_p = 0.0
    for group in caseload.groups.values():
        case, n = group.case, len(group.ids)
        weight = 0.0 if points is None else points(case) * n
        if case.role is lead_role:
            lead_c += case.children * n
            lead_p += weight
        else:
            co_c += case.children * n
            co_p += weight
    replaced = caseload.held(proposal_id)
    lead_c_rest, co_c_rest, lead_p_rest, co_p_rest = lead_c, co_c, lead_p, co_p
    for case in replaced:
        weight = 0.0 if points is None else points(case)
        if case.role is lead_role:
            lead_c_rest -= case.children
            lead_p_rest -= weight
        else:
            co_c_rest -= case.children
            co_p_rest -= weight
    return _Tally(
        replaced, lead_c, co_c, lead_c_rest, co_c_rest, lead_p, co_p, lead_p_rest, co_p_rest
    )


def _caps(
    compiled: CompiledPolicy, standing: _Standing, t: _Tally, proposal: Case
) -> tuple[CaseloadFigures, list[_CapResult]]:
    results: list[_CapResult] = []
    lead = proposal.role is _LEAD
    child_cap, points_cap = compiled.children_cap, compiled.points_cap

    every_child = child_cap is not None and child_cap.co_work_counts
    children_before = t.lead_children + (t.co_children if every_child else 0)
    children_after = (
        t.lead_children_rest
        + (t.co_children_rest if every_child else 0)
        + (proposal.children if lead or every_child else 0)
    )
    children_value: float | None = None
    if child_cap is not None:
        children_value, index = _cap_value(compiled, child_cap, standing, "children")
        results.append(
            _cap_check(
                compiled,
                child_cap,
                standing,
                index,
                children_value,
                children_before,
                children_after,
                proposal,
                "children",
            )
        )

    points_before = points_after = 0.0
    points_value: float | None = None
    if points_cap is not None:
        every_point = points_cap.co_work_counts
        points_before = round(t.lead_points + (t.co_points if every_point else 0.0), 2)
        own = compiled.points_of(proposal) if compiled.points_of and (lead or every_point) else 0.0
        points_after = round(
            t.lead_points_rest + (t.co_points_rest if every_point else 0.0) + own, 2
        )
        points_value, index = _cap_value(compiled, points_cap, standing, "points")
        results.append(
            _cap_check(
                compiled,
                points_cap,
                standing,
                index,
                points_value,
                points_before,
                points_after,
                proposal,
                "points",
            )
        )
    figures = CaseloadFigures(
        children_before, children_after, children_value, points_before, points_after, points_value
    )
    return figures, results


def _cap_check(
    compiled: CompiledPolicy,
    cap: Cap,
    standing: _Standing,
    index: int,
    value: float | None,
    before: float,
    after: float,
    proposal: Case,
    unit: str,
) -> _CapResult:
    if value is None:
        return cap, None, Outcome.ALLOW, None, f"not enforced: reference_caseload.{unit} is not set"
    note = f"{_num(after)} of {_num(value)} {unit} after this allocation"
    phase_override = cap.phases[index].override
    if after <= value or after <= before:
        return cap, phase_override, Outcome.ALLOW, None, note
    # As co-worker the case would not count against a cap that ignores co-working.
    effect = (
        Outcome.CO_WORK if proposal.role is Role.LEAD and not cap.co_work_counts else Outcome.DENY
    )
    for later in range(index + 1, len(cap.phases)):
        later_value = _phase_value(compiled, cap, later, unit)
        requirement = cap.phases[later].from_
        if later_value is not None and after <= later_value and requirement is not None:
            return cap, phase_override, effect, standing.when(requirement, compiled.names), note
    excess = after - value
    wait = AllowedFrom(None, (f"{_num(excess)} fewer {unit} on the caseload",))
    return cap, phase_override, effect, wait, note


def _limit_counts(limit: Limit, case: Case) -> bool:
    return _selects(limit.applies_to, case) and (case.role is _LEAD or limit.co_work_counts)


def _limit_effect(
    limit: Limit, replaced: tuple[Case, ...], caseload: Caseload, proposal: Case
) -> tuple[Outcome, str | None]:
    if not _limit_counts(limit, proposal):
        return Outcome.ALLOW, None
    held = sum(len(g.ids) for g in caseload.groups.values() if _limit_counts(limit, g.case))
    held -= sum(1 for c in replaced if _limit_counts(limit, c))
    note = f"{held + 1} of at most {limit.max_cases} such cases after this allocation"
    if held + 1 <= limit.max_cases:
        return Outcome.ALLOW, note
    effect = (
        Outcome.CO_WORK if proposal.role is Role.LEAD and not limit.co_work_counts else Outcome.DENY
    )
    return effect, note


# --- entitlements ----------------------------------------------------------------------


def entitlements(compiled: CompiledPolicy, request: CaseloadRequest) -> Entitlements:
    _check_caseload(compiled, request.caseload)
    standing = _standing(compiled, request.on, request.worker)
    rows: list[Entitlement] = []
    for wt in compiled.policy.work_types:
        variants: list[tuple[str, ...]] = [()]
        for gate in compiled.gates_by_work_type[wt.id]:
            for flag in (*gate.applies_to.flags_any, *gate.applies_to.flags_none):
                if (flag,) not in variants:
                    variants.append((flag,))
        for flags in variants:
            rows.append(_entitlement(compiled, standing, wt.id, flags))
    return Entitlements(
        round(standing.months, 2),
        _capacity(compiled, standing, request.caseload),
        tuple(rows),
        compiled.policy.id,
        compiled.policy.version,
    )


def capacity(compiled: CompiledPolicy, request: CaseloadRequest) -> Capacity:
    """The caseload against the caps in force on the day, without the per-work-type table:
    what a report needs of each of thousands of NQSWs."""
    _check_caseload(compiled, request.caseload)
    return _capacity(compiled, _standing(compiled, request.on, request.worker), request.caseload)


def _capacity(compiled: CompiledPolicy, standing: _Standing, caseload: Caseload) -> Capacity:
    held = {unit: (total, value) for unit, total, value in _held(compiled, standing, caseload)}
    lead_children = float(
        sum(g.case.children * len(g.ids) for g in caseload.groups.values() if g.case.role is _LEAD)
    )
    children, children_cap = held.get("children", (lead_children, None))
    points, points_cap = held.get("points", (0.0, None))
    return Capacity(
        children=int(children),
        children_cap=children_cap,
        children_remaining=_room(children, children_cap),
        points=points,
        points_cap=points_cap,
        points_remaining=_room(points, points_cap),
    )


def _room(total: float, cap: float | None) -> float | None:
    return None if cap is None else round(max(0.0, cap - total), 2)


def _entitlement(
    compiled: CompiledPolicy, standing: _Standing, work_type: str, flags: tuple[str, ...]
) -> Entitlement:
    probe = Case(
        case_id="probe", work_type=work_type, children=1, role=Role.LEAD, flags=frozenset(flags)
    )
    lead, co_work = Outcome.ALLOW, Outcome.ALLOW
    waits: list[AllowedFrom] = []
    clauses: list[str] = []
    conditions: list[str] = []
    for gate in _applicable(compiled, probe):
        clauses.append(gate.clause)
        lead_effect, wait = _gate_effect(gate, Role.LEAD, standing, compiled.names)
        co_effect, _ = _gate_effect(gate, Role.CO_WORK, standing, compiled.names)
        if RESTRICTIVENESS[lead_effect] > RESTRICTIVENESS[lead]:
            lead = lead_effect
        if RESTRICTIVENESS[co_effect] > RESTRICTIVENESS[co_work]:
            co_work = co_effect
        if wait is not None:
            waits.append(wait)
        conditions += (
            gate.conditions.lead if lead_effect is Outcome.ALLOW else gate.conditions.co_work
        )
    return Entitlement(
        work_type=work_type,
        flags=flags,
        lead=lead,
        co_work=co_work,
        allowed_from=_latest(waits) if lead is not Outcome.ALLOW and waits else None,
        clause="; ".join(dict.fromkeys(clauses)) or None,
        conditions=tuple(dict.fromkeys(conditions)),
    )


# --- breaches --------------------------------------------------------------------------


DETAIL_LENGTH = 400
"""A breach's detail is one line a person reads; `case_ids` lists every case."""


def _listing(count: int, items: Iterator[str]) -> str:
    """The first of `count` items that fit, then how many more: only those shown are made."""
    shown: list[str] = []
    for i, item in enumerate(items):
        rest = count - i
        if len("; ".join([*shown, item])) + len(f"; and {rest} more") > DETAIL_LENGTH and shown:
            return "; ".join(shown) + f"; and {rest} more"
        shown.append(item[:DETAIL_LENGTH])
    return "; ".join(shown)


def breaches(compiled: CompiledPolicy, request: CaseloadRequest) -> tuple[Breach, ...]:
    caseload = request.caseload
    _check_caseload(compiled, caseload)
    standing = _standing(compiled, request.on, request.worker)
    found: list[Breach] = []
    # One breach per rule, naming every case that breaks it (the store keeps one open
    # breach per worker and rule). What a gate says depends on a case's kind, never on the
    # case, so each kind is asked once.
    by_gate: dict[str, tuple[Gate, list[Group], Outcome]] = {}
    for group in caseload.groups.values():
        case = group.case
        for gate in _applicable(compiled, case):
            if gate.id in case.overrides:
                continue
            effect, _ = _gate_effect(gate, case.role, standing, compiled.names)
            if effect is Outcome.ALLOW:
                continue
            _, groups, worst = by_gate.setdefault(gate.id, (gate, [], effect))
            groups.append(group)
            if RESTRICTIVENESS[effect] > RESTRICTIVENESS[worst]:
                by_gate[gate.id] = (gate, groups, effect)
    order = compiled.gate_order
    for gate, groups, worst in sorted(
        by_gate.values(),
        # As a reader meets them: by the first case each names, then in the policy's order.
        key=lambda found: (min(caseload.position(g.ids[0]) for g in found[1]), order[found[0].id]),
    ):
        if gate.remedy:
            remedy = gate.remedy
        elif worst is Outcome.CO_WORK:
            remedy = "Reallocate to a non-ASYE social worker; the NQSW may co-work."
        else:
            remedy = (
                "Reallocate to a non-ASYE social worker; the NQSW may not work on this case yet."
            )
        ids = caseload.ids_of(groups)
        held = {
            g: f" ({compiled.names.get(g.case.work_type, g.case.work_type)}) held as "
            + ("lead" if g.case.role is Role.LEAD else "co-worker")
            for g in groups
        }
        shown = (case_id + held[g] for case_id, g in caseload.cases_of(groups))
        detail = _listing(len(ids), shown)
        found.append(Breach(gate.id, gate.clause, gate.summary, detail, remedy, ids))
    for cap, unit, weigh in _cap_weighers(compiled):
        value, _ = _cap_value(compiled, cap, standing, unit)
        counted = [
            g
            for g in caseload.groups.values()
            if cap.id not in g.case.overrides and weigh(g.case) > 0
        ]
        total = _weighed(weigh, counted)
        if value is not None and total > value:
            found.append(
                Breach(
                    cap.id,
                    cap.clause,
                    cap.summary,
                    f"{_num(total)} {unit} against a cap of {_num(value)}",
                    cap.remedy
                    or f"Reduce the caseload by {_num(round(total - value, 2))} {unit}: reallocate cases to non-ASYE social workers.",
                    caseload.ids_of(counted),
                )
            )
    for limit in compiled.limits:
        counted = [
            g
            for g in caseload.groups.values()
            if _limit_counts(limit, g.case) and limit.id not in g.case.overrides
        ]
        held_cases = sum(len(g.ids) for g in counted)
        if held_cases > limit.max_cases:
            found.append(
                Breach(
                    limit.id,
                    limit.clause,
                    limit.summary,
                    f"{held_cases} such cases against a limit of {limit.max_cases}",
                    limit.remedy or "Reallocate the cases over the limit.",
                    caseload.ids_of(counted),
                )
            )
    return tuple(found)


_Weigh = Callable[[Case], float]


def _held(
    compiled: CompiledPolicy, standing: _Standing, caseload: Caseload
) -> Iterator[tuple[str, float, float | None]]:
    """Each cap in force: its unit, the caseload's total against it, and its value."""
    groups = caseload.groups.values()
    for cap, unit, weigh in _cap_weighers(compiled):
        value, _ = _cap_value(compiled, cap, standing, unit)
        yield unit, _weighed(weigh, groups), value


def _weighed(weigh: _Weigh, groups: Iterable[Group]) -> float:
    """The groups' cases weighed against a cap: each kind once, times its cases."""
    return round(sum(weigh(g.case) * len(g.ids) for g in groups), 2)


def _cap_weighers(compiled: CompiledPolicy) -> Iterator[tuple[Cap, str, _Weigh]]:
    child_cap, points_cap = compiled.children_cap, compiled.points_cap
    if child_cap is not None:
        every_child = child_cap.co_work_counts
        yield (
            child_cap,
            "children",
            lambda c: float(c.children) if c.role is _LEAD or every_child else 0.0,
        )
    points = compiled.points_of
    if points_cap is not None and points is not None:
        every_point = points_cap.co_work_counts
        yield (
            points_cap,
            "points",
            lambda c: points(c) if c.role is _LEAD or every_point else 0.0,
        )


# --- input checks against the policy's vocabulary --------------------------------------


def _check_caseload(compiled: CompiledPolicy, caseload: Caseload) -> None:
    """Names the first case the policy's vocabulary does not cover: each kind is checked once."""
    work_types, flags = compiled.work_types, compiled.flags
    unknown = [
        case
        for case in (g.case for g in caseload.groups.values())
        if case.work_type not in work_types or (case.flags and not case.flags <= flags)
    ]
    if unknown:
        first = min(caseload.index(case) for case in unknown)
        _check_case(compiled, caseload[first], f"caseload[{first}]")


def _check_case(compiled: CompiledPolicy, case: Case, where: str) -> None:
    if case.work_type not in compiled.work_types:
        raise InputError(
            f"{where}.work_type", unknown_message(case.work_type, compiled.work_types, "work type")
        )
    for flag in case.flags:
        if flag not in compiled.flags:
            raise InputError(f"{where}.flags", unknown_message(flag, compiled.flags, "flag"))


def _check_record(compiled: CompiledPolicy, worker: Worker) -> None:
    for agreement in worker.agreements:
        if agreement not in compiled.agreements:
            raise InputError(
                "worker.agreements", unknown_message(agreement, compiled.agreements, "agreement")
            )
