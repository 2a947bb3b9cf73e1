"""The JSON shapes of decisions, entitlements and breaches: one definition for the CLI and the API."""

from __future__ import annotations

from typing import Any

from policy.engine import AllowedFrom, Breach, Decision, Entitlements, Reason


def decision_json(d: Decision) -> dict[str, Any]:
    c = d.caseload
    return {
        "outcome": d.outcome.value,
        "requested_role": d.requested_role.value,
        "overridden": d.overridden,
        "reasons": [reason_json(r) for r in d.reasons],
        "conditions": list(d.conditions),
        "allowed_from": allowed_from_json(d.allowed_from),
        "caseload": {
            "children_before": c.children_before,
            "children_after": c.children_after,
            "children_cap": _number(c.children_cap),
            "points_before": _number(c.points_before),
            "points_after": _number(c.points_after),
            "points_cap": _number(c.points_cap),
        },
        "month_of_practice": d.month_of_practice,
        "policy": {"id": d.policy_id, "version": d.policy_version},
    }


def reason_json(r: Reason) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule": r.rule,
        "clause": r.clause,
        "summary": r.summary,
        "effect": r.effect.value,
    }
    if r.overridden:
        out["overridden"] = True
    if r.note:
        out["note"] = r.note
    return out


def allowed_from_json(a: AllowedFrom | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {"date": a.date.isoformat() if a.date else None, "milestone": a.milestone}


def entitlements_json(e: Entitlements) -> dict[str, Any]:
    c = e.caseload
    return {
        "month_of_practice": e.month_of_practice,
        "caseload": {
            "children": c.children,
            "children_cap": _number(c.children_cap),
            "children_remaining": _number(c.children_remaining),
            "points": _number(c.points),
            "points_cap": _number(c.points_cap),
            "points_remaining": _number(c.points_remaining),
        },
        "work_types": [
            {
                "work_type": row.work_type,
                "flags": list(row.flags),
                "lead": row.lead.value,
                "co_work": row.co_work.value,
                "allowed_from": allowed_from_json(row.allowed_from),
                "clause": row.clause,
                "conditions": list(row.conditions),
            }
            for row in e.work_types
        ],
        "policy": {"id": e.policy_id, "version": e.policy_version},
    }


def breaches_json(found: tuple[Breach, ...]) -> dict[str, Any]:
    return {
        "breaches": [
            {
                "rule": b.rule,
                "clause": b.clause,
                "summary": b.summary,
                "detail": b.detail,
                "remedy": b.remedy,
                "case_ids": list(b.case_ids),
            }
            for b in found
        ]
    }


def _number(x: float | None) -> float | int | None:
    """Whole numbers print as integers: a cap of 16 children, not 16.0."""
    if x is None:
        return None
    return int(x) if x == int(x) else x
