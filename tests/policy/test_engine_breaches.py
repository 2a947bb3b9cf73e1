"""Breaches of a long caseload stay readable and fit the store."""

from __future__ import annotations

from policy import CaseloadRequest, breaches, compile_policy, load_preset, parse_caseload_request
from policy.engine import DETAIL_LENGTH


def _request(cases: int) -> CaseloadRequest:
    return parse_caseload_request(
        {
            "on": "2025-03-01",
            "worker": {"asye_start": "2025-01-06"},
            "caseload": [
                {"case_id": f"C-{'9' * 40}-{i}", "work_type": "private_law", "children": 1}
                for i in range(cases)
            ],
        }
    )


def test_one_breach_names_every_case_but_its_detail_stays_short() -> None:
    compiled = compile_policy(load_preset("stoke-childrens"))
    found = breaches(compiled, _request(30))
    rule = {b.rule: b for b in found}["stoke.private-law.none-before-three-month-review"]
    assert len(rule.case_ids) == 30
    assert len(rule.detail) <= DETAIL_LENGTH
    assert rule.detail.endswith("more")
    short = {b.rule: b for b in breaches(compiled, _request(1))}
    detail = short["stoke.private-law.none-before-three-month-review"].detail
    assert detail.endswith("held as lead") and "more" not in detail
