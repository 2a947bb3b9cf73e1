"""Every preset's given/expect table, one pytest case per row, each row citing its clause."""

from __future__ import annotations

import pytest

from policy import (
    Outcome,
    compile_policy,
    decide,
    load_preset,
    parse_decision_request,
    parse_policy,
    preset_ids,
    preset_text,
)
from policy.presets import preset_tests_text
from policy.suite import SuiteCase, parse_suite, run_case


def _rows() -> list[object]:
    rows: list[object] = []
    for preset in preset_ids():
        found = preset_tests_text(preset)
        assert found is not None, f"preset {preset} ships without a .test.yaml table"
        suite = parse_suite(found[1], found[0])
        assert suite.policy == preset
        rows += [
            pytest.param(preset, case, suite.defaults, id=f"{preset}: {case.name} [{case.clause}]")
            for case in suite.cases
        ]
    return rows


@pytest.mark.parametrize(("preset", "case", "defaults"), _rows())
def test_preset_table(preset: str, case: SuiteCase, defaults: dict[str, object]) -> None:
    result = run_case(compile_policy(load_preset(preset)), case, defaults)
    assert result.passed, "\n".join(result.failures)


def test_every_rule_that_can_bind_is_made_to_bind_by_some_row() -> None:
    """A table that never makes a rule bind is not testing it."""
    for preset in preset_ids():
        policy = load_preset(preset)
        found = preset_tests_text(preset)
        assert found is not None
        suite = parse_suite(found[1], found[0])
        named = {
            rule
            for case in suite.cases
            for key in ("blocking", "rules")
            for rule in case.expect.get(key, [])
        }
        binding = [g.id for g in policy.gates if g.lead is not None or g.co_work is not None]
        binding += [lim.id for lim in policy.limits]
        reference = policy.reference_caseload
        for unit in ("children", "points"):
            cap = getattr(policy.caps, unit)
            relative = cap is not None and any(p.relative is not None for p in cap.phases)
            if cap is not None and not (relative and getattr(reference, unit, None) is None):
                binding.append(cap.id)
        assert not [r for r in binding if r not in named], f"{preset}: no row makes these bind"


def test_a_council_extends_a_preset_with_its_reference_caseload() -> None:
    """The adults preset states 10% protection but no reference; a council's file supplies it."""
    council = """
extends: adults-office-based
id: example-adults
version: "2025.1"
reference_caseload: {children: 20, clause: "Team average caseload, 2025 workforce return"}
"""
    policy = parse_policy(council, "example-adults.yaml", parent=preset_text)
    assert policy.id == "example-adults"
    assert [g.id for g in policy.gates] == [g.id for g in load_preset("adults-office-based").gates]
    request = parse_decision_request(
        {
            "on": "2025-03-01",
            "worker": {"asye_start": "2025-01-06"},
            "caseload": [{"case_id": "LAS-1", "work_type": "adult_review", "children": 18}],
            "proposal": {"case_id": "LAS-2", "work_type": "adult_assessment", "children": 1},
        }
    )
    decision = decide(compile_policy(policy), request)
    assert decision.caseload.children_cap == 18
    assert decision.outcome is Outcome.CO_WORK
    assert [r.rule for r in decision.reasons if r.effect is not Outcome.ALLOW] == [
        "adults.cap.protected-caseload"
    ]
