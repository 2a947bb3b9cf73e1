"""The equality view's split, against figures worked out by hand, and its suppression of
small groups.

Twelve NQSWs, each capped at 16 children as lead (`R1`…`R12`):

| NQSW | route | sex | children | held as lead | co-worked | open breach | opened in period |
|---|---|---|---|---|---|---|---|
| R1 | university | F | 16 | child_protection, 2 child_in_need | | yes | 2 |
| R2 | university | F | 12 | care_proceedings | | yes | 1 |
| R3 | university | F | 8 | 2 child_in_need | child_protection | | |
| R4 | university | F | 8 | 2 child_in_need | | | |
| R5 | university | F | 4 | child_in_need | | | |
| R6 | university | F | 0 | | | | |
| R7 | university | M | 4 | child_in_need | child_in_need | | |
| R8 | Step Up | M | 16 | child_protection, 3 child_in_need | | yes | 1 |
| R9 | Step Up | M | 14 | 4 child_in_need | | | |
| R10 | Step Up | M | 0 | | | | |
| R11 | Step Up | M | 2 | | child_protection | | |
| R12 | Step Up | (none) | 6 | 2 child_in_need | | | |

University (7): within policy 5 of 7; % of cap 100, 75, 50, 50, 25, 0, 25: median 50;
complex work as lead R1 and R2 (R3 only co-works it): 2 of 7; cases 3+1+3+2+1+0+2 = 12
of which 2 co-worked; breaches opened 2 + 1 = 3.
Step Up (5): within 4 of 5; % of cap 100, 87.5, 0, 12.5, 37.5: median 37.5; complex lead
R8 only: 1 of 5; cases 4+4+0+1+2 = 11, 1 co-worked; opened 1.
By sex, F (6): within 4 of 6; median of 100, 75, 50, 50, 25, 0 is 50; complex lead 2 of 6;
cases 10, 1 co-worked; opened 3. "not recorded" (R12) is the only small group, so M, the
smallest of the rest, is withheld: otherwise M's figures and the totals would give R12's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from handlers.reports.equality import (
    NOT_RECORDED,
    SMALL_GROUP,
    Group,
    Measures,
    complex_work_types,
    equality_view,
)
from handlers.reports.figures import NqswRow, OpenBreach
from policy import parse_policy, preset_text

COMPLEX = {"child_protection": "Child protection", "care_proceedings": "Care proceedings"}
BREACH = OpenBreach("cap", "1.1", ("C-1",), dt.date(2026, 11, 20), 3, False)
BASE = NqswRow(
    ref="R0",
    name="Someone",
    team="T-1",
    month_of_practice=6.0,
    programme_months=12,
    children=0,
    children_cap=16,
    points=None,
    points_cap=None,
    lead_mix=(),
    co_work_mix=(),
    open_breaches=(),
    reviews_overdue=(),
    supervision="within band",
    supervision_due=None,
    last_supervision=None,
)


def _row(
    n: int,
    children: int,
    lead: tuple[tuple[str, int], ...] = (),
    co_work: tuple[tuple[str, int], ...] = (),
    breach: bool = False,
) -> NqswRow:
    return dataclasses.replace(
        BASE,
        ref=f"R{n}",
        children=children,
        lead_mix=lead,
        co_work_mix=co_work,
        open_breaches=(BREACH,) if breach else (),
    )


CIN, CP, COURT = "child_in_need", "child_protection", "care_proceedings"
ROWS = (
    _row(1, 16, ((CIN, 2), (CP, 1)), breach=True),
    _row(2, 12, ((COURT, 1),), breach=True),
    _row(3, 8, ((CIN, 2),), ((CP, 1),)),
    _row(4, 8, ((CIN, 2),)),
    _row(5, 4, ((CIN, 1),)),
    _row(6, 0),
    _row(7, 4, ((CIN, 1),), ((CIN, 1),)),
    _row(8, 16, ((CIN, 3), (CP, 1)), breach=True),
    _row(9, 14, ((CIN, 4),)),
    _row(10, 0),
    _row(11, 2, (), ((CP, 1),)),
    _row(12, 6, ((CIN, 2),)),
)
COHORTS = {
    **{f"R{n}": {"route": "university", "sex": "F"} for n in range(1, 7)},
    "R7": {"route": "university", "sex": "M"},
    **{f"R{n}": {"route": "Step Up", "sex": "M"} for n in range(8, 12)},
    "R12": {"route": "Step Up"},
}
OPENED = {"R1": 2, "R2": 1, "R8": 1}


def test_each_group_stands_as_worked_by_hand() -> None:
    view = equality_view(ROWS, COHORTS, ("route", "sex"), COMPLEX, OPENED)
    assert view.complex_work == ("Child protection", "Care proceedings")
    route, sex = view.attributes
    assert route.attribute == "route"
    assert route.groups == (
        Group("university", Measures(7, 5 / 7, 50.0, 2 / 7, 2 / 12, 3)),
        Group("Step Up", Measures(5, 4 / 5, 37.5, 1 / 5, 1 / 11, 1)),
    )
    assert sex.groups == (
        Group("F", Measures(6, 4 / 6, 50.0, 2 / 6, 1 / 10, 3)),
        Group("M", None, "withheld"),
        Group(NOT_RECORDED, None, "fewer than 5"),
    )


def test_small_groups_show_no_figure() -> None:
    """Two small groups hide each other: nothing is withheld besides them."""
    cohorts = {f"R{n}": {"team": "a" if n < 3 else "b" if n < 6 else "c"} for n in range(1, 13)}
    (split,) = equality_view(ROWS, cohorts, ("team",), COMPLEX, OPENED).attributes
    assert [(g.value, g.suppressed) for g in split.groups] == [
        ("c", None),
        ("b", "fewer than 5"),
        ("a", "fewer than 5"),
    ]
    c = split.groups[0].measures
    assert c is not None and c.nqsws == 7
    # One small group, with only one other to complement it: both are hidden.
    (split,) = equality_view(ROWS, {"R1": {"x": "y"}}, ("x",), COMPLEX, OPENED).attributes
    assert split.groups == (
        Group("y", None, "fewer than 5"),
        Group(NOT_RECORDED, None, "withheld"),
    )


def test_every_value_of_one_attribute_and_no_nqsw() -> None:
    """A group exactly at the threshold is shown; an empty report has no groups."""
    cohorts = {r.ref: {"x": "same"} for r in ROWS[:SMALL_GROUP]}
    (split,) = equality_view(ROWS[:SMALL_GROUP], cohorts, ("x",), COMPLEX, {}).attributes
    (group,) = split.groups
    assert group.measures is not None and group.measures.nqsws == SMALL_GROUP
    assert equality_view((), {}, ("x",), COMPLEX, {}).attributes[0].groups == ()


def test_a_caseload_that_cannot_be_weighed_is_left_out_of_the_median() -> None:
    rows = tuple(dataclasses.replace(r, problem="unknown work type") for r in ROWS[:4])
    cohorts = {r.ref: {"x": "all"} for r in ROWS[:6]}
    (split,) = equality_view((*rows, *ROWS[4:6]), cohorts, ("x",), COMPLEX, {}).attributes
    measures = split.groups[0].measures
    # Only R5 (4 of 16: 25%) and R6 (0%) are weighed against the cap.
    assert measures is not None and measures.median_of_cap == 12.5


def test_complex_work_is_what_the_policy_holds_back_from_an_nqsw_as_lead() -> None:
    """Stoke lets an NQSW lead child in need from the start (with conditions): not complex.
    Every other work type some gate names waits for a review or an agreement."""
    source, text = preset_text("stoke-childrens")
    held_back = complex_work_types(parse_policy(text, source))
    assert "child_in_need" not in held_back
    assert list(held_back)[:3] == ["child_protection", "child_in_care", "care_proceedings"]
    source, text = preset_text("phased-academy")
    assert complex_work_types(parse_policy(text, source)) == {}
