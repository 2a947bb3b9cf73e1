"""The import use case on SQLite and PostgreSQL: validated first, applied as webhook events."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from bot.csv_import import CsvFile, ImportReport, import_files
from handlers.case_events import apply_event
from handlers.errors import UnknownOrganisation
from handlers.events import parse_event
from handlers.ports import Source
from policy import Role
from storage.models import Allocation, AuditEntry, CaseRow, Person, Team, WebhookReceipt
from storage.repositories import Storage
from tests.conftest import T0
from tests.imports.helpers import ALLOCATIONS, STAFF, allocations_file, staff_file

TABLES = (Team, Person, CaseRow, Allocation, WebhookReceipt, AuditEntry)


async def counts(storage: Storage) -> dict[str, int]:
    async with storage.read() as s:
        return {
            t.__tablename__: int(await s.session.scalar(select(func.count()).select_from(t)) or 0)
            for t in TABLES
        }


async def run(
    storage: Storage,
    staff: CsvFile | None = None,
    allocations: CsvFile | None = None,
    *,
    skip: bool = False,
    at: dt.datetime = T0,
    org: str = "acme",
) -> ImportReport:
    return await import_files(
        storage,
        org,
        staff or staff_file(),
        allocations or allocations_file(),
        skip_bad_rows=skip,
        at=at,
    )


async def test_import_stores_staff_cases_allocations_and_breaches(
    storage: Storage, org: str
) -> None:
    report = await run(storage)
    assert report.imported and report.errors == () and report.failure is None
    assert (report.rows_read, report.events, report.applied, report.unchanged) == (6, 9, 9, 0)
    # NQ-1 holds C-1 and C-2, 2 children each: over the tiny policy's cap of 3.
    assert (report.breaches_opened, report.breaches_resolved) == (1, 0)
    async with storage.read() as s:
        team = await s.teams.get(org, "T-A")
        assert team is not None and (team.name, team.kind) == ("Assessment A", "assessment")
        nqsw = await s.people.get(org, "NQ-1")
        manager = await s.people.get(org, "TM-1")
        sw = await s.people.get(org, "SW-1")
        assert nqsw is not None and manager is not None and sw is not None
        assert nqsw.manager_id == manager.id and nqsw.team_id == team.id
        assert manager.display_name == "Tess Manager"
        assert {r.value for r in sw.roles} == {"social_worker", "advanced_practitioner"}
        worker = await s.people.asye_worker(nqsw.id)
        assert worker is not None and (worker.asye_start, worker.fte) == (dt.date(2025, 1, 1), 0.8)
        assert (await s.directory.person("slack", "T0123", "U0456")) == nqsw
        caseload = await s.allocations.caseload(nqsw.id, dt.date(2025, 1, 6))
        assert sorted((c.case_id, c.children, c.role) for c in caseload) == [
            ("C-1", 2, Role.LEAD),
            ("C-2", 2, Role.LEAD),
        ]
        c1 = await s.cases.get(org, "C-1")
        assert c1 is not None
        held = await s.allocations.open_allocation(c1.id, nqsw.id)
        assert held is not None and held.source is Source.IMPORT
        assert held.from_date == dt.date(2025, 1, 2)
        c2 = await s.cases.get(org, "C-2")
        assert c2 is not None
        co = await s.allocations.open_allocation(c2.id, sw.id)
        assert co is not None and co.role is Role.CO_WORK and co.from_date == dt.date(2025, 1, 6)
        assert [b.rule for b in await s.breaches.open_for(nqsw.id)] == ["cap"]
        rows = (await s.session.execute(select(AuditEntry.kind, AuditEntry.data))).all()
    started = [json.loads(data) for kind, data in rows if kind == "allocation_started"]
    assert len(started) == 3 and {r["source"] for r in started} == {"import"}


async def test_running_the_same_import_again_changes_nothing(storage: Storage, org: str) -> None:
    await run(storage)
    before = await counts(storage)
    again = await run(storage, at=T0 + dt.timedelta(hours=1))
    assert (again.events, again.already_imported, again.applied, again.unchanged) == (9, 9, 0, 0)
    assert again.breaches_opened == 0
    assert await counts(storage) == before


async def test_a_new_extract_applies_changes_and_counts_the_rest_unchanged(
    storage: Storage, org: str
) -> None:
    await run(storage)
    # C-1 drops to 1 child: 3 children in all, within the cap; the breach resolves.
    rows = [{**ALLOCATIONS[0], "children": "1"}, *ALLOCATIONS[1:]]
    report = await run(storage, allocations=allocations_file(rows), at=T0 + dt.timedelta(days=1))
    assert (report.applied, report.unchanged, report.already_imported) == (1, 8, 0)
    assert (report.breaches_opened, report.breaches_resolved) == (0, 1)
    async with storage.read() as s:
        case = await s.cases.get(org, "C-1")
        assert case is not None and case.children == 1


async def test_a_bad_row_means_nothing_is_written(storage: Storage, org: str) -> None:
    before = await counts(storage)
    rows = [*ALLOCATIONS, {**ALLOCATIONS[0], "case_ref": "C-9", "work_type": "adoption"}]
    report = await run(storage, allocations=allocations_file(rows))
    assert not report.imported and report.bad_rows == 1 and report.events == 0
    assert [str(e) for e in report.errors] == [
        "allocations.csv:5: work_type: 'adoption' is not a work type of this policy "
        "(known: child_in_need, child_protection)"
    ]
    assert await counts(storage) == before


async def test_skip_bad_rows_imports_the_good_ones_and_still_lists_the_bad(
    storage: Storage, org: str
) -> None:
    staff = [STAFF[0], STAFF[1], {**STAFF[2], "fte": "1"}]  # SW-1: an FTE but no ASYE
    report = await run(storage, staff=staff_file(staff), skip=True)
    assert report.imported and report.bad_rows == 2
    assert [str(e) for e in report.errors] == [
        "staff.csv:4: fte: is given without asye_start (the ASYE)",
        "allocations.csv:4: worker_ref: worker 'SW-1' is not imported: "
        "their row in staff.csv (line 4) is bad",
    ]
    assert (report.events, report.applied) == (7, 7)
    async with storage.read() as s:
        assert await s.people.get(org, "SW-1") is None
        assert await s.people.get(org, "NQ-1") is not None


async def test_a_bad_header_is_never_skipped(storage: Storage, org: str) -> None:
    before = await counts(storage)
    data = b"case_ref,work_type,children,worker_ref,role,child_dob\n"
    report = await run(storage, allocations=CsvFile("allocations.csv", data), skip=True)
    assert not report.imported and report.file_invalid
    assert await counts(storage) == before


async def test_workers_and_team_channels_already_stored_are_kept(
    storage: Storage, org: str
) -> None:
    """A webhook set the team's Slack channel and sent a worker the CSV does not list."""
    for n, (kind, data) in enumerate(
        [
            (
                "team.upserted",
                {
                    "ref": "T-A",
                    "name": "Old name",
                    "kind": "assessment",
                    "channels": {"slack": "C0CHAN"},
                },
            ),
            (
                "worker.upserted",
                {
                    "ref": "XX-1",
                    "name": "Agency Worker",
                    "roles": ["social_worker"],
                    "team_ref": "T-A",
                },
            ),
        ]
    ):
        body = {
            "type": kind,
            "occurred_at": (T0 - dt.timedelta(days=1)).isoformat(),
            "org": org,
            "data": data,
        }
        await apply_event(storage, f"hook-{n}", parse_event(json.dumps(body)))
    rows = [*ALLOCATIONS, {**ALLOCATIONS[0], "worker_ref": "XX-1", "role": "co_work"}]
    report = await run(storage, allocations=allocations_file(rows))
    assert report.errors == () and report.applied == 10
    async with storage.read() as s:
        team = await s.teams.get(org, "T-A")
        assert team is not None and (team.name, team.slack_channel_id) == ("Assessment A", "C0CHAN")


async def test_an_unknown_organisation_is_refused(storage: Storage, org: str) -> None:
    with pytest.raises(UnknownOrganisation):
        await run(storage, org="nobody")
