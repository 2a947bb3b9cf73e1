"""The organisation chat is tested in, built from case events exactly as the webhook
receives them, so that the same conversations run on the in-memory fakes and end to end.

`stoke` (stoke-childrens: no child protection before the six-month review, co-work only
until the nine-month one, at most 16 children as lead), on Monday 23 November 2026:
team T-1 "Assessment Team 1": TM-1 its manager, AP-1 an advanced practitioner, NQ-4 in
month 4 (holding child protection as lead: an open breach), NQ-7 in month 7, NQ-11 in
month 11 with 15 children, SW-1 an experienced social worker; team T-2: TM-2 and NQ-B (three weeks of leave);
AL-1 the ASYE lead, PSW-1 the principal social worker, AS-1 NQ-7's assessor. Stoke records
two cohort attributes for its equality view (`COHORTS`). `dorset` (no equality view) has
DX-1, a team manager, and DP-1, its principal social worker, on the same Slack workspace.
U-NOBODY is nobody.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from handlers.chat.turn import Asker

STOKE = "stoke"
DORSET = "dorset"
WORKSPACE = "T0001"
"""The Slack workspace, the one the fake Slack (`tests/slack/fake_slack.py`) serves."""
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
"""Monday 23 November 2026, 10:00 in London."""
SEEDED = NOW - dt.timedelta(hours=6)
EQUALITY_ATTRIBUTES = ("ethnicity", "route")
COHORTS: dict[str, dict[str, str]] = {
    "NQ-4": {"ethnicity": "Black African", "route": "Step Up"},
    "NQ-7": {"ethnicity": "White British", "route": "university"},
    "NQ-11": {"ethnicity": "White British"},
}
"""Stoke's NQSWs' cohort values, sent with their `worker.upserted`; NQ-B has none."""

# Slack user ids of the people (with `should_escape`, mentions arrive as <@ID>).
USERS = {
    "TM-1": "UTM1",
    "AP-1": "UAP1",
    "NQ-4": "UNQ4",
    "NQ-7": "UNQ7",
    "NQ-11": "UNQ11",
    "SW-1": "USW1",
    "TM-2": "UTM2",
    "NQ-B": "UNQB",
    "AL-1": "UAL1",
    "PSW-1": "UPSW1",
    "AS-1": "UAS1",
    "DX-1": "UDX1",
    "DP-1": "UDP1",
}
NOBODY = "UNOBODY"

# Teams: everyone of both organisations in one Microsoft 365 tenant, each with an AAD object id.
TENANT = "8f2c1b4e-0000-4000-8000-00000000c0de"
AAD = {ref: f"aad-{ref.lower()}" for ref in USERS}
AAD_NOBODY = "aad-nobody"


def slack(ref: str) -> Asker:
    return Asker("slack", WORKSPACE, USERS.get(ref, ref))


def mention(ref: str) -> str:
    return f"<@{USERS.get(ref, ref)}>"


def _event(type_: str, data: dict[str, Any], org: str = STOKE) -> dict[str, Any]:
    return {"type": type_, "occurred_at": SEEDED.isoformat(), "org": org, "data": data}


def _worker(
    ref: str,
    name: str,
    role: str,
    team: str,
    *,
    asye: str | None = None,
    assessor: str | None = None,
    org: str = STOKE,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ref": ref,
        "name": name,
        "roles": [role],
        "team_ref": team,
        "chat": {
            "slack_team_id": WORKSPACE,
            "slack_user_id": USERS[ref],
            "teams_tenant_id": TENANT,
            "teams_aad_object_id": AAD[ref],
        },
    }
    if asye is not None:
        data["asye"] = {"start": asye, **({"assessor_ref": assessor} if assessor else {})}
    if ref in COHORTS:
        data["cohort"] = COHORTS[ref]
    return _event("worker.upserted", data, org)


def _case(ref: str, work_type: str, children: int) -> dict[str, Any]:
    return _event("case.upserted", {"ref": ref, "work_type": work_type, "children": children})


def _holds(case: str, worker: str, role: str = "lead", start: str = "2026-11-02") -> dict[str, Any]:
    return _event(
        "allocation.started",
        {"case_ref": case, "worker_ref": worker, "role": role, "from": start},
    )


def _review(worker: str, month: int, on: str) -> dict[str, Any]:
    return _event(
        "worker.review_recorded", {"worker_ref": worker, "month": month, "passed": True, "on": on}
    )


def events() -> list[dict[str, Any]]:
    """In an order the webhook accepts (what an event refers to arrives first)."""
    team1 = {"ref": "T-1", "name": "Assessment Team 1", "kind": "assessment"}
    team2 = {"ref": "T-2", "name": "Children in Care Team", "kind": "children_in_care"}
    return [
        _event("team.upserted", team1),
        _event("team.upserted", team2),
        _event("team.upserted", {"ref": "T-0", "name": "Practice", "kind": "practice"}),
        _worker("TM-1", "Tara Manager", "team_manager", "T-1"),
        _worker("AP-1", "Ade Practitioner", "advanced_practitioner", "T-1"),
        _worker("SW-1", "Sol Worker", "social_worker", "T-1"),
        _worker("AS-1", "Ash Assessor", "assessor", "T-2"),
        _worker("NQ-4", "Nia Four", "nqsw", "T-1", asye="2026-08-10"),
        _worker("NQ-7", "Sam Seven", "nqsw", "T-1", asye="2026-05-04", assessor="AS-1"),
        _worker("NQ-11", "Lee Eleven", "nqsw", "T-1", asye="2025-12-29"),
        _worker("TM-2", "Tom Manager", "team_manager", "T-2"),
        _worker("NQ-B", "Bea Newman", "nqsw", "T-2", asye="2026-05-04"),
        _worker("AL-1", "Alex Lead", "asye_lead", "T-0"),
        _worker("PSW-1", "Pat Principal", "principal_social_worker", "T-0"),
        _event(
            "worker.leave_recorded",
            {"worker_ref": "NQ-B", "from": "2026-06-01", "to": "2026-06-21", "reason": "sickness"},
        ),
        _review("NQ-4", 3, "2026-11-10"),
        _review("NQ-7", 3, "2026-08-04"),
        _review("NQ-7", 6, "2026-11-04"),
        *(
            _review("NQ-11", m, d)
            for m, d in ((3, "2026-03-30"), (6, "2026-06-29"), (9, "2026-09-29"))
        ),
        _case("C-CIN-1", "child_in_need", 2),
        _case("C-CIN-2", "child_in_need", 3),
        _case("C-CIN-3", "child_in_need", 2),
        _case("C-CIN-4", "child_in_need", 1),
        _case("C-BIG-1", "child_in_need", 8),
        _case("C-BIG-2", "child_in_need", 7),
        _case("C-CP-1", "child_protection", 2),
        _case("C-CP-9", "child_protection", 1),
        _case("C-SW-1", "child_protection", 3),
        _case("C-PL-1", "private_law", 1),
        _case("C-CLOSED", "child_in_need", 1),
        _event("case.closed", {"ref": "C-CLOSED"}),
        _holds("C-CIN-1", "NQ-7"),
        _holds("C-CIN-2", "NQ-7"),
        _holds("C-BIG-1", "NQ-11"),
        _holds("C-BIG-2", "NQ-11"),
        _holds("C-CIN-4", "NQ-4"),
        _holds("C-CP-9", "NQ-4"),
        _holds("C-SW-1", "SW-1"),
        _event(
            "team.upserted", {"ref": "D-1", "name": "Dorset Team", "kind": "assessment"}, DORSET
        ),
        _worker("DX-1", "Dee Dorset", "team_manager", "D-1", org=DORSET),
        _worker("DP-1", "Dan Principal", "principal_social_worker", "D-1", org=DORSET),
    ]


CP9_HELD = {"case_ref": "C-CP-9", "worker_ref": "NQ-4", "role": "lead", "from": "2026-11-02"}
"""NQ-4 holding C-CP-9 as lead: the `allocation.started` that opens the world's breaches."""


def before_the_breaches(platform: Literal["slack", "teams"]) -> list[dict[str, Any]]:
    """The world's events but `CP9_HELD`, for a test that sends it itself once a channel is
    linked, with everyone known on `platform` only (an identity on a platform the server
    does not run would be routed to, parked and reported)."""
    out = []
    for e in events():
        data = e["data"]
        if e["type"] == "allocation.started" and data["case_ref"] == CP9_HELD["case_ref"]:
            continue
        if "chat" in data:
            kept = {k: v for k, v in data["chat"].items() if k.startswith(platform)}
            e = {**e, "data": {**data, "chat": kept}}
        out.append(e)
    return out
