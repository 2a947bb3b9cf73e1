"""The JSON shapes of decisions, entitlements and breaches: one definition for the CLI and the API."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, NotRequired

from pydantic import ConfigDict, WithJsonSchema, with_config
from typing_extensions import TypedDict

from policy.engine import AllowedFrom, Breach, Capacity, Decision, Entitlements, Reason
from policy.schema import Outcome, Role

# The shapes are TypedDicts, so that mypy holds each function to its shape and the API's
# OpenAPI document derives its response schemas from the same definitions.
# (typing_extensions' TypedDict: pydantic reads typing's only from Python 3.12.)

SHAPE = ConfigDict(extra="forbid")
"""A key a shape does not name breaks the published schema: add it to the shape first."""


def _one_of(values: type[StrEnum]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": [v.value for v in values]})


OutcomeText = Annotated[str, _one_of(Outcome)]
RoleText = Annotated[str, _one_of(Role)]


@with_config(SHAPE)
class PolicyJson(TypedDict):
    id: str
    version: str


@with_config(SHAPE)
class ReasonJson(TypedDict):
    rule: str
    clause: str
    summary: str
    effect: OutcomeText
    overridden: NotRequired[bool]
    note: NotRequired[str]


@with_config(SHAPE)
class AllowedFromJson(TypedDict):
    date: str | None
    milestone: str


@with_config(SHAPE)
class DecisionCaseloadJson(TypedDict):
    children_before: int
    children_after: int
    children_cap: float | None
    points_before: float | None
    points_after: float | None
    points_cap: float | None


@with_config(SHAPE)
class DecisionJson(TypedDict):
    outcome: OutcomeText
    requested_role: RoleText
    overridden: bool
    reasons: list[ReasonJson]
    conditions: list[str]
    allowed_from: AllowedFromJson | None
    caseload: DecisionCaseloadJson
    month_of_practice: float
    policy: PolicyJson


@with_config(SHAPE)
class CapacityJson(TypedDict):
    children: int
    children_cap: float | None
    children_remaining: float | None
    points: float | None
    points_cap: float | None
    points_remaining: float | None


@with_config(SHAPE)
class EntitlementJson(TypedDict):
    work_type: str
    flags: list[str]
    lead: OutcomeText
    co_work: OutcomeText
    allowed_from: AllowedFromJson | None
    clause: str | None
    conditions: list[str]


@with_config(SHAPE)
class EntitlementsJson(TypedDict):
    month_of_practice: float
    caseload: CapacityJson
    work_types: list[EntitlementJson]
    policy: PolicyJson


@with_config(SHAPE)
class BreachJson(TypedDict):
    rule: str
    clause: str
    summary: str
    detail: str
    remedy: str
    case_ids: list[str]


@with_config(SHAPE)
class BreachesJson(TypedDict):
    breaches: list[BreachJson]


def decision_json(d: Decision) -> DecisionJson:
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


def reason_json(r: Reason) -> ReasonJson:
    out: ReasonJson = {
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


def allowed_from_json(a: AllowedFrom | None) -> AllowedFromJson | None:
    if a is None:
        return None
    return {"date": a.date.isoformat() if a.date else None, "milestone": a.milestone}


def capacity_json(c: Capacity) -> CapacityJson:
    return {
        "children": c.children,
        "children_cap": _number(c.children_cap),
        "children_remaining": _number(c.children_remaining),
        "points": _number(c.points),
        "points_cap": _number(c.points_cap),
        "points_remaining": _number(c.points_remaining),
    }


def entitlements_json(e: Entitlements) -> EntitlementsJson:
    return {
        "month_of_practice": e.month_of_practice,
        "caseload": capacity_json(e.caseload),
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


def breaches_json(found: tuple[Breach, ...]) -> BreachesJson:
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


def _number(x: float | None) -> float | None:
    """Whole numbers print as integers: a cap of 16 children, not 16.0."""
    if x is None:
        return None
    return int(x) if x == int(x) else x
