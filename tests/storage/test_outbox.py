"""The outbox, supervisions and once-only runs, on the fakes and on every database; and on
PostgreSQL, concurrent claimers on separate connections never lease the same message."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from handlers.ports import NewMessage, OutboxDepth, OutboxMessage, Transactions
from policy import Breach, parse_policy
from storage.repositories import Storage
from tests.conftest import T0, TINY_POLICY

MINUTE = dt.timedelta(minutes=1)
LEASE = 5 * MINUTE
TINY = parse_policy(TINY_POLICY, "tiny.yaml")


def msg(key: str, due: dt.datetime = T0, **kw: object) -> NewMessage:
    fields: dict[str, object] = {
        "key": key,
        "topic": "breach_opened",
        "platform": "slack",
        "tenant": "T01",
        "kind": "channel",
        "target": "C-alerts",
        "body": f'{{"text": "{key}"}}',
        "due_at": due,
    } | kw
    return NewMessage(**fields)  # type: ignore[arg-type]


async def _add(tx: Transactions, org: str, *messages: NewMessage) -> int:
    async with tx.write() as uow:
        return await uow.outbox.add(org, messages, T0)


async def _claim(
    tx: Transactions, now: dt.datetime = T0, limit: int = 10, worker: str = "w1"
) -> list[str]:
    async with tx.write() as uow:
        return [m.key for m in await uow.outbox.claim(now, limit, now + LEASE, worker)]


async def _get(tx: Transactions, org: str, key: str) -> OutboxMessage:
    async with tx.read() as uow:
        found = await uow.outbox.get(org, key)
    assert found is not None
    return found


async def test_a_message_is_queued_once_by_key(tx: Transactions, acme: str) -> None:
    assert await _add(tx, acme, msg("a"), msg("b"), msg("a", body="again")) == 2
    assert await _add(tx, acme, msg("a", body="redelivered"), msg("c")) == 1
    a = await _get(tx, acme, "a")
    assert (a.body, a.status, a.attempts, a.created_at, a.sent_at) == (
        '{"text": "a"}',
        "pending",
        0,
        T0,
        None,
    )
    async with tx.read() as uow:
        assert await uow.outbox.get(acme, "missing") is None


async def test_claim_leases_the_oldest_due_first_up_to_the_limit(
    tx: Transactions, acme: str
) -> None:
    await _add(
        tx,
        acme,
        msg("later", T0 + MINUTE),
        msg("second", T0 - MINUTE),
        msg("first", T0 - 2 * MINUTE),
        msg("third", T0),
    )
    assert await _claim(tx, limit=2) == ["first", "second"]
    assert await _claim(tx, limit=5, worker="w2") == ["third"]  # leased ones are skipped
    assert await _claim(tx, now=T0 + MINUTE) == ["later"]
    assert await _claim(tx, now=T0 + 2 * MINUTE) == []


async def test_a_lease_that_ran_out_is_claimed_again(tx: Transactions, acme: str) -> None:
    """How a message of a replica killed mid-send is delivered."""
    await _add(tx, acme, msg("a"))
    assert await _claim(tx, worker="killed") == ["a"]
    assert await _claim(tx, now=T0 + LEASE) == []  # the lease holds until its last instant
    assert await _claim(tx, now=T0 + LEASE + MINUTE, worker="w2") == ["a"]


async def test_sent_keeps_the_platforms_ids(tx: Transactions, acme: str) -> None:
    await _add(tx, acme, msg("a"))
    async with tx.write() as uow:
        (claimed,) = await uow.outbox.claim(T0, 1, T0 + LEASE, "w1")
        await uow.outbox.sent(claimed.id, "C-alerts", "1700000000.000100", T0 + MINUTE)
    a = await _get(tx, acme, "a")
    assert (a.status, a.posted_conversation, a.posted_message, a.sent_at) == (
        "sent",
        "C-alerts",
        "1700000000.000100",
        T0 + MINUTE,
    )
    assert await _claim(tx, now=T0 + LEASE * 2) == []


async def test_an_edit_replaces_a_message_not_yet_claimed(tx: Transactions, acme: str) -> None:
    await _add(tx, acme, msg("opened"), msg("other"))
    assert await _add(tx, acme, msg("resolved", body="resolved!", edits="opened")) == 0
    assert (await _get(tx, acme, "opened")).body == "resolved!"
    async with tx.read() as uow:
        assert await uow.outbox.get(acme, "resolved") is None
    # Claimed (being sent now): the edit is a message of its own, sent after it.
    assert await _claim(tx) == ["opened", "other"]
    assert await _add(tx, acme, msg("ack", body="acknowledged", edits="opened")) == 1
    edit = await _get(tx, acme, "ack")
    assert (edit.edits, edit.body) == ("opened", "acknowledged")
    assert (await _get(tx, acme, "opened")).body == "resolved!"
    # An edit of a message already sent, or of none, is queued as it is.
    assert await _add(tx, acme, msg("x", edits="nothing-by-that-key")) == 1


async def test_an_edit_queued_already_is_not_coalesced_again(tx: Transactions, acme: str) -> None:
    await _add(tx, acme, msg("opened"))
    async with tx.write() as uow:
        (opened,) = await uow.outbox.claim(T0, 1, T0 + LEASE, "w1")
        await uow.outbox.postpone(opened.id, T0 + MINUTE)  # released, not yet sent
    assert await _add(tx, acme, msg("edit", body="v1", edits="opened")) == 0
    assert (await _get(tx, acme, "opened")).body == "v1"


async def test_retry_later_counts_the_attempt_and_releases_the_lease(
    tx: Transactions, acme: str
) -> None:
    await _add(tx, acme, msg("a"))
    async with tx.write() as uow:
        (a,) = await uow.outbox.claim(T0, 1, T0 + LEASE, "w1")
        await uow.outbox.retry_later(a.id, "HTTP 500", T0 + MINUTE)
    retried = await _get(tx, acme, "a")
    assert (retried.attempts, retried.last_error, retried.due_at) == (1, "HTTP 500", T0 + MINUTE)
    assert await _claim(tx) == []  # not due yet
    assert await _claim(tx, now=T0 + MINUTE) == ["a"]  # due again, and free: no lease wait
    async with tx.write() as uow:
        await uow.outbox.postpone(a.id, T0 + 2 * MINUTE)
    postponed = await _get(tx, acme, "a")
    assert (postponed.attempts, postponed.due_at) == (1, T0 + 2 * MINUTE)
    assert await _claim(tx, now=T0 + 2 * MINUTE) == ["a"]


async def test_parked_messages_are_listed_and_requeued(tx: Transactions, acme: str) -> None:
    async with tx.write() as uow:
        await uow.orgs.create("beta", "Beta", TINY, "tiny.yaml", TINY_POLICY)
    await _add(tx, acme, msg("a"), msg("b"), msg("c"))
    await _add(tx, "beta", msg("a"))
    async with tx.write() as uow:
        claimed = await uow.outbox.claim(T0, 10, T0 + LEASE, "w1")
        ids = {(m.org_id, m.key): m.id for m in claimed}
        for org, key in [(acme, "a"), (acme, "b"), ("beta", "a")]:
            await uow.outbox.retry_later(ids[org, key], "HTTP 500", T0)
            await uow.outbox.park(ids[org, key], "channel_not_found", T0)
    async with tx.read() as uow:
        parked = await uow.outbox.failed(acme)
        assert [(m.key, m.status, m.attempts, m.last_error) for m in parked] == [
            ("a", "failed", 2, "channel_not_found"),
            ("b", "failed", 2, "channel_not_found"),
        ]
        assert len(await uow.outbox.failed(None)) == 3
        assert await uow.outbox.depth(T0) == OutboxDepth(pending=1, failed=3, oldest_due=T0)
    assert await _claim(tx, now=T0 + LEASE * 2) == ["c"]  # parked ones are never claimed
    later = T0 + LEASE * 3
    async with tx.write() as uow:
        assert await uow.outbox.requeue(acme, [ids[acme, "b"], ids["beta", "a"]], later) == 1
        assert await uow.outbox.requeue(acme, [ids[acme, "b"]], later) == 0  # pending now
    b = await _get(tx, acme, "b")
    assert (b.status, b.attempts, b.due_at) == ("pending", 0, later)
    async with tx.write() as uow:
        assert await uow.outbox.requeue(None, [], later) == 2
        assert await uow.orgs.ids() == ("acme", "beta")
        assert await uow.outbox.failed(None) == ()
    assert sorted(await _claim(tx, now=later)) == ["a", "a", "b"]


async def test_depth_counts_pending_and_failed_and_ages_the_oldest_due(
    tx: Transactions, acme: str
) -> None:
    async with tx.read() as uow:
        assert await uow.outbox.depth(T0) == OutboxDepth(0, 0, None)
    await _add(tx, acme, msg("future", T0 + MINUTE), msg("due", T0 - MINUTE), msg("now", T0))
    await _claim(tx, limit=1)  # a leased message is still pending
    async with tx.read() as uow:
        assert await uow.outbox.depth(T0) == OutboxDepth(3, 0, T0 - MINUTE)
        assert await uow.outbox.depth(T0 - 2 * MINUTE) == OutboxDepth(3, 0, None)


async def test_cancel_stops_a_breachs_pending_messages_of_those_topics(
    tx: Transactions, acme: str
) -> None:
    async with tx.write() as uow:
        person = await uow.people.ensure(acme, "NQ-1")
        breach = Breach("cap", "1.2", "cap", "4", "move one", ("C-1",))
        [opened] = await uow.breaches.reconcile(acme, person, [breach], T0)
        await uow.outbox.add(
            acme,
            [
                msg("opened", breach_id=opened.id),
                msg("step-1", T0 + MINUTE, topic="escalation", breach_id=opened.id),
                msg("step-2", T0 + 2 * MINUTE, topic="escalation", breach_id=opened.id),
                msg("other", T0 + MINUTE, topic="escalation"),
            ],
            T0,
        )
    assert await _claim(tx, now=T0 + MINUTE) == ["opened", "step-1", "other"]
    async with tx.write() as uow:
        assert await uow.outbox.cancel(acme, opened.id, ["escalation"]) == 2
        assert await uow.outbox.cancel(acme, opened.id, ["escalation"]) == 0
        step_1 = await uow.outbox.get(acme, "step-1")
        assert step_1 is not None
        # Its worker reports later: a failed attempt does not bring it back.
        await uow.outbox.retry_later(step_1.id, "HTTP 500", T0)
    assert [(await _get(tx, acme, k)).status for k in ("opened", "step-1", "step-2", "other")] == [
        "pending",
        "cancelled",
        "cancelled",
        "pending",
    ]
    assert (await _get(tx, acme, "step-1")).attempts == 0
    assert await _claim(tx, now=T0 + LEASE * 3) == ["opened", "other"]
    async with tx.read() as uow:
        found = await uow.outbox.of_breach(opened.id, ["escalation", "breach_opened"])
        assert [m.key for m in found] == ["opened", "step-1", "step-2"]
        assert await uow.outbox.of_breach(opened.id, ["review_due"]) == ()


async def test_supervisions_and_runs_are_recorded_once(tx: Transactions, acme: str) -> None:
    day = dt.date(2025, 1, 6)
    async with tx.write() as uow:
        person = await uow.people.ensure(acme, "NQ-1")
        assert await uow.supervisions.last(person) is None
        assert await uow.supervisions.record(person, day + dt.timedelta(days=14), T0)
        assert await uow.supervisions.record(person, day, T0)
        assert not await uow.supervisions.record(person, day, T0 + MINUTE)
        assert await uow.runs.claim("daily_sweep", "2025-01-06", T0)
        assert not await uow.runs.claim("daily_sweep", "2025-01-06", T0 + MINUTE)
        assert await uow.runs.claim("daily_sweep", "2025-01-07", T0)
        assert await uow.runs.claim("other_job", "2025-01-06", T0)
    async with tx.read() as uow:
        assert await uow.supervisions.last(person) == day + dt.timedelta(days=14)


async def test_concurrent_claimers_never_lease_the_same_message(storage: Storage, org: str) -> None:
    """Two replicas' claims overlapping in time, each on its own connection: every message
    goes to one of them, and none is left behind."""
    if storage.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers: one process delivers")

    async def claimer(worker: str) -> list[int]:
        async with storage.write() as s:
            claimed = await s.outbox.claim(T0, 4, T0 + LEASE, worker)
            await asyncio.sleep(0.01)  # hold the row locks while the other claims
        return [m.id for m in claimed]

    seen: list[int] = []
    for round_ in range(40):
        async with storage.write() as s:
            await s.outbox.add(org, [msg(f"{round_}-{i}") for i in range(6)], T0)
        first, second = await asyncio.gather(claimer("a"), claimer("b"))
        assert not set(first) & set(second), f"round {round_}: both leased {first} {second}"
        assert len(first) + len(second) == 6
        seen += first + second
    assert len(seen) == len(set(seen)) == 240
