"""Every figure of the report for the world with a week of history (`conftest`), against
values worked out by hand, on the fakes and on every database.

Worked by hand, on Monday 23 November 2026 (stoke-childrens: 16 children as lead, no
supervision recorded but NQ-7's, reviews at months 3, 6, 9 and 12):
- NQ-11: ASYE from 29 December 2025, 10 months 25 days: month 10.81; C-BIG-1 and C-BIG-2,
  8 + 7 = 15 children as lead.
- NQ-4: from 10 August 2026, 3 months 13 days: 3.43; C-CIN-4 (1 child) and C-CP-9 (1) as
  lead, the latter breaking two rules since 09:00 today.
- NQ-7: from 4 May 2026, 6 months 19 days: 6.63; C-CIN-1 (2) and C-CIN-2 (3); held C-CP-1
  from Monday 16th 10:00 to Wednesday 18th 22:00 UTC: one rule broken for 2.5 days.
- NQ-B (team T-2): from 4 May 2026 with 21 days of leave: 5.94; nothing held; the month-3
  review (due 25 August) never recorded.
"""

from __future__ import annotations

import datetime as dt

import pytest

from handlers.errors import UnknownOrganisation, UnknownTeam
from handlers.ports import Transactions
from handlers.reports.caseload_report import caseload_report
from handlers.reports.figures import Period, Report, build_report
from policy import compile_policy, parse_policy, preset_text
from tests.chat.world import NOW, STOKE
from tests.policy.test_teams import COUNCIL

WEEK = Period(dt.date(2026, 11, 17), dt.date(2026, 11, 23))
CP_RULES = ("stoke.cp.lead-from-nine-months", "stoke.cp.none-before-six-month-review")


async def _report(tx: Transactions, period: Period = WEEK, team: str | None = None) -> Report:
    return await caseload_report(tx, STOKE, team, period, NOW)


async def test_each_nqsw_stands_as_worked_by_hand(council: Transactions) -> None:
    report = await _report(council)
    rows = {r.ref: r for r in report.nqsws}
    assert list(rows) == ["NQ-11", "NQ-4", "NQ-7", "NQ-B"]
    assert {ref: (r.team, r.month_of_practice, r.programme_months) for ref, r in rows.items()} == {
        "NQ-11": ("T-1", 10.81, 12),
        "NQ-4": ("T-1", 3.43, 12),
        "NQ-7": ("T-1", 6.63, 12),
        "NQ-B": ("T-2", 5.94, 12),
    }
    assert {ref: (r.children, r.children_cap, r.points) for ref, r in rows.items()} == {
        "NQ-11": (15, 16, None),
        "NQ-4": (2, 16, None),
        "NQ-7": (5, 16, None),
        "NQ-B": (0, 16, None),
    }
    assert rows["NQ-4"].lead_mix == (("child_in_need", 1), ("child_protection", 1))
    assert rows["NQ-11"].lead_mix == (("child_in_need", 2),)
    assert all(r.co_work_mix == () for r in rows.values())
    nq4 = rows["NQ-4"].open_breaches
    assert [(b.rule, b.cases, b.opened_on, b.age_days) for b in nq4] == [
        (rule, ("C-CP-9",), dt.date(2026, 11, 23), 0) for rule in CP_RULES
    ]
    assert all(b.clause.startswith("Phased Increase of Complex Working") for b in nq4)
    assert [r.ref for r in rows.values() if r.within_policy] == ["NQ-11", "NQ-7", "NQ-B"]
    assert {ref: r.reviews_overdue for ref, r in rows.items()} == {
        "NQ-11": (),
        "NQ-4": (),
        "NQ-7": (),
        "NQ-B": (3,),
    }
    assert rows["NQ-7"].supervision == "within band"
    assert rows["NQ-7"].last_supervision == dt.date(2026, 11, 20)
    assert {r.supervision for ref, r in rows.items() if ref != "NQ-7"} == {"overdue"}


async def test_teams_and_the_organisation_add_up(council: Transactions) -> None:
    report = await _report(council)
    t1, t2 = report.teams
    assert (t1.ref, t1.name, t2.ref) == ("T-1", "Assessment Team 1", "T-2")
    assert (t1.nqsws, t1.within_policy, t1.children, t1.cases, t1.co_worked) == (3, 2, 22, 6, 0)
    assert (t1.open_breaches, t1.oldest_breach_days) == (2, 0)
    # Opened in the period: NQ-4's two today; NQ-7's opened on the 16th, before it, and
    # was resolved on the 18th, within it, after 2.5 days.
    assert (t1.opened, t1.resolved, t1.median_days_to_resolve) == (2, 1, 2.5)
    assert (t1.reviews_overdue, t1.supervision_overdue) == (0, 2)
    assert (t2.nqsws, t2.within_policy, t2.children, t2.opened, t2.resolved) == (1, 1, 0, 0, 0)
    assert (t2.reviews_overdue, t2.supervision_overdue, t2.co_work_ratio) == (1, 1, None)
    total = report.total
    assert (total.nqsws, total.within_policy, total.share_within_policy) == (4, 3, 0.75)
    assert (total.children, total.cases, total.co_work_ratio) == (22, 6, 0.0)
    assert (total.opened, total.resolved, total.median_days_to_resolve) == (2, 1, 2.5)
    assert (report.policy, report.scope, report.on) == (
        "stoke-childrens v2024.09",
        "Stoke",
        dt.date(2026, 11, 23),
    )
    assert [(m.work_type, m.lead, m.co_work) for m in report.mix] == [
        ("child_in_need", 5, 0),
        ("child_protection", 1, 0),
    ]


async def test_weeks_come_from_the_audit_trail(council: Transactions) -> None:
    weeks = (await _report(council)).weeks
    assert len(weeks) == 12
    assert weeks[0].start == dt.date(2026, 9, 7)
    assert all(w.start.weekday() == 0 for w in weeks)
    assert [(w.start, w.opened, w.resolved, w.median_days_to_resolve) for w in weeks[-2:]] == [
        (dt.date(2026, 11, 16), 1, 1, 2.5),
        (dt.date(2026, 11, 23), 2, 0, None),
    ]
    assert all((w.opened, w.resolved) == (0, 0) for w in weeks[:-2])


async def test_a_past_period_shows_what_was_open_at_its_end(council: Transactions) -> None:
    """On Tuesday 17th NQ-7 still held C-CP-1 as lead, and NQ-4's breaches were not yet
    found (the world's history puts them today)."""
    report = await _report(council, Period(dt.date(2026, 11, 11), dt.date(2026, 11, 17)))
    rows = {r.ref: r for r in report.nqsws}
    assert report.on == dt.date(2026, 11, 17)
    assert [b.rule for b in rows["NQ-7"].open_breaches] == ["stoke.cp.lead-from-nine-months"]
    assert rows["NQ-7"].open_breaches[0].age_days == 1
    assert rows["NQ-7"].children == 5 + 2  # C-CP-1 held that day: 2 children
    assert rows["NQ-4"].open_breaches == ()
    assert (report.total.opened, report.total.resolved) == (1, 0)


async def test_one_team(council: Transactions) -> None:
    report = await _report(council, team="T-2")
    assert [r.ref for r in report.nqsws] == ["NQ-B"]
    assert [t.ref for t in report.teams] == ["T-2"]
    assert report.scope == "Stoke, Children in Care Team"
    assert (report.total.nqsws, report.total.opened) == (1, 0)
    assert report.mix == ()


async def test_unknown_organisation_or_team(council: Transactions) -> None:
    with pytest.raises(UnknownOrganisation):
        await caseload_report(council, "nowhere", None, WEEK, NOW)
    with pytest.raises(UnknownTeam):
        await _report(council, team="T-9")


async def test_a_team_over_the_policys_nqsw_limit_is_shown(council: Transactions) -> None:
    """Under a revision of Stoke's policy with `tests/policy/test_teams.py`'s limits: one NQSW
    in an assessment team (T-1 has three), three in any other (T-2 has one)."""
    policy = parse_policy(COUNCIL, "stoke-teams.yaml", parent=preset_text)
    async with council.read() as uow:
        picture = await uow.reports.picture(STOKE, None, NOW.date(), NOW)
    report = build_report(
        compile_policy(policy),
        picture,
        org_id=STOKE,
        org_name="Stoke",
        team=None,
        on=NOW.date(),
        period=WEEK,
    )
    t1, t2 = report.teams
    assert (t1.nqsws, t1.nqsw_limit, t1.limit_clause, t1.over_limit) == (
        3,
        1,
        "Workforce plan 4.2",
        True,
    )
    assert (t2.nqsws, t2.nqsw_limit, t2.over_limit) == (1, 3, False)
    assert report.total.nqsw_limit is None  # a limit is a team's, not the organisation's
