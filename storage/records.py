"""Rows as the records the ports speak in, for the repositories and the report reads."""

from __future__ import annotations

import json
from typing import Any, cast

from handlers.ports import BreachRecord, BreachStatus, TeamRecord
from policy import Breach, Case, Role
from storage.models import BreachRow, Team


def team_record(row: Team) -> TeamRecord:
    return TeamRecord(
        id=row.id,
        org_id=row.org_id,
        ref=row.ref,
        name=row.name,
        kind=row.kind,
        slack_channel_id=row.slack_channel_id,
        teams_channel_id=row.teams_channel_id,
        web_channel_id=row.web_channel_id,
    )


def breach_of(row: Any) -> Breach:
    """Of a `BreachRow`, or a Core row of its columns."""
    return Breach(
        row.rule_id, row.clause, row.summary, row.detail, row.remedy, tuple(row.case_refs)
    )


def breach_record(row: BreachRow) -> BreachRecord:
    return BreachRecord(
        id=row.id,
        org_id=row.org_id,
        person_id=row.person_id,
        breach=breach_of(row),
        status=cast(BreachStatus, row.status),
        opened_at=row.opened_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        plan=row.plan,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolution=row.resolution,
        escalated_step=row.escalated_step,
    )


UNRESOLVED = (BreachRow.status == "open") | (BreachRow.status == "acknowledged")
"""Spelled without IN, whose list `storage.plain` could not compile once for any values."""


def stored_keys(stored: str | list[str]) -> frozenset[str]:
    """A JSON list column read as its text where the driver leaves it so (SQLite, or cast to
    text): most are empty, and parsing tens of thousands of `[]` was the largest cost of a
    large organisation's report. asyncpg decodes a JSON column itself."""
    if isinstance(stored, list):
        return frozenset(stored)
    return frozenset() if stored == "[]" else frozenset(json.loads(stored))


def held_case(row: Any, flags: frozenset[str], overrides: frozenset[str]) -> Case:
    """A caseload row (the case's columns and the allocation's role) as the engine's case."""
    return Case(
        case_id=row.ref,
        work_type=row.work_type,
        children=row.children,
        role=Role(row.role),
        flags=flags,
        external=bool(row.external),  # 0 or 1 where it is read as a number
        overrides=overrides,
    )
