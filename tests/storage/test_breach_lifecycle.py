"""A breach's lifecycle: open, acknowledged (still unresolved), resolved by the caseload or
by a person, escalated step by step; the same on the fakes and on every database."""

from __future__ import annotations

import datetime as dt

import pytest

from handlers.errors import StorageError
from handlers.ports import BreachRecord, Transactions
from policy import Breach
from storage.models import BreachRow
from storage.repositories import Storage
from tests.conftest import T0

HOUR = dt.timedelta(hours=1)


def cap(*cases: str, detail: str = "4 children, cap 3") -> Breach:
    return Breach("cap", "1.2", "At most 3 children.", detail, "Reallocate a case.", cases)


CP = Breach("cp", "1.1", "No CP lead before month 6.", "CP lead", "Co-work it.", ("C-9",))


async def _people(tx: Transactions, org: str) -> tuple[int, int]:
    """An NQSW and their manager."""
    async with tx.write() as uow:
        return await uow.people.ensure(org, "NQ-1"), await uow.people.ensure(org, "TM-1")


async def _reconcile(
    tx: Transactions, org: str, person: int, *found: Breach, at: dt.datetime = T0
) -> list[tuple[str, str, int]]:
    async with tx.write() as uow:
        changes = await uow.breaches.reconcile(org, person, found, at)
    return [(c.change, c.breach.rule, c.id) for c in changes]


async def _get(tx: Transactions, breach_id: int) -> BreachRecord:
    async with tx.read() as uow:
        record = await uow.breaches.get(breach_id)
    assert record is not None
    return record


async def test_changes_carry_the_stored_breach_id(tx: Transactions, acme: str) -> None:
    nq, _ = await _people(tx, acme)
    ((_, _, cap_id), (_, _, cp_id)) = await _reconcile(tx, acme, nq, cap("C-1", "C-2"), CP)
    assert cap_id != cp_id
    assert (await _get(tx, cap_id)).breach == cap("C-1", "C-2")
    assert await _reconcile(tx, acme, nq, CP, at=T0 + HOUR) == [("resolved", "cap", cap_id)]
    resolved = await _get(tx, cap_id)
    assert (resolved.status, resolved.resolved_at, resolved.resolved_by) == (
        "resolved",
        T0 + HOUR,
        None,
    )


async def test_an_acknowledged_breach_stays_unresolved_until_it_is_gone(
    tx: Transactions, acme: str
) -> None:
    nq, tm = await _people(tx, acme)
    [(_, _, breach_id)] = await _reconcile(tx, acme, nq, cap("C-1", "C-2"))
    async with tx.write() as uow:
        acked = await uow.breaches.acknowledge(breach_id, tm, "Move C-2 on Friday", T0 + HOUR)
    assert acked is not None
    assert (acked.status, acked.acknowledged_by, acked.plan) == (
        "acknowledged",
        tm,
        "Move C-2 on Friday",
    )
    # Still found, over other cases: refreshed in place, neither opened nor resolved again.
    later = cap("C-1", "C-3", detail="5 children, cap 3")
    assert await _reconcile(tx, acme, nq, later, at=T0 + 2 * HOUR) == []
    record = await _get(tx, breach_id)
    assert (record.status, record.breach.case_ids, record.breach.detail) == (
        "acknowledged",
        ("C-1", "C-3"),
        "5 children, cap 3",
    )
    async with tx.read() as uow:
        assert await uow.breaches.open_for(nq) == (record.breach,)
        assert [b.id for b in await uow.breaches.unresolved(acme)] == [breach_id]
    assert await _reconcile(tx, acme, nq, at=T0 + 3 * HOUR) == [("resolved", "cap", breach_id)]
    async with tx.read() as uow:
        assert await uow.breaches.open_for(nq) == ()
        assert await uow.breaches.unresolved(acme) == ()


async def test_a_breach_resolved_by_hand_is_not_reopened_over_the_same_cases(
    tx: Transactions, acme: str
) -> None:
    nq, tm = await _people(tx, acme)
    [(_, _, first)] = await _reconcile(tx, acme, nq, cap("C-1", "C-2"))
    async with tx.write() as uow:
        resolved = await uow.breaches.resolve(first, tm, "C-2 is closing", T0 + HOUR)
    assert resolved is not None and (resolved.resolved_by, resolved.resolution) == (
        tm,
        "C-2 is closing",
    )
    # The same rule over the same cases (in any order): the person said why it is not one.
    assert await _reconcile(tx, acme, nq, cap("C-2", "C-1"), at=T0 + 2 * HOUR) == []
    # Another rule is not set aside by it.
    assert [c[:2] for c in await _reconcile(tx, acme, nq, cap("C-1", "C-2"), CP)] == [
        ("opened", "cp")
    ]
    # Other cases: a new breach, with a new id.
    [(change, rule, second)] = await _reconcile(
        tx, acme, nq, cap("C-1", "C-2", "C-3"), CP, at=T0 + 3 * HOUR
    )
    assert (change, rule) == ("opened", "cap") and second != first
    # Resolved by the caseload this time: found again over the same cases, it reopens.
    assert await _reconcile(tx, acme, nq, CP, at=T0 + 4 * HOUR) == [("resolved", "cap", second)]
    [(change, _, third)] = await _reconcile(tx, acme, nq, cap("C-1", "C-2", "C-3"), CP)
    assert change == "opened" and third not in (first, second)
    assert (await _get(tx, first)).status == "resolved"


async def test_acknowledge_resolve_and_escalate_move_one_way(tx: Transactions, acme: str) -> None:
    nq, tm = await _people(tx, acme)
    [(_, _, breach_id)] = await _reconcile(tx, acme, nq, cap("C-1", "C-2"))
    async with tx.write() as uow:
        assert await uow.breaches.escalate(breach_id, 1, T0)
        assert not await uow.breaches.escalate(breach_id, 1, T0)  # another replica fired it
        assert not await uow.breaches.escalate(breach_id, 0, T0)
        assert await uow.breaches.acknowledge(breach_id, nq, None, T0) is not None
        again = await uow.breaches.acknowledge(breach_id, tm, "Reallocate", T0 + HOUR)
        assert again is not None
        assert (again.acknowledged_by, again.plan, again.acknowledged_at) == (
            tm,
            "Reallocate",
            T0 + HOUR,
        )
        assert await uow.breaches.escalate(breach_id, 3, T0 + HOUR)  # acknowledged: still climbs
        assert not await uow.breaches.escalate(breach_id, 2, T0 + HOUR)
    assert (await _get(tx, breach_id)).escalated_step == 3
    async with tx.write() as uow:
        done = await uow.breaches.resolve(breach_id, tm, "Reallocated", T0 + 2 * HOUR)
        assert done is not None and (done.status, done.resolved_at) == ("resolved", T0 + 2 * HOUR)
        assert await uow.breaches.resolve(breach_id, nq, "again", T0 + 3 * HOUR) is None
        assert await uow.breaches.acknowledge(breach_id, nq, None, T0 + 3 * HOUR) is None
        assert not await uow.breaches.escalate(breach_id, 4, T0 + 3 * HOUR)
        assert await uow.breaches.get(breach_id + 1000) is None
        assert await uow.breaches.resolve(breach_id + 1000, tm, "x", T0) is None
        assert await uow.breaches.acknowledge(breach_id + 1000, tm, None, T0) is None
        assert not await uow.breaches.escalate(breach_id + 1000, 1, T0)
    record = await _get(tx, breach_id)
    assert (record.resolved_by, record.resolution, record.escalated_step) == (
        tm,
        "Reallocated",
        3,
    )


async def test_unresolved_lists_the_organisations_oldest_first(tx: Transactions, acme: str) -> None:
    nq, tm = await _people(tx, acme)
    [(_, _, newer)] = await _reconcile(tx, acme, nq, CP, at=T0 + HOUR)
    [(_, _, older)] = await _reconcile(tx, acme, tm, cap("C-1"), at=T0)
    async with tx.write() as uow:
        await uow.breaches.acknowledge(newer, tm, None, T0 + 2 * HOUR)
    async with tx.read() as uow:
        assert [b.id for b in await uow.breaches.unresolved(acme)] == [older, newer]
        assert await uow.breaches.unresolved("elsewhere") == ()


async def test_one_unresolved_breach_per_person_and_rule_in_the_schema(
    storage: Storage, org: str
) -> None:
    """The partial unique index covers acknowledged breaches as well as open ones."""
    async with storage.write() as s:
        nq = await s.people.ensure(org, "NQ-1")
        [opened] = await s.breaches.reconcile(org, nq, [cap("C-1")], T0)
        await s.breaches.acknowledge(opened.id, nq, None, T0)

    def row(status: str) -> BreachRow:
        found = BreachRow.opened(org, nq, cap("C-1"), T0)
        found.status = status
        return found

    with pytest.raises(StorageError):
        async with storage.write() as s:
            s.session.add(row("open"))
    async with storage.write() as s:  # any number of resolved ones
        s.session.add_all([row("resolved"), row("resolved")])


async def test_one_transaction_reconciling_a_worker_again_sees_its_own_writes(
    tx: Transactions, acme: str
) -> None:
    """A group of events for one worker reconciles their breaches once per event in one
    transaction, from what the transaction remembers rather than a read each time: that
    memory must follow its own writes, and forget them when a breach is resolved by hand."""
    nq, tm = await _people(tx, acme)
    (opened,) = await _reconcile(tx, acme, nq, cap("C-1", "C-2"))
    async with tx.write() as uow:
        for detail in ("5 children, cap 3", "4 children, cap 3"):
            found = [cap("C-1", "C-2", detail=detail)]
            assert await uow.breaches.reconcile(acme, nq, found, T0) == ()
        assert await uow.breaches.open_for(nq) == (cap("C-1", "C-2"),)
        assert await uow.breaches.resolve(opened[2], tm, "Moved a case", T0 + HOUR) is not None
        (again,) = await uow.breaches.reconcile(acme, nq, [cap("C-1", "C-2", "C-3")], T0 + HOUR)
        assert (again.change, again.breach) == ("opened", cap("C-1", "C-2", "C-3"))
    assert (await _get(tx, opened[2])).status == "resolved"
