"""A transaction keeps the caseloads it read up to date with its own writes
(`storage.repositories._Kept`): what it answers must be what a read of the database would
answer at every step, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from handlers.ports import Source
from policy import Caseload, Role, StaffRole
from storage.db import Database
from storage.repositories import KnownCaseloads, Storage, Store
from tests.conftest import T0

DAYS = [dt.date(2025, 3, d) for d in (1, 3, 5, 7)]


async def test_kept_caseloads_match_the_database_after_each_write(
    storage: Storage, org: str
) -> None:
    async with storage.write() as s:
        await s.people.upsert(
            org,
            "NQ-1",
            display_name="NQ-1",
            roles=[StaffRole.NQSW],
            team_ref="T1",
            manager_ref=None,
            occurred_at=T0,
        )
        nq = await s.people.get(org, "NQ-1")
        assert nq is not None
        for n, work_type in enumerate(("child_in_need", "child_protection", "child_in_care")):
            await s.cases.upsert(org, f"C-{n}", work_type=work_type, children=n + 1, occurred_at=T0)
        cases = {ref: await s.cases.get(org, ref) for ref in ("C-0", "C-1", "C-2")}

        async def same_as_read(step: str) -> None:
            afresh = Store(s.session, {}, KnownCaseloads())
            for day in DAYS:
                kept = await s.allocations.caseload(nq.id, day)
                assert kept == await afresh.allocations.caseload(nq.id, day), (step, day)

        async def start(ref: str, on: dt.date, role: Role, overrides: frozenset[str]) -> None:
            case = cases[ref]
            assert case is not None
            await s.allocations.start(
                case_id=case.id,
                person_id=nq.id,
                role=role,
                on=on,
                source=Source.WEBHOOK,
                overrides=overrides,
                occurred_at=T0,
            )

        await same_as_read("nothing held")
        await start("C-2", DAYS[1], Role.LEAD, frozenset())
        await same_as_read("a lead from the second day")
        await start("C-0", DAYS[0], Role.CO_WORK, frozenset({"cap"}))
        await same_as_read("a co-worked case with an override, before it in order")
        case = cases["C-2"]
        assert case is not None
        await s.allocations.end(case.id, nq.id, DAYS[2], T0 + dt.timedelta(hours=1))
        await same_as_read("the lead ended on the third day")
        await start("C-2", DAYS[2], Role.CO_WORK, frozenset())
        await same_as_read("the same case again, co-worked")
        await s.cases.upsert(
            org, "C-0", work_type="child_in_need", children=4, occurred_at=T0 + dt.timedelta(1)
        )
        await same_as_read("a held case's children changed")
        await s.cases.close(org, "C-2", DAYS[3], T0 + dt.timedelta(2))
        await same_as_read("a held case closed")
        await start("C-1", DAYS[3], Role.LEAD, frozenset())
        await same_as_read("a case started on the last day")


async def test_a_caseload_is_read_again_only_once_the_database_has_moved_it(
    db: Database, org: str
) -> None:
    """Caseloads outlive their transaction (`KnownCaseloads`) while the person's version
    stands still; a change made elsewhere (another replica, here a second `Storage`) moves
    it through the database's own triggers, whatever the kind of change."""
    here, elsewhere = Storage(db), Storage(db)
    day = DAYS[1]
    async with elsewhere.write() as s:
        for n in range(4):
            await s.cases.upsert(
                org, f"C-{n}", work_type="child_in_need", children=1, occurred_at=T0
            )
        await s.people.ensure(org, "NQ-1")

    async def allocate(storage: Storage, ref: str) -> Caseload:
        """The caseload the allocating transaction ends with, kept up to date by its write."""
        async with storage.write() as s:
            person = await s.people.lock(org, "NQ-1")
            pair = await s.allocations.latest(org, ref, person.id) if person else None
            assert person is not None and pair is not None
            await s.allocations.caseload(person.id, day)
            await s.allocations.start(
                case_id=pair[0].id,
                person_id=person.id,
                role=Role.LEAD,
                on=DAYS[0],
                source=Source.WEBHOOK,
                overrides=frozenset(),
                occurred_at=T0,
            )
            return await s.allocations.caseload(person.id, day)

    async def held_here() -> Caseload:
        async with here.write() as s:
            person = await s.people.lock(org, "NQ-1")
            assert person is not None
            kept = await s.allocations.caseload(person.id, day)
        async with Storage(db).read() as s:
            assert kept == await s.allocations.caseload(person.id, day)
        return kept

    first = await allocate(here, "C-0")
    assert [c.case_id for c in first] == ["C-0"]
    assert await held_here() is first, "only this replica's own write moved it: not read again"
    assert await held_here() is first

    await allocate(elsewhere, "C-1")
    assert [c.case_id for c in await held_here()] == ["C-0", "C-1"]
    async with elsewhere.write() as s:
        await s.cases.upsert(
            org, "C-1", work_type="child_in_need", children=3, occurred_at=T0 + dt.timedelta(1)
        )
    assert [c.children for c in await held_here()] == [1, 3]
    async with elsewhere.write() as s:
        c0 = await s.cases.get(org, "C-0")
        person = await s.people.get(org, "NQ-1")
        assert c0 is not None and person is not None
        await s.allocations.end(c0.id, person.id, DAYS[0], T0 + dt.timedelta(1))
    assert [c.case_id for c in await held_here()] == ["C-1"]
    async with elsewhere.write() as s:
        await s.cases.close(org, "C-1", DAYS[0], T0 + dt.timedelta(2))
    assert await held_here() == ()
    last = await allocate(here, "C-2")
    assert [c.case_id for c in last] == ["C-2"] and await held_here() is last
