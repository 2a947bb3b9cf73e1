"""A council's policy file with a mistake gets one specific line: file, line, path, what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.policy_source import read_policy
from policy import PolicyFileError, parse_policy, preset_text
from policy.loader import load_yaml

GOOD = """\
id: tiny
version: "1"
effective_from: 2025-01-01
name: Tiny
source: {title: Test policy, date: "2025"}
work_types:
  - {id: child_in_need, name: Child in need}
  - {id: child_protection, name: Child protection}
gates:
  - id: cp
    clause: "1.1"
    summary: "No child protection as lead before month 6."
    applies_to: {work_types: [child_protection]}
    lead: {months: 6}
"""


def _error(text: str) -> PolicyFileError:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(text, "council.yaml", parent=preset_text)
    return caught.value


def test_a_good_file_parses() -> None:
    assert parse_policy(GOOD, "council.yaml").gates[0].lead is not None


def test_a_misspelt_key_names_file_line_and_path() -> None:
    err = _error(GOOD.replace("applies_to:", "aplies_to:"))
    assert (err.source, err.line, err.path) == ("council.yaml", 13, "gates[0].aplies_to")
    assert "unknown key" in str(err)
    assert str(err).startswith("council.yaml:13: gates[0].aplies_to:")


def test_an_unknown_work_type_suggests_the_close_one() -> None:
    err = _error(GOOD.replace("work_types: [child_protection]", "work_types: [child_protecton]"))
    assert err.path == "gates[0].applies_to.work_types[0]"
    assert "did you mean 'child_protection'" in err.message
    assert err.line == 13


def test_a_requirement_with_two_milestones_is_refused() -> None:
    err = _error(GOOD.replace("lead: {months: 6}", "lead: {months: 6, review: 6}"))
    assert err.path == "gates[0].lead"
    assert "exactly one of months, review" in err.message


def test_a_wrong_type_says_what_is_expected() -> None:
    err = _error(GOOD.replace("lead: {months: 6}", "lead: {months: six}"))
    assert err.path == "gates[0].lead.months"
    assert "number" in err.message


def test_duplicate_rule_ids_are_refused() -> None:
    doubled = GOOD + GOOD[GOOD.index("  - id: cp") :]
    assert "used twice" in _error(doubled).message


def test_broken_yaml_names_the_line() -> None:
    err = _error(GOOD.replace("name: Tiny", "name: [Tiny"))
    assert "not valid YAML" in err.message
    assert err.line is not None


def test_extending_an_unknown_preset_is_refused() -> None:
    with pytest.raises(Exception, match="not a preset"):
        parse_policy("extends: no-such-preset\nid: x\n", "council.yaml", parent=preset_text)


def test_extends_merges_rules_by_id() -> None:
    council = """\
extends: stoke-childrens
id: stoke-local
version: "2025.1"
gates:
  - id: stoke.private-law.none-before-three-month-review
    clause: "Local variation 2"
    summary: "No private law before the six-month review."
    applies_to: {work_types: [private_law]}
    lead: {review: 6}
    co_work: {review: 6}
"""
    policy = parse_policy(council, "stoke-local.yaml", parent=preset_text)
    gates = {g.id: g for g in policy.gates}
    assert len(gates) == 11
    changed = gates["stoke.private-law.none-before-three-month-review"]
    assert changed.lead is not None and changed.lead.review == 6


def test_yaml_reads_on_as_a_key_not_a_boolean() -> None:
    assert load_yaml("on: 2025-01-01\nflag: true\nanswer: no") == {
        "on": __import__("datetime").date(2025, 1, 1),
        "flag": True,
        "answer": "no",
    }


def test_a_resolved_policy_reads_back_as_the_same_policy(tmp_path: Path) -> None:
    """What an organisation stores for a council file that extends a preset."""
    council = tmp_path / "council.yaml"
    council.write_text(
        "extends: adults-office-based\nid: council-adults\nversion: '2025.1'\n"
        "reference_caseload: {children: 20}\n",
        "utf-8",
    )
    policy, stored = read_policy(str(council))
    assert "extends" not in load_yaml(stored)
    assert parse_policy(stored, "stored.yaml") == policy
    assert policy.reference_caseload is not None and policy.reference_caseload.children == 20
