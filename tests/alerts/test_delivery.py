"""The delivery worker over the outbox, on both databases: due messages only, backoff with
jitter, 429s waited out, parking (audited, the admins told), edits that find their
original, pacing per conversation, and leases that outlive a dead worker."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import pytest

from handlers.alerts.body import decode, encode
from handlers.alerts.delivery import PARKED, Delivery, DeliveryPolicy
from handlers.alerts.messenger import DeliveryFailed
from handlers.chat.replies import Reply
from handlers.ports import NewMessage, OutboxMessage
from policy import StaffRole
from storage.repositories import Storage
from tests.alerts.recording import RecordingMessenger
from tests.conftest import T0

FAST = DeliveryPolicy(attempts=3, first_wait_s=2.0, pace_s={"slack": 0.0, "teams": 0.0})


@dataclass
class Clock:
    at: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


def message(
    key: str,
    target: str = "C1",
    *,
    due: dt.datetime = T0,
    edits: str | None = None,
    topic: str = "breach_opened",
) -> NewMessage:
    return NewMessage(
        key=key,
        topic=topic,
        platform="slack",
        tenant="T1",
        kind="channel",
        target=target,
        body=encode(Reply(text=f"message {key}")),
        due_at=due,
        edits=edits,
    )


async def queue(tx: Storage, org: str, *ms: NewMessage) -> None:
    async with tx.write() as uow:
        await uow.outbox.add(org, list(ms), T0)


async def stored(tx: Storage, org: str, key: str) -> OutboxMessage:
    async with tx.read() as uow:
        found = await uow.outbox.get(org, key)
    assert found is not None
    return found


async def _admin(tx: Storage, org: str) -> None:
    """ADM-1, an admin on Slack (UADMIN): who is told of what is parked."""
    async with tx.write() as uow:
        await uow.people.upsert(
            org,
            "ADM-1",
            display_name="Ada Admin",
            roles=[StaffRole.ADMIN],
            team_ref=None,
            manager_ref=None,
            occurred_at=T0,
        )
        admin = await uow.people.get(org, "ADM-1")
        assert admin is not None
        await uow.directory.link(admin.id, "slack", "T1", "UADMIN")


def worker(
    tx: Storage, clock: Clock, policy: DeliveryPolicy = FAST, name: str = "w1"
) -> tuple[Delivery, RecordingMessenger]:
    out = RecordingMessenger()
    return Delivery(tx, {"slack": out}, clock, name=name, policy=policy, jitter=lambda: 1.0), out


async def test_only_what_is_due_is_sent_and_the_platform_ids_are_kept(
    storage: Storage, org: str
) -> None:
    clock = Clock()
    await queue(storage, org, message("now"), message("later", due=T0 + dt.timedelta(hours=1)))
    d, out = worker(storage, clock)
    assert await d.drain() == 1
    assert out.texts() == ["message now"]
    sent = await stored(storage, org, "now")
    assert (sent.status, sent.posted_conversation, sent.posted_message) == (
        "sent",
        "C-C1",
        "1.0001",
    )
    assert (await stored(storage, org, "later")).status == "pending"
    clock.advance(3600)
    await d.drain()
    assert out.texts() == ["message now", "message later"]


async def test_a_failure_is_retried_after_a_backoff_and_the_reason_kept(
    storage: Storage, org: str
) -> None:
    clock = Clock()
    await queue(storage, org, message("m"))
    d, out = worker(storage, clock)
    out.failures.append(DeliveryFailed("HTTP 500"))
    await d.drain()
    failed_once = await stored(storage, org, "m")
    assert (failed_once.status, failed_once.attempts, failed_once.last_error) == (
        "pending",
        1,
        "HTTP 500",
    )
    assert failed_once.due_at == T0 + dt.timedelta(seconds=2), "2 s, then 4, 8…"
    assert await d.drain() == 0, "not before its time"
    clock.advance(2)
    await d.drain()
    assert out.texts() == ["message m"] and (await stored(storage, org, "m")).status == "sent"


def test_backoff_grows_exponentially_up_to_a_ceiling_with_full_jitter() -> None:
    p = DeliveryPolicy(first_wait_s=2.0, longest_wait_s=60.0)
    assert [p.backoff(n, 1.0) for n in (1, 2, 3, 4, 5, 6, 9)] == [2, 4, 8, 16, 32, 60, 60]
    assert p.backoff(4, 0.5) == 8 and p.backoff(4, 0.0) == 1.0, "jitter, never zero"


async def test_a_429_waits_as_long_as_asked_and_is_not_counted_as_an_attempt(
    storage: Storage, org: str
) -> None:
    clock = Clock()
    await queue(storage, org, message("m"))
    d, out = worker(storage, clock)
    out.failures.append(DeliveryFailed("HTTP 429", retry_after=30))
    await d.drain()
    m = await stored(storage, org, "m")
    assert (m.attempts, m.due_at) == (0, T0 + dt.timedelta(seconds=30))


@pytest.mark.parametrize("permanent", [True, False])
async def test_the_last_attempt_or_a_hopeless_one_parks_it_audited_and_the_admins_told(
    storage: Storage, org: str, permanent: bool
) -> None:
    await _admin(storage, org)
    clock = Clock()
    await queue(storage, org, message("m"))
    d, out = worker(storage, clock)
    tries = 1 if permanent else FAST.attempts
    for _ in range(tries):
        out.failures.append(DeliveryFailed("channel_not_found", permanent=permanent))
        await d.drain()
        clock.advance(600)
    m = await stored(storage, org, "m")
    assert (m.status, m.attempts, m.last_error) == ("failed", tries, "channel_not_found")
    async with storage.read() as uow:
        assert [x.key for x in await uow.outbox.failed(org)] == ["m"]
    await d.drain()
    report = [s for s in out.sent if s.to.id == "UADMIN"]
    assert len(report) == 1
    assert report[0].message.text == "Not delivered: a breach opened message to a slack channel"
    async with storage.write() as uow:
        assert await uow.outbox.requeue(org, [m.id], clock()) == 1
    await d.drain()
    assert (await stored(storage, org, "m")).status == "sent"


async def test_an_edit_waits_for_its_original_then_edits_that_message(
    storage: Storage, org: str
) -> None:
    clock = Clock()
    await queue(storage, org, message("orig", due=T0 + dt.timedelta(seconds=60)))
    # Queued while the original is pending and unclaimed: it replaces the original's words.
    await queue(storage, org, message("orig:v2", edits="orig"))
    assert decode((await stored(storage, org, "orig")).body).text == "message orig:v2"
    d, out = worker(storage, clock)
    clock.advance(60)
    await d.drain()
    await queue(storage, org, message("orig:v3", edits="orig"))
    await d.drain()
    assert [(s.message.text, s.edit) for s in out.sent] == [
        ("message orig:v2", False),
        ("message orig:v3", True),
    ]
    assert out.sent[1].posted == out.sent[0].posted


async def test_an_edit_of_a_message_that_was_never_delivered_is_posted_afresh(
    storage: Storage, org: str
) -> None:
    clock = Clock()
    await queue(storage, org, message("orig"))
    d, out = worker(storage, clock)
    out.failures.append(DeliveryFailed("channel_not_found", permanent=True))
    await d.drain()
    await queue(storage, org, message("orig:v2", edits="orig"))
    await d.drain()
    assert [(s.message.text, s.edit) for s in out.sent] == [("message orig:v2", False)]


async def test_one_conversation_is_paced_and_others_go_alongside(
    storage: Storage, org: str
) -> None:
    clock = Clock()
    await queue(storage, org, message("a1", "A"), message("a2", "A"), message("b1", "B"))
    paced = DeliveryPolicy(pace_s={"slack": 0.2, "teams": 0.2}, pace_wait_s=1.0)
    d, out = worker(storage, clock, paced)
    await d.drain()
    at = {s.message.text: s.at for s in out.sent}
    assert at["message a2"] - at["message a1"] >= 0.19
    assert at["message b1"] - at["message a1"] < 0.1


async def test_a_claim_is_leased_and_a_dead_workers_lease_runs_out(
    storage: Storage, org: str
) -> None:
    clock = Clock()
    await queue(storage, org, message("m"))
    async with storage.write() as uow:  # a worker that claims, then dies
        claimed = await uow.outbox.claim(clock(), 10, clock() + dt.timedelta(seconds=60), "dead")
    assert [m.key for m in claimed] == ["m"]
    d, out = worker(storage, clock)
    assert await d.drain() == 0 and out.sent == []
    clock.advance(61)
    await d.drain()
    assert out.texts() == ["message m"]


async def test_a_report_that_cannot_be_delivered_is_parked_and_not_reported_again(
    storage: Storage, org: str
) -> None:
    clock = Clock()
    await queue(storage, org, message("report", topic=PARKED))
    d, out = worker(storage, clock)
    out.failures.append(DeliveryFailed("user_not_found", permanent=True))
    assert await d.drain() == 1
    async with storage.read() as uow:
        depth = await uow.outbox.depth(clock())
    assert (depth.pending, depth.failed) == (0, 1)


async def test_a_platform_this_server_does_not_run_is_parked_without_a_report(
    storage: Storage, org: str
) -> None:
    """Someone on Slack and Teams is told on each; where only Slack runs, the Teams copy is
    parked (listed, re-sendable once Teams is set up) and no admin is told of each one."""
    await _admin(storage, org)
    clock = Clock()
    teams = replace(message("t"), platform="teams")
    await queue(storage, org, teams)
    d, out = worker(storage, clock)
    assert await d.drain() == 1
    m = await stored(storage, org, "t")
    assert (m.status, m.last_error) == ("failed", "teams is not configured here")
    async with storage.read() as uow:
        depth = await uow.outbox.depth(clock())
    assert (depth.pending, depth.failed) == (0, 1) and out.sent == []


async def test_a_turn_not_yet_come_is_requeued_at_it_rather_than_waited_for(
    storage: Storage, org: str
) -> None:
    clock = Clock()
    await queue(storage, org, message("a1", "A"), message("a2", "A"), message("b1", "B"))
    d, out = worker(storage, clock, DeliveryPolicy(pace_s={"slack": 1.0, "teams": 1.0}))
    assert await d.deliver_due() == 3
    assert sorted(out.texts()) == ["message a1", "message b1"]
    later = await stored(storage, org, "a2")
    assert (later.status, later.attempts) == ("pending", 0)
    assert T0 + dt.timedelta(seconds=0.9) <= later.due_at <= T0 + dt.timedelta(seconds=1.1)
