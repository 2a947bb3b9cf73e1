"""Every figure of a caseload report, from one picture of the organisation: pure, so each
can be checked against values worked out by hand.

Today's state (caseloads against the cap, open breaches, reviews, supervision) comes from
the stored rows; what happened over the period (breaches opened and resolved, how long
they took) comes from the audit trail's breach events, not from today's rows.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from handlers.ports import BreachEvent, NqswFacts, ReportPicture, TeamRecord
from policy import (
    LONDON,
    CaseloadRequest,
    CompiledPolicy,
    InputError,
    Role,
    capacity,
    programme_months,
    review_reminders,
    supervision_due,
    team_limit,
)
from policy.clock import clock_rate, months_of_practice

if TYPE_CHECKING:
    from handlers.reports.equality import EqualityView

WEEKS_SHOWN = 12
"""The charts' window: a quarter of weekly points."""

NO_TEAM = "(no team)"


@dataclass(frozen=True, slots=True)
class Period:
    """Inclusive Europe/London dates."""

    start: dt.date
    end: dt.date

    def __contains__(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class OpenBreach:
    rule: str
    clause: str
    cases: tuple[str, ...]
    opened_on: dt.date
    age_days: int
    acknowledged: bool


SupervisionState = Literal["within band", "overdue", "not required", "not in policy"]


@dataclass(frozen=True, slots=True)
class NqswRow:
    ref: str
    name: str
    team: str
    """The team's ref, or `NO_TEAM`."""
    month_of_practice: float
    programme_months: int
    children: int
    children_cap: float | None
    points: float | None
    """None when the policy counts no points."""
    points_cap: float | None
    lead_mix: tuple[tuple[str, int], ...]
    """Cases held as lead by work type, most first."""
    co_work_mix: tuple[tuple[str, int], ...]
    open_breaches: tuple[OpenBreach, ...]
    reviews_overdue: tuple[int, ...]
    """The months of the reviews whose date has passed unrecorded."""
    supervision: SupervisionState
    supervision_due: dt.date | None
    last_supervision: dt.date | None
    problem: str | None = None
    """Why the caseload could not be weighed against the cap (a work type the policy no
    longer names); the rest of the row still stands."""

    @property
    def within_policy(self) -> bool:
        return not self.open_breaches

    @property
    def cases(self) -> int:
        return sum(n for _, n in self.lead_mix) + sum(n for _, n in self.co_work_mix)

    @property
    def co_worked(self) -> int:
        return sum(n for _, n in self.co_work_mix)


@dataclass(frozen=True, slots=True)
class Summary:
    """One team's figures, or the whole organisation's."""

    ref: str
    name: str
    nqsws: int
    within_policy: int
    children: int
    cases: int
    co_worked: int
    open_breaches: int
    oldest_breach_days: int | None
    reviews_overdue: int
    supervision_overdue: int
    opened: int
    """Breaches opened in the period (audit trail)."""
    resolved: int
    median_days_to_resolve: float | None
    """Over the breaches resolved in the period."""

    nqsw_limit: int | None = None
    """The policy's NQSW-per-team limit for this team, where it sets one."""
    limit_clause: str | None = None

    @property
    def over_limit(self) -> bool:
        return self.nqsw_limit is not None and self.nqsws > self.nqsw_limit

    @property
    def share_within_policy(self) -> float | None:
        return None if not self.nqsws else self.within_policy / self.nqsws

    @property
    def co_work_ratio(self) -> float | None:
        return None if not self.cases else self.co_worked / self.cases


@dataclass(frozen=True, slots=True)
class Week:
    start: dt.date
    """A Monday."""
    opened: int
    resolved: int
    median_days_to_resolve: float | None


@dataclass(frozen=True, slots=True)
class WorkTypeMix:
    work_type: str
    name: str
    lead: int
    co_work: int


@dataclass(frozen=True, slots=True)
class Report:
    org_id: str
    org_name: str
    policy: str
    """Its id and version, as `stoke-childrens v3`."""
    scope: str
    """What the report covers: the organisation's name, or a team's."""
    team: str | None
    """The team's ref, for a team's report."""
    on: dt.date
    period: Period
    nqsws: tuple[NqswRow, ...]
    teams: tuple[Summary, ...]
    total: Summary
    weeks: tuple[Week, ...]
    mix: tuple[WorkTypeMix, ...]
    equality: EqualityView | None = None
    """The measures by cohort: only in a report made for the principal social worker
    (`caseload_report(..., equality=True)`) of an organisation that records cohorts."""


def build_report(
    compiled: CompiledPolicy,
    picture: ReportPicture,
    *,
    org_id: str,
    org_name: str,
    team: TeamRecord | None,
    on: dt.date,
    period: Period,
) -> Report:
    teams_by_id = {t.id: t for t in picture.teams}
    breaches_of = _open_breaches(picture.breach_events, on)
    rows = tuple(
        _row(compiled, n, teams_by_id, tuple(breaches_of.get(n.person.ref, ())), on)
        for n in picture.nqsws
    )
    team_of = {r.ref: r.team for r in rows}
    events_by_team: dict[str, list[BreachEvent]] = defaultdict(list)
    for e in picture.breach_events:
        events_by_team[team_of.get(e.worker, NO_TEAM)].append(e)
    rows_by_team: dict[str, list[NqswRow]] = defaultdict(list)
    for r in rows:
        rows_by_team[r.team].append(r)
    names = {t.ref: t.name for t in picture.teams}
    kinds = {t.ref: t.kind for t in picture.teams}
    summaries = tuple(
        _limited(
            compiled,
            kinds.get(ref),
            _summary(ref, names.get(ref, ref), rows_by_team[ref], events_by_team[ref], period),
        )
        for ref in sorted(rows_by_team, key=lambda ref: (ref == NO_TEAM, ref))
    )
    scope = org_name if team is None else f"{org_name}, {team.name}"
    total_ref = org_id if team is None else team.ref
    return Report(
        org_id=org_id,
        org_name=org_name,
        policy=f"{compiled.policy.id} v{compiled.policy.version}",
        scope=scope,
        team=None if team is None else team.ref,
        on=on,
        period=period,
        nqsws=rows,
        teams=summaries,
        total=_limited(
            compiled,
            None if team is None else team.kind,
            _summary(total_ref, scope, list(rows), list(picture.breach_events), period),
        ),
        weeks=_weeks(picture.breach_events, period.end),
        mix=_mix(compiled, rows),
    )


def _row(
    compiled: CompiledPolicy,
    facts: NqswFacts,
    teams: dict[int, TeamRecord],
    open_breaches: tuple[OpenBreach, ...],
    on: dt.date,
) -> NqswRow:
    policy = compiled.policy
    worker, caseload = facts.worker, facts.caseload
    rate = clock_rate(policy.programme, worker.fte)
    month = months_of_practice(on, worker.asye_start, worker.clock_pauses(), rate)
    team = teams.get(facts.person.team_id) if facts.person.team_id is not None else None
    problem: str | None = None
    children: int = sum(c.children for c in caseload if c.role is Role.LEAD)
    children_cap = points = points_cap = None
    try:
        held = capacity(compiled, CaseloadRequest(on=on, worker=worker, caseload=caseload))
    except InputError as e:
        problem = e.message
    else:
        children, children_cap = held.children, held.children_cap
        if held.points_cap is not None:
            points, points_cap = held.points, held.points_cap
    supervision: SupervisionState = "not in policy"
    due: dt.date | None = None
    if policy.supervision is not None:
        s = supervision_due(policy.supervision, worker, facts.last_supervision, on)
        if s is None:
            supervision = "not required"
        else:
            supervision, due = ("overdue" if s.overdue else "within band"), s.due
    return NqswRow(
        ref=facts.person.ref,
        name=facts.person.display_name,
        team=NO_TEAM if team is None else team.ref,
        month_of_practice=round(month, 2),
        programme_months=programme_months(policy.programme, worker.fte),
        children=children,
        children_cap=children_cap,
        points=points,
        points_cap=points_cap,
        lead_mix=_counted(c.work_type for c in caseload if c.role is Role.LEAD),
        co_work_mix=_counted(c.work_type for c in caseload if c.role is not Role.LEAD),
        open_breaches=open_breaches,
        reviews_overdue=tuple(r.month for r in review_reminders(policy, worker, on) if r.overdue),
        supervision=supervision,
        supervision_due=due,
        last_supervision=facts.last_supervision,
        problem=problem,
    )


def _counted(work_types: Iterable[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(Counter(work_types).items(), key=lambda kv: (-kv[1], kv[0])))


def _summary(
    ref: str, name: str, rows: Sequence[NqswRow], events: Sequence[BreachEvent], period: Period
) -> Summary:
    resolutions = _resolutions(events)
    in_period = [days for at, days in resolutions if _day(at) in period]
    ages = [b.age_days for r in rows for b in r.open_breaches]
    return Summary(
        ref=ref,
        name=name,
        nqsws=len(rows),
        within_policy=sum(r.within_policy for r in rows),
        children=sum(r.children for r in rows),
        cases=sum(r.cases for r in rows),
        co_worked=sum(r.co_worked for r in rows),
        open_breaches=len(ages),
        oldest_breach_days=max(ages, default=None),
        reviews_overdue=sum(len(r.reviews_overdue) for r in rows),
        supervision_overdue=sum(r.supervision == "overdue" for r in rows),
        opened=opened_in(events, period).total(),
        resolved=len(in_period),
        median_days_to_resolve=_median(in_period),
    )


def _limited(compiled: CompiledPolicy, team_kind: str | None, summary: Summary) -> Summary:
    """A team's summary with its NQSW-per-team limit; the organisation's has none."""
    limit = None if team_kind is None else team_limit(compiled.policy, team_kind)
    if limit is None:
        return summary
    return replace(summary, nqsw_limit=limit.max_nqsws, limit_clause=limit.clause)


def opened_in(events: Iterable[BreachEvent], period: Period) -> Counter[str]:
    """Breaches opened in the period, by NQSW ref."""
    return Counter(e.worker for e in events if e.kind == "opened" and _day(e.at) in period)


def _open_breaches(events: Iterable[BreachEvent], on: dt.date) -> dict[str, list[OpenBreach]]:
    """The breaches still open when the trail given ends, by NQSW: for a past period, those
    open at its end, not today's."""
    open_now: dict[tuple[str, str], list[OpenBreach]] = defaultdict(list)
    for e in sorted(events, key=lambda e: e.at):
        key = (e.worker, e.rule)
        if e.kind == "opened":
            day = _day(e.at)
            open_now[key].append(
                OpenBreach(e.rule, e.clause or "", e.cases, day, max(0, (on - day).days), False)
            )
        elif e.kind == "resolved" and open_now[key]:
            open_now[key].pop(0)
        elif e.kind == "acknowledged" and open_now[key]:
            open_now[key][-1] = replace(open_now[key][-1], acknowledged=True)
    out: dict[str, list[OpenBreach]] = defaultdict(list)
    for (worker, _), found in sorted(open_now.items()):
        out[worker] += found
    return out


def _day(at: dt.datetime) -> dt.date:
    return at.astimezone(LONDON).date()


def _resolutions(events: Iterable[BreachEvent]) -> list[tuple[dt.datetime, float]]:
    """Each resolution with the days since its breach opened. The store keeps one
    unresolved breach per NQSW and rule, so a resolution closes the earliest opening of
    that NQSW and rule still unmatched; a resolution of a breach opened before the trail
    began has no opening and no duration."""
    opened: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    out: list[tuple[dt.datetime, float]] = []
    for e in sorted(events, key=lambda e: e.at):
        key = (e.worker, e.rule)
        if e.kind == "opened":
            opened[key].append(e.at)
        elif e.kind == "resolved" and opened[key]:
            start = opened[key].pop(0)
            out.append((e.at, (e.at - start).total_seconds() / 86400))
    return out


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _weeks(events: Sequence[BreachEvent], end: dt.date) -> tuple[Week, ...]:
    last_monday = end - dt.timedelta(days=end.weekday())
    mondays = [last_monday - dt.timedelta(weeks=n) for n in reversed(range(WEEKS_SHOWN))]
    resolutions = _resolutions(events)
    weeks: list[Week] = []
    for monday in mondays:
        week = Period(monday, monday + dt.timedelta(days=6))
        took = [days for at, days in resolutions if _day(at) in week]
        weeks.append(
            Week(
                start=monday,
                opened=sum(e.kind == "opened" and _day(e.at) in week for e in events),
                resolved=len(took),
                median_days_to_resolve=_median(took),
            )
        )
    return tuple(weeks)


def _mix(compiled: CompiledPolicy, rows: Sequence[NqswRow]) -> tuple[WorkTypeMix, ...]:
    lead: Counter[str] = Counter()
    co_work: Counter[str] = Counter()
    for r in rows:
        lead.update(dict(r.lead_mix))
        co_work.update(dict(r.co_work_mix))
    return tuple(
        WorkTypeMix(wt.id, wt.name, lead[wt.id], co_work[wt.id])
        for wt in compiled.policy.work_types
        if lead[wt.id] or co_work[wt.id]
    )
