"""The adults office-based process: "external cases should be identified within the first
three months" (seed 003, Step 2), as the policy's `external_cases`. The daily sweep reminds
the NQSW, their manager and their assessor once, from the day month 3 is reached, unless
an external case is already held."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from handlers import admin
from handlers.alerts import sweep
from handlers.alerts.body import decode
from handlers.case_events import apply_event
from handlers.events import parse_event
from policy import parse_policy, preset_text
from policy.loader import resolved_yaml
from storage.repositories import Storage

POLICY = """\
extends: adults-office-based
id: council-adults
version: "t1"
reference_caseload: {children: 20}
"""
START = dt.date(2026, 9, 1)
"""Month 3 is reached on Tue 1 Dec 2026 (no leave)."""


def _event(type_: str, data: dict[str, object]) -> str:
    at = dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC).isoformat()
    return json.dumps({"type": type_, "occurred_at": at, "org": "adults", "data": data})


async def _council(tx: Storage, external: bool) -> None:
    policy = parse_policy(POLICY, "council-adults.yaml", parent=preset_text)
    at = dt.datetime(2026, 9, 1, 8, tzinfo=dt.UTC)
    text = resolved_yaml(policy)
    await admin.create_organisation(tx, "adults", "Adults", policy, "x.yaml", text, "cli", at)
    chat = {"slack_team_id": "T1"}
    events: list[tuple[str, dict[str, object]]] = [
        ("team.upserted", {"ref": "A-1", "name": "Adults 1", "kind": "adults"}),
        (
            "worker.upserted",
            {
                "ref": "AS-1",
                "name": "Ash",
                "roles": ["assessor"],
                "team_ref": "A-1",
                "chat": {**chat, "slack_user_id": "UAS1"},
            },
        ),
        (
            "worker.upserted",
            {
                "ref": "TM-1",
                "name": "Tara",
                "roles": ["team_manager"],
                "team_ref": "A-1",
                "chat": {**chat, "slack_user_id": "UTM1"},
            },
        ),
        (
            "worker.upserted",
            {
                "ref": "NQ-1",
                "name": "Noor",
                "roles": ["nqsw"],
                "team_ref": "A-1",
                "asye": {"start": START.isoformat(), "assessor_ref": "AS-1"},
                "chat": {**chat, "slack_user_id": "UNQ1"},
            },
        ),
        (
            "case.upserted",
            {"ref": "X-1", "work_type": "adult_review", "children": 1, "external": external},
        ),
        ("allocation.started", {"case_ref": "X-1", "worker_ref": "NQ-1", "role": "co_work"}),
    ]
    for n, (type_, data) in enumerate(events):
        await apply_event(tx, f"e{n}", parse_event(_event(type_, data)), at=at)


async def _reminded(tx: Storage, day: dt.date) -> list[tuple[str, str]]:
    async with tx.read() as uow:
        person = await uow.people.get("adults", "NQ-1")
        assert person is not None
        found = await uow.outbox.get("adults", f"external:{person.id}:3:slack:UAS1")
    await sweep.daily(tx, dt.datetime.combine(day, dt.time(7), tzinfo=dt.UTC))
    async with tx.read() as uow:
        after = await uow.outbox.get("adults", f"external:{person.id}:3:slack:UAS1")
    return [] if after is None or found is not None else [(after.target, decode(after.body).text)]


@pytest.mark.parametrize("external", [False, True])
async def test_no_external_case_by_month_three_is_recalled_once(
    storage: Storage, external: bool
) -> None:
    await _council(storage, external)
    assert await _reminded(storage, dt.date(2026, 11, 30)) == []
    first = await _reminded(storage, dt.date(2026, 12, 1))
    if external:
        assert first == [], "an external case is held: nothing to recall"
        return
    assert first == [("UAS1", "No external case yet: Noor reached month 3 on Tue 1 Dec 2026")]
    assert await _reminded(storage, dt.date(2026, 12, 2)) == [], "once"
