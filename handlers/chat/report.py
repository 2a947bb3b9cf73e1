"""`/caseload report`: the week's caseload report in chat, for the asker only.

A team's managers see their own team; the ASYE lead, the principal social worker and the
head of service the whole organisation, or any one team; the principal social worker
alone the equality view (`report equality`). The figures are the command line
report's (`handlers.reports`); chat shows the headline, the totals and the NQSWs who need
attention first, and points to `caseload-bot report` for every format and chart.
"""

from __future__ import annotations

import datetime as dt

from handlers.chat import wording as w
from handlers.chat.asker import whoami
from handlers.chat.commands import Asker, Report
from handlers.chat.permissions import Ask, Reach, reach, roles_for
from handlers.chat.replies import Bar, Chart, Facts, MixBar, Reply, Section, Tone, WeekBar
from handlers.errors import EqualityViewOff, NoTeam, NotInYourScope, NotYours, UnknownTeam
from handlers.ports import Transactions
from handlers.reports import figures
from handlers.reports.caseload_report import caseload_report, london_today
from handlers.reports.equality import SMALL_GROUP, EqualityView, Group
from handlers.reports.figures import NqswRow, Period

MOST_BARS = 40
"""Beyond this many NQSWs the caseload chart shows those highest against their cap."""
SHOWN = 15
"""NQSWs listed in chat; the rest are counted, and all are in the command line report."""
WHAT = "Seeing a caseload report"


async def report(tx: Transactions, asker: Asker, command: Report, at: dt.datetime) -> Reply:
    if command.equality:
        return await _equality(tx, asker, at)
    async with tx.read() as uow:
        who = await whoami(uow, asker)
        roles = who.person.roles
        widest = reach(Ask.REPORT, roles)
        if widest is None:
            allowed = roles_for(Ask.REPORT)
            raise NotYours(what=WHAT, roles=w.roles(allowed), yours=w.roles(roles))
        team_ref: str | None = None
        if command.team is not None:
            team = await uow.teams.get(who.org.id, command.team)
            if team is None:
                raise UnknownTeam(ref=command.team)
            if team.id != who.person.team_id and widest < Reach.ORG:
                raise NotInYourScope(what=WHAT, worker=team.name, scope=_ORG_WIDE)
            team_ref = team.ref
        elif command.whole or widest is Reach.ORG:
            if widest < Reach.ORG:
                raise NotInYourScope(what=WHAT, worker=who.org.name, scope=_ORG_WIDE)
        else:
            own = (
                None
                if who.person.team_id is None
                else await uow.teams.get_by_id(who.person.team_id)
            )
            if own is None:
                raise NoTeam()
            team_ref = own.ref
    today = london_today(at)
    period = Period(today - dt.timedelta(days=6), today)
    return report_reply(await caseload_report(tx, who.org.id, team_ref, period, at))


_ORG_WIDE = "the ASYE lead, the principal social worker or the head of service"


async def _equality(tx: Transactions, asker: Asker, at: dt.datetime) -> Reply:
    """The principal social worker's alone: anyone else is refused before anything of the
    organisation's cohorts is read."""
    async with tx.read() as uow:
        who = await whoami(uow, asker)
    if reach(Ask.EQUALITY, who.person.roles) is None:
        raise NotYours(
            what="Seeing the equality view",
            roles=w.roles(roles_for(Ask.EQUALITY)),
            yours=w.roles(who.person.roles),
        )
    today = london_today(at)
    period = Period(today - dt.timedelta(days=6), today)
    rep = await caseload_report(tx, who.org.id, None, period, at, equality=True)
    if rep.equality is None:
        raise EqualityViewOff(org=who.org.name)
    return Reply(
        text=f"Equality view, {rep.scope}, {w.day(rep.on)}: the report's measures by cohort,"
        " for the principal social worker only",
        blocks=(
            Facts(
                (
                    ("NQSWs", str(rep.total.nqsws)),
                    ("Breaches opened this week", str(rep.total.opened)),
                )
            ),
            *equality_sections(rep.equality),
        ),
        tone=Tone.NEUTRAL,
    )


def equality_sections(view: EqualityView) -> tuple[Section, ...]:
    """One section per attribute, a line per group, then how to read them."""
    sections = [
        Section(tuple(_group_line(g) for g in split.groups), title=f"By {split.attribute}")
        for split in view.attributes
    ]
    complex_work = ", ".join(view.complex_work) or "none (the policy holds no work back)"
    sections.append(
        Section(
            (
                f"Complex work: {complex_work}: the work the policy does not let an NQSW lead"
                " until a milestone.",
                f"A group of fewer than {SMALL_GROUP} NQSWs shows no figures; where only one"
                " group is that small, the next smallest is withheld too, so that its figures"
                " cannot be worked out from the totals.",
                "Cohort attributes are special-category data: for the principal social worker"
                " only; please do not forward.",
            ),
            title="How to read it",
        )
    )
    return tuple(sections)


def _group_line(g: Group) -> str:
    m = g.measures
    if m is None:
        if g.suppressed == "withheld":
            return f"{g.value}: figures withheld (a smaller group's would follow from them)"
        return f"{g.value}: fewer than {SMALL_GROUP} NQSWs"
    parts = [
        f"{g.value}: {w.plural(m.nqsws, 'NQSW')}",
        f"{_pct(m.within_policy)} within policy",
        "median caseload "
        + ("-" if m.median_of_cap is None else f"{w.number(m.median_of_cap)}% of the cap"),
        f"{_pct(m.complex_lead)} lead complex work",
        "co-work ratio " + ("-" if m.co_work_ratio is None else _pct(m.co_work_ratio)),
        f"{w.plural(m.breaches_opened, 'breach', 'breaches')} opened",
    ]
    return "; ".join(parts)


def _pct(share: float) -> str:
    return f"{round(100 * share)}%"


def _attention(row: NqswRow) -> tuple[int, float, str]:
    """Breaches first (oldest first), then the fullest caseloads."""
    oldest = max((b.age_days for b in row.open_breaches), default=-1)
    fullness = row.children / row.children_cap if row.children_cap else 0.0
    return (-oldest, -fullness, row.ref)


def _line(row: NqswRow) -> str:
    parts = [f"{row.name} ({row.ref}): {w.month(row.month_of_practice)}"]
    parts.append(row.problem or w.children(row.children, row.children, row.children_cap))
    if row.points is not None:
        parts.append(w.points(row.points, row.points, row.points_cap))
    for b in row.open_breaches:
        state = ", acknowledged" if b.acknowledged else ""
        parts.append(f"breach of {b.clause} on {', '.join(b.cases)} for {b.age_days} days{state}")
    if row.reviews_overdue:
        parts.append("review overdue: " + ", ".join(f"month {m}" for m in row.reviews_overdue))
    if row.supervision == "overdue":
        parts.append("supervision overdue")
    return "; ".join(parts)


def report_reply(rep: figures.Report) -> Reply:
    total = rep.total
    within = f"{total.within_policy} of {total.nqsws}"
    oldest = total.oldest_breach_days
    median = total.median_days_to_resolve
    limit: tuple[tuple[str, str], ...] = ()
    if total.nqsw_limit is not None:
        over = ": over the limit" if total.over_limit else ""
        limit = (
            (
                "NQSWs in the team",
                f"{total.nqsws} of at most {total.nqsw_limit}{over} ({total.limit_clause})",
            ),
        )
    facts = (
        *limit,
        ("NQSWs within policy", within),
        ("Children held by NQSWs", str(total.children)),
        (
            "Open breaches",
            str(total.open_breaches) + ("" if oldest is None else f" (oldest {oldest} days)"),
        ),
        (
            "This week",
            f"{w.plural(total.opened, 'breach', 'breaches')} opened, {total.resolved} resolved"
            + ("" if median is None else f" (median {w.number(median)} days to resolve)"),
        ),
        ("Reviews overdue", str(total.reviews_overdue)),
        ("Supervision overdue", w.plural(total.supervision_overdue, "NQSW")),
    )
    rows = sorted(rep.nqsws, key=_attention)
    lines = tuple(_line(r) for r in rows[:SHOWN])
    if len(rows) > SHOWN:
        lines += (f"and {len(rows) - SHOWN} more",)
    command = f"caseload-bot report --org {rep.org_id}"
    if rep.team is not None:
        command += f" --team {rep.team}"
    trend = (
        f"Breaches opened per week, the last {len(rep.weeks)}: "
        + " ".join(str(week.opened) for week in rep.weeks),
        f"Every figure, as CSV, HTML and charts: `{command}`",
    )
    return Reply(
        text=f"Caseload report, {rep.scope}, {w.day(rep.on)}: {within} NQSWs within policy",
        blocks=(
            Facts(facts),
            Section(lines or ("Nobody here is on the ASYE.",), title="NQSWs, most in need first"),
            Section(trend, title="Trend"),
        ),
        tone=Tone.GOOD if total.within_policy == total.nqsws else Tone.CAUTION,
        chart=chart_of(rep),
    )


def chart_of(rep: figures.Report) -> Chart:
    rows = list(rep.nqsws)
    points = bool(rows) and all(r.children_cap is None for r in rows)
    points = points and any(r.points_cap is not None for r in rows)

    def bar(r: NqswRow) -> Bar:
        if points:
            return Bar(r.ref, r.points or 0.0, r.points_cap)
        return Bar(r.ref, float(r.children), r.children_cap)

    bars = [bar(r) for r in rows]
    if len(bars) > MOST_BARS:
        bars = sorted(bars, key=lambda b: (-(b.value / b.cap if b.cap else 0.0), b.label))
        bars = bars[:MOST_BARS]
    return Chart(
        title=f"Caseload report: {rep.scope}, {rep.on.day} {rep.on:%B %Y}",
        unit="points" if points else "children",
        bars=tuple(bars),
        of=len(rows),
        weeks=tuple(
            WeekBar(w.start, w.opened, w.resolved, w.median_days_to_resolve) for w in rep.weeks
        ),
        mix=tuple(MixBar(m.name, m.lead, m.co_work) for m in rep.mix),
    )
