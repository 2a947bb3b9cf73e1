"""The report's bulk read gives each NQSW what the one-person reads give: the same worker,
the same caseload (flags and overrides included), on the fakes and on every database."""

from __future__ import annotations

import datetime as dt

from handlers.ports import Source, Transactions
from policy import Role, StaffRole

AT = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
ON = dt.date(2026, 11, 23)


async def test_the_picture_matches_the_one_person_reads(tx: Transactions, acme: str) -> None:
    async with tx.write() as uow:
        await uow.teams.upsert(
            acme,
            "T-1",
            name="Team 1",
            kind="assessment",
            slack_channel_id=None,
            teams_channel_id=None,
            occurred_at=AT,
        )
        for ref, asye in (("NQ-1", True), ("NQ-2", True), ("SW-1", False)):
            staff = StaffRole.NQSW if asye else StaffRole.SOCIAL_WORKER
            await uow.people.upsert(
                acme,
                ref,
                display_name=ref,
                roles=[staff],
                team_ref="T-1",
                manager_ref=None,
                occurred_at=AT,
            )
        nq1 = await uow.people.get(acme, "NQ-1")
        nq2 = await uow.people.get(acme, "NQ-2")
        assert nq1 is not None and nq2 is not None
        for person, start in ((nq1, dt.date(2026, 5, 4)), (nq2, dt.date(2026, 9, 1))):
            await uow.people.set_asye(
                person.id, start=start, fte=0.8, assessor_ref=None, occurred_at=AT
            )
        await uow.people.record_review(
            nq1.id, month=3, passed=True, on=dt.date(2026, 8, 4), occurred_at=AT
        )
        await uow.cases.upsert(
            acme,
            "C-1",
            work_type="child_in_need",
            children=2,
            flags=["court", "disabled"],
            occurred_at=AT,
        )
        await uow.cases.upsert(
            acme, "C-2", work_type="child_protection", children=1, occurred_at=AT
        )
        for case_ref, person, role, overrides in (
            ("C-1", nq1, Role.LEAD, frozenset({"cp"})),
            ("C-2", nq1, Role.CO_WORK, frozenset()),
        ):
            case = await uow.cases.get(acme, case_ref)
            assert case is not None
            await uow.allocations.start(
                case_id=case.id,
                person_id=person.id,
                role=role,
                on=dt.date(2026, 11, 2),
                source=Source.WEBHOOK,
                overrides=overrides,
                occurred_at=AT,
            )
        await uow.supervisions.record(nq1.id, dt.date(2026, 11, 20), AT)
        await uow.supervisions.record(nq1.id, dt.date(2026, 11, 30), AT)  # after the day asked
    async with tx.read() as uow:
        picture = await uow.reports.picture(acme, None, ON, AT + dt.timedelta(days=30))
        expected = [
            (p.ref, await uow.people.asye_worker(p.id), await uow.allocations.caseload(p.id, ON))
            for p in (nq1, nq2)
        ]
    assert [(n.person.ref, n.worker, n.caseload) for n in picture.nqsws] == expected
    held = picture.nqsws[0].caseload
    assert [(c.case_id, c.flags, c.overrides) for c in held] == [
        ("C-1", frozenset({"court", "disabled"}), frozenset({"cp"})),
        ("C-2", frozenset(), frozenset()),
    ]
    assert [n.last_supervision for n in picture.nqsws] == [dt.date(2026, 11, 20), None]
    assert picture.nqsws[0].person.roles == frozenset({StaffRole.NQSW})
    assert [t.ref for t in picture.teams] == ["T-1"]
    assert picture.breach_events == ()
