"""`policy.simulate`: one NQSW under two policies, worked by hand from the presets.

On 1 December 2026 an NQSW whose ASYE began on 4 May 2026 is in month 6.9 (full time, no
leave), with the three- and six-month reviews passed.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

from policy import (
    Case,
    Caseload,
    CaseloadRequest,
    CompiledPolicy,
    Role,
    Worker,
    compile_policy,
    parse_policy,
    preset_text,
)
from policy.simulate import Movement, Standing, Undecided, compare, judge

ON = dt.date(2026, 12, 1)
WORKER = Worker(asye_start=dt.date(2026, 5, 4), reviews_passed=frozenset({3, 6}))


@cache
def preset(name: str) -> CompiledPolicy:
    source, text = preset_text(name)
    return compile_policy(parse_policy(text, source))


def draft(extra: str) -> CompiledPolicy:
    text = f'extends: stoke-childrens\nid: stoke-draft\nversion: "d1"\n{extra}'
    return compile_policy(parse_policy(text, "draft.yaml", parent=preset_text))


def request(*cases: Case, worker: Worker = WORKER) -> CaseloadRequest:
    return CaseloadRequest(on=ON, worker=worker, caseload=Caseload(cases))


def case(ref: str, work_type: str, children: int, **more: object) -> Case:
    return Case(case_id=ref, work_type=work_type, children=children, **more)  # type: ignore[arg-type]


def test_a_flag_the_proposed_policy_does_not_name_is_set_aside_and_said() -> None:
    # Stoke: a child in care in a settled placement may be held before the nine-month
    # review; Dorset names no such flag, and has no rule on children in care at all.
    settled = case("C-1", "child_in_care", 1, flags=frozenset({"settled_placement"}))
    result = compare(preset("stoke-childrens"), preset("dorset-childrens"), request(settled))
    assert result.movement is Movement.UNCHANGED
    assert isinstance(result.proposed, Standing)
    assert result.proposed.set_aside == ("flag settled_placement (case C-1)",)
    assert isinstance(result.current, Standing) and result.current.set_aside == ()


def test_a_work_type_the_proposed_policy_does_not_name_is_not_guessed() -> None:
    ico = case("C-2", "interim_care_order", 1)
    cin = case("C-3", "care_order_at_home", 2)
    result = compare(preset("stoke-childrens"), preset("dorset-childrens"), request(ico, cin))
    assert result.movement is Movement.UNDECIDED
    assert result.proposed == Undecided(
        "dorset-childrens has no work type care_order_at_home, interim_care_order (case C-2, C-3)"
    )
    assert (result.opened, result.closed) == ((), ())


def test_an_exception_set_aside_one_policy_s_rule_not_another_s() -> None:
    # The CP lead at month 6.9 was allowed under Stoke by a team manager's override of its
    # nine-month rule; Dorset's own rule (lead from 9 months) was never set aside.
    held = case(
        "C-4", "child_protection", 1, overrides=frozenset({"stoke.cp.lead-from-nine-months"})
    )
    result = compare(preset("stoke-childrens"), preset("dorset-childrens"), request(held))
    assert result.movement is Movement.INTO
    assert [b.rule for b in result.opened] == ["dorset.cp.co-work-six-to-nine-months"]


def test_a_reworded_clause_is_no_move_but_a_new_figure_is() -> None:
    over = request(case("C-5", "child_in_need", 17))
    reworded = draft('caps: {children: {clause: "Section 9 (renumbered)"}}')
    same = compare(preset("stoke-childrens"), reworded, over)
    assert same.movement is Movement.UNCHANGED and same.opened == same.closed == ()

    lower = compare(
        preset("stoke-childrens"), draft("caps: {children: {phases: [{max: 12}]}}"), over
    )
    assert lower.movement is Movement.CHANGED
    assert [b.detail for b in lower.opened] == ["17 children against a cap of 12"]
    assert [b.detail for b in lower.closed] == ["17 children against a cap of 16"]


def test_out_of_breach_and_the_figures_under_each_policy() -> None:
    # Month 6.9, reviews 3 and 6: a CP case co-worked is fine under both; 13 children held
    # as lead break a cap of 12, not Dorset's 14 after the six-month review.
    twelve_cap = draft("caps: {children: {phases: [{max: 12}]}}")
    load = request(
        case("C-6", "child_in_need", 13), case("C-7", "child_protection", 3, role=Role.CO_WORK)
    )
    result = compare(twelve_cap, preset("dorset-childrens"), load)
    assert result.movement is Movement.OUT
    assert isinstance(result.current, Standing) and isinstance(result.proposed, Standing)
    assert (result.current.caseload.children, result.current.caseload.children_cap) == (13, 12)
    assert (result.proposed.caseload.children, result.proposed.caseload.children_cap) == (13, 14)
    assert result.current.month_of_practice == result.proposed.month_of_practice == 6.9


def test_judge_under_a_points_cap_reports_points() -> None:
    # Skills for Care: child in need weighs 4 points, co-working counts; 90% of 100.
    standing = judge(
        preset("skills-for-care-baseline"),
        request(
            case("C-8", "child_in_need", 2), case("C-9", "child_in_need", 1, role=Role.CO_WORK)
        ),
    )
    assert isinstance(standing, Standing)
    assert (standing.caseload.points, standing.caseload.points_cap) == (8, 90)
    assert standing.breaches == ()
