"""The allocation use case: policy checked inside the transaction, audited, breaches kept."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from sqlalchemy import func, select

from handlers.allocations import AllocationRequest, Approval, allocate
from handlers.audit import AuditRecord
from handlers.breaches import refresh_breaches
from handlers.errors import AlreadyAllocated, ApproverLacksRole, UnknownCase, UnknownPerson
from handlers.ports import Source
from policy import Caseload, Outcome, Role, StaffRole
from storage.models import Allocation, AuditEntry
from storage.repositories import Storage, Store
from tests.conftest import T0

ON = dt.date(2025, 3, 3)  # month 2 of practice for an NQSW who started on 2025-01-06


async def _setup(storage: Storage, org: str, *cases: tuple[str, str, int]) -> None:
    async with storage.write() as s:
        for ref, roles in (("NQ-1", [StaffRole.NQSW]), ("SM-1", [StaffRole.SERVICE_MANAGER])):
            await s.people.upsert(
                org,
                ref,
                display_name=ref,
                roles=roles,
                team_ref="T1",
                manager_ref=None,
                occurred_at=T0,
            )
        nq = await s.people.get(org, "NQ-1")
        assert nq is not None
        await s.people.set_asye(
            nq.id, start=dt.date(2025, 1, 6), fte=1.0, assessor_ref=None, occurred_at=T0
        )
        for ref, work_type, children in cases:
            await s.cases.upsert(org, ref, work_type=work_type, children=children, occurred_at=T0)


def _req(case: str, role: Role = Role.LEAD, **kw: object) -> AllocationRequest:
    fields: dict[str, object] = {"org_id": "acme", "worker_ref": "NQ-1", "on": ON} | kw
    return AllocationRequest(
        case_ref=case,
        role=role,
        source=Source.CHAT,
        actor="person:TM-1",
        **fields,  # type: ignore[arg-type]
    )


async def _allocations(storage: Storage) -> list[tuple[str, str]]:
    async with storage.read() as s:
        rows = await s.session.scalars(select(Allocation).order_by(Allocation.id))
        return [(str(r.case_id), r.role) for r in rows]


async def _kinds(storage: Storage) -> list[str]:
    async with storage.read() as s:
        return list(await s.session.scalars(select(AuditEntry.kind).order_by(AuditEntry.seq)))


async def test_allowed_allocation_is_written_and_audited(storage: Storage, org: str) -> None:
    await _setup(storage, org, ("C-1", "child_in_need", 2))
    result = await allocate(storage, _req("C-1"))
    assert result.decision is not None and result.decision.outcome is Outcome.ALLOW
    assert result.allocation is not None and result.allocation.role is Role.LEAD
    async with storage.read() as s:
        nq = await s.people.get(org, "NQ-1")
        assert nq is not None
        caseload = await s.allocations.caseload(nq.id, ON)
    assert [(c.case_id, c.children) for c in caseload] == [("C-1", 2)]
    assert (await _kinds(storage))[-2:] == ["decision", "allocation_started"]


async def test_refused_allocation_writes_nothing_but_the_decision(
    storage: Storage, org: str
) -> None:
    await _setup(storage, org, ("C-1", "child_in_need", 3), ("C-2", "child_in_need", 1))
    await allocate(storage, _req("C-1"))
    before = await _kinds(storage)
    result = await allocate(storage, _req("C-2"))
    assert result.decision is not None and result.decision.outcome is not Outcome.ALLOW
    assert result.allocation is None
    assert len(await _allocations(storage)) == 1
    assert await _kinds(storage) == [*before, "decision"]


async def test_lead_refused_may_be_taken_as_co_worker(storage: Storage, org: str) -> None:
    await _setup(storage, org, ("CP-1", "child_protection", 1))
    refused = await allocate(storage, _req("CP-1"))
    assert refused.decision is not None and refused.decision.outcome is Outcome.CO_WORK
    assert refused.allocation is None
    taken = await allocate(storage, _req("CP-1", accept_co_work=True))
    assert taken.allocation is not None and taken.allocation.role is Role.CO_WORK
    with pytest.raises(AlreadyAllocated):
        await allocate(storage, _req("CP-1", Role.CO_WORK))


async def test_override_needs_an_approver_who_holds_the_role(storage: Storage, org: str) -> None:
    await _setup(storage, org, ("CP-1", "child_protection", 1))
    why = "Sibling group already known to this worker"
    with pytest.raises(ApproverLacksRole):
        await allocate(
            storage, _req("CP-1", approval=Approval("NQ-1", StaffRole.SERVICE_MANAGER, why))
        )
    result = await allocate(
        storage, _req("CP-1", approval=Approval("SM-1", StaffRole.SERVICE_MANAGER, why))
    )
    assert result.allocation is not None and result.allocation.overrides == frozenset({"cp"})
    assert result.breach_changes == ()  # the overridden gate is not reported as a breach
    assert "override" in await _kinds(storage)


async def test_breaches_open_when_a_case_steps_up_and_resolve_when_it_ends(
    storage: Storage, org: str
) -> None:
    await _setup(storage, org, ("C-1", "child_in_need", 1))
    await allocate(storage, _req("C-1"), at=T0)
    async with storage.write() as s:
        await s.cases.upsert(
            org, "C-1", work_type="child_protection", children=1, occurred_at=T0 + dt.timedelta(1)
        )
        acme = await s.orgs.get(org)
        nq = await s.people.get(org, "NQ-1")
        assert acme is not None and nq is not None
        opened = await refresh_breaches(s, acme, nq, ON, T0, "webhook")
        assert [(c.change, c.breach.rule, c.breach.case_ids) for c in opened] == [
            ("opened", "cp", ("C-1",))
        ]
        assert await refresh_breaches(s, acme, nq, ON, T0, "webhook") == ()
        assert [b.rule for b in await s.breaches.open_for(nq.id)] == ["cp"]
        case = await s.cases.get(org, "C-1")
        assert case is not None and await s.cases.holders(org, case.ref) == (nq.id,)
        await s.allocations.end(case.id, nq.id, ON, T0 + dt.timedelta(2))
        resolved = await refresh_breaches(s, acme, nq, ON, T0, "webhook")
        assert [(c.change, c.breach.rule) for c in resolved] == [("resolved", "cp")]
        assert await s.breaches.open_for(nq.id) == ()
    kinds = await _kinds(storage)
    assert kinds[-2:] == ["breach_opened", "breach_resolved"]


async def test_worker_not_on_the_asye_is_allocated_without_a_decision(
    storage: Storage, org: str
) -> None:
    await _setup(storage, org, ("C-1", "child_protection", 9))
    result = await allocate(
        storage,
        AllocationRequest("acme", "C-1", "SM-1", Role.LEAD, ON, Source.API, "api:token:1"),
    )
    assert result.decision is None and result.allocation is not None


async def test_unknown_worker_or_case_is_refused_without_writing(
    storage: Storage, org: str
) -> None:
    await _setup(storage, org, ("C-1", "child_in_need", 1))
    before = await _kinds(storage)
    with pytest.raises(UnknownCase):
        await allocate(storage, _req("C-404"))
    with pytest.raises(UnknownPerson):
        await allocate(storage, _req("C-1", worker_ref="NQ-404"))
    assert await _kinds(storage) == before


class _SlowCaseloads:
    """Widens the race: pauses after reading a caseload, before deciding and writing."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    @asynccontextmanager
    async def write(self, urgent: bool = False) -> AsyncIterator[Store]:
        async with self._storage.write(urgent) as uow:
            read = uow.allocations.caseload

            async def slow(person_id: int, on: dt.date) -> Caseload:
                caseload = await read(person_id, on)
                await asyncio.sleep(0.2)
                return caseload

            uow.allocations.caseload = slow  # type: ignore[method-assign]
            yield uow

    def read(self) -> AbstractAsyncContextManager[Store]:
        return self._storage.read()

    async def retry[T](self, work: Callable[[], Awaitable[T]]) -> T:
        return await self._storage.retry(work)

    async def audit(self, org_id: str, record: AuditRecord, actor: str, at: dt.datetime) -> int:
        return await self._storage.audit(org_id, record, actor, at)

    async def ping(self) -> None:
        await self._storage.ping()


async def test_concurrent_allocations_cannot_both_take_the_last_place(
    storage: Storage, org: str
) -> None:
    await _setup(
        storage,
        org,
        ("C-1", "child_in_need", 2),
        ("C-2", "child_in_need", 1),
        ("C-3", "child_in_need", 1),
    )
    await allocate(storage, _req("C-1"))  # 2 of 3 children: room for exactly one more
    slow = _SlowCaseloads(storage)
    results = await asyncio.gather(allocate(slow, _req("C-2")), allocate(slow, _req("C-3")))
    assert sorted(r.allocation is not None for r in results) == [False, True]
    async with storage.read() as s:
        held = await s.session.scalar(select(func.count()).select_from(Allocation))
        assert held == 2
        assert await s.audit.verify() == ()


async def test_a_role_change_ends_an_allocation_whose_event_was_stamped_ahead(
    storage: Storage, org: str
) -> None:
    """The case system's clock may run ahead of ours (events up to a day ahead are
    accepted): a manager's change of role now must still end the allocation it started,
    not collide with it (this was a 503 on every try)."""
    await _setup(storage, org, ("C-1", "child_in_need", 1))
    async with storage.write() as s:
        nq, case = await s.people.get(org, "NQ-1"), await s.cases.get(org, "C-1")
        assert nq is not None and case is not None
        await s.allocations.start(
            case_id=case.id,
            person_id=nq.id,
            role=Role.LEAD,
            on=ON,
            source=Source.WEBHOOK,
            overrides=frozenset(),
            occurred_at=T0 + dt.timedelta(hours=2),
        )
    result = await allocate(storage, _req("C-1", Role.CO_WORK), at=T0)
    assert result.allocation is not None and result.allocation.role is Role.CO_WORK
    assert await _allocations(storage) == [(str(case.id), "lead"), (str(case.id), "co_work")]
    assert (await _kinds(storage))[-2:] == ["allocation_ended", "allocation_started"]
