"""NQSW-per-team limits: a council's file states them (one survey answer: "a maximum of 3
that can go into each team … capped to 1 in each" assessment team), and the report reads
the one for each team's kind."""

from __future__ import annotations

import pytest

from policy import PolicyFileError, parse_policy, preset_text, team_limit

COUNCIL = """\
extends: stoke-childrens
id: stoke-teams
version: "2025.1"
team_limits:
  - id: teams.assessment.one
    clause: "Workforce plan 4.2"
    summary: "At most one NQSW in each assessment team."
    team_kinds: [assessment]
    max_nqsws: 1
  - id: teams.any.three
    clause: "Workforce plan 4.1"
    summary: "At most three NQSWs in any team."
    max_nqsws: 3
"""


@pytest.mark.parametrize(
    ("kind", "limit", "clause"),
    [
        ("assessment", 1, "Workforce plan 4.2"),  # the one naming the kind wins
        ("children_in_care", 3, "Workforce plan 4.1"),  # else the general one
    ],
)
def test_each_team_kind_has_its_limit(kind: str, limit: int, clause: str) -> None:
    policy = parse_policy(COUNCIL, "stoke-teams.yaml", parent=preset_text)
    found = team_limit(policy, kind)
    assert found is not None and (found.max_nqsws, found.clause) == (limit, clause)


def test_no_limit_where_the_policy_sets_none() -> None:
    source, text = preset_text("stoke-childrens")
    assert team_limit(parse_policy(text, source), "assessment") is None


def test_the_smaller_of_two_for_the_same_kind() -> None:
    council = (
        COUNCIL
        + """\
  - id: teams.assessment.two
    clause: "Workforce plan 4.3"
    summary: "At most two NQSWs in each assessment team."
    team_kinds: [assessment, duty]
    max_nqsws: 2
"""
    )
    policy = parse_policy(council, "stoke-teams.yaml", parent=preset_text)
    limits = [team_limit(policy, kind) for kind in ("assessment", "duty")]
    assert [None if t is None else t.max_nqsws for t in limits] == [1, 2]


def test_a_limit_id_used_twice_or_a_negative_limit_is_refused() -> None:
    doubled = COUNCIL.replace("teams.any.three", "teams.assessment.one")
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(doubled, "stoke-teams.yaml", parent=preset_text)
    assert "used twice" in caught.value.message
    negative = COUNCIL.replace("max_nqsws: 3", "max_nqsws: -1")
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(negative, "stoke-teams.yaml", parent=preset_text)
    assert "team_limits" in str(caught.value)
