"""The equality view: the report's measures split by cohort (ethnicity, sex, route into
social work…), so that unequal allocation of complex work shows. For the principal social
worker only; pure, over the report's NQSW rows and the cohort values the organisation
records.

Cohort values are special-category personal data: nothing here names a person, a group
too small to hide its members shows no figure, and no value is ever logged.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from handlers.reports.figures import NqswRow
from policy import PolicyFile

SMALL_GROUP = 5
"""A group of fewer NQSWs than this shows its count as "fewer than 5" and no figure. With
a handful of people a share or a median describes individuals the reader knows by name;
five is the threshold the ONS and NHS England use for published counts of people."""

NOT_RECORDED = "not recorded"
"""The group of NQSWs with no value for an attribute: unequal recording shows too."""

Suppressed = Literal["fewer than 5", "withheld"]
"""Why a group shows no figures: it is small, or it is the next smallest beside the only
small group, whose figures would otherwise follow from the organisation's totals by
subtraction."""


@dataclass(frozen=True, slots=True)
class Measures:
    """One group's figures: the report's own measures, over its NQSWs."""

    nqsws: int
    within_policy: float
    """The share with no open breach."""
    median_of_cap: float | None
    """The median caseload as a % of its cap (children, or points where the policy caps
    points only); None when no NQSW of the group has a cap to weigh against."""
    complex_lead: float
    """The share holding at least one case of complex work as lead."""
    co_work_ratio: float | None
    """Co-worked cases over all cases held; None when the group holds none."""
    breaches_opened: int
    """In the report's period."""


@dataclass(frozen=True, slots=True)
class Group:
    value: str
    """The cohort value, or `NOT_RECORDED`."""
    measures: Measures | None
    """None when suppressed."""
    suppressed: Suppressed | None = None


@dataclass(frozen=True, slots=True)
class Split:
    attribute: str
    groups: tuple[Group, ...]
    """Largest first, `NOT_RECORDED` last."""


@dataclass(frozen=True, slots=True)
class EqualityView:
    attributes: tuple[Split, ...]
    complex_work: tuple[str, ...]
    """The names of the work types counted as complex (`complex_work_types`)."""


def complex_work_types(policy: PolicyFile) -> dict[str, str]:
    """Complex work is what the council's own policy holds back from NQSWs: every work
    type a gate names by type and does not let an NQSW lead until a milestone (months of
    practice, a review, an agreement, or never). Child protection and court work in every
    children's preset; the policy's vocabulary, not a list of ours, so a council's own
    words apply. By id, with the policy's name for each."""
    held_back = {
        work_type
        for gate in policy.gates
        if gate.lead is not None
        for work_type in gate.applies_to.work_types or ()
    }
    return {wt.id: wt.name for wt in policy.work_types if wt.id in held_back}


def equality_view(
    rows: Sequence[NqswRow],
    cohorts: Mapping[str, Mapping[str, str]],
    attributes: Sequence[str],
    complex_work: Mapping[str, str],
    opened: Mapping[str, int],
) -> EqualityView:
    """`cohorts`: values by NQSW ref, then attribute; `complex_work`: names by work type
    id; `opened`: breaches opened in the period by NQSW ref."""
    complex_set = frozenset(complex_work)
    splits = []
    for attribute in attributes:
        by_value: dict[str, list[NqswRow]] = {}
        for row in rows:
            value = cohorts.get(row.ref, {}).get(attribute, NOT_RECORDED)
            by_value.setdefault(value, []).append(row)
        order = sorted(by_value, key=lambda v: (v == NOT_RECORDED, -len(by_value[v]), v))
        measured = [(v, _measures(by_value[v], complex_set, opened)) for v in order]
        splits.append(Split(attribute, _suppress(measured)))
    return EqualityView(tuple(splits), tuple(complex_work.values()))


def _measures(
    rows: Sequence[NqswRow], complex_work: frozenset[str], opened: Mapping[str, int]
) -> Measures:
    cases = sum(r.cases for r in rows)
    of_cap = [pct for r in rows if (pct := _of_cap(r)) is not None]
    return Measures(
        nqsws=len(rows),
        within_policy=sum(r.within_policy for r in rows) / len(rows),
        median_of_cap=round(statistics.median(of_cap), 1) if of_cap else None,
        complex_lead=sum(any(wt in complex_work for wt, _ in r.lead_mix) for r in rows) / len(rows),
        co_work_ratio=sum(r.co_worked for r in rows) / cases if cases else None,
        breaches_opened=sum(opened.get(r.ref, 0) for r in rows),
    )


def _of_cap(row: NqswRow) -> float | None:
    if row.problem is not None:
        return None
    if row.children_cap:
        return 100 * row.children / row.children_cap
    if row.points_cap and row.points is not None:
        return 100 * row.points / row.points_cap
    return None


def _suppress(measured: Sequence[tuple[str, Measures]]) -> tuple[Group, ...]:
    """Small groups lose their figures; when only one group is small, the smallest of the
    others loses its figures too, or the small group's would follow from the totals."""
    small = {value for value, m in measured if m.nqsws < SMALL_GROUP}
    others = [(m.nqsws, value) for value, m in measured if value not in small]
    withheld = {min(others)[1]} if len(small) == 1 and others else set()
    out = []
    for value, m in measured:
        if value in small:
            out.append(Group(value, None, "fewer than 5"))
        elif value in withheld:
            out.append(Group(value, None, "withheld"))
        else:
            out.append(Group(value, m))
    return tuple(out)
