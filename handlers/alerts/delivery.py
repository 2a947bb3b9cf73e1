"""The outbox's delivery worker: claims what is due, sends it through the platform's
`Messenger`, and records what happened, one message at a time.

Failures are retried with exponential backoff and full jitter; a 429 waits as long as the
platform asked (not counted as an attempt) and slows that conversation down; the last
attempt, or a failure that cannot succeed, parks the message as failed and tells the
organisation's admins. Sends to one conversation are paced under the platforms' published
limits (Slack: about one message a second per channel); different conversations go in
parallel. Claims are leased, so a worker killed mid-send leaves its messages to another."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from handlers import audit
from handlers.alerts import messages, routing
from handlers.alerts.body import decode
from handlers.alerts.messenger import DeliveryFailed, Destination, Messenger, Posted
from handlers.ports import OutboxMessage, Platform, Transactions, UnitOfWork
from policy import StaffRole

log = logging.getLogger("caseload_bot.delivery")

Clock = Callable[[], dt.datetime]

PAST_TURN_S = 0.05
"""How long past the last put-back turn `drain` looks again (its due time is a moment later)."""

PARKED = "delivery_failed"
"""The topic of the admins' report of a parked message (never itself reported)."""


PACE_S: Mapping[Platform, float] = {"slack": 1.0, "teams": 0.5, "web": 0.0}
"""Least time between two messages to one conversation: Slack allows about one a second
per channel; Teams about seven a second per conversation but 60 in 30 s per bot; the
try-out page keeps messages in memory and needs no pacing."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    attempts: int = 8
    """Tries before a message is parked (about 20 minutes of backoff in all)."""
    first_wait_s: float = 2.0
    longest_wait_s: float = 600.0
    lease_s: float = 60.0
    """How long a claim holds a message; a worker that dies is replaced after this."""
    batch: int = 50
    pace_wait_s: float = 0.0
    """The longest a send waits for its conversation's turn; a later turn is requeued, due
    then. Waiting would hold the whole round (and every other conversation) back."""
    edit_wait_s: float = 5.0
    """How long an edit waits for its original to be sent before looking again."""
    pace_s: Mapping[Platform, float] = field(default_factory=lambda: dict(PACE_S))

    def pace(self, platform: Platform) -> float:
        return self.pace_s[platform]

    def backoff(self, attempts: int, jitter: float) -> float:
        """Full jitter: anywhere up to the exponential ceiling for this attempt."""
        ceiling = min(self.longest_wait_s, self.first_wait_s * 2.0 ** max(0, attempts - 1))
        return max(self.first_wait_s / 2, ceiling * jitter)


class NotConfigured(DeliveryFailed):
    """The message's platform has no messenger in this process."""


class Delivery:
    """One worker (a server runs one; `escalations run` runs one until nothing is due)."""

    def __init__(
        self,
        tx: Transactions,
        messengers: Mapping[Platform, Messenger],
        now: Clock,
        *,
        name: str,
        policy: DeliveryPolicy = DeliveryPolicy(),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._tx = tx
        self._messengers = messengers
        self._now = now
        self._name = name
        self._policy = policy
        self._jitter = jitter
        self._next_send: dict[tuple[Platform, str], float] = {}
        """When each conversation may next be sent to (loop time)."""
        self.tried = 0
        """Sends attempted so far (a message put back for its turn is not one)."""
        self._paced_until = 0.0
        """The last turn a message was put back for (loop time): `drain` waits for it."""

    async def deliver_due(self) -> int:
        """Claim one batch of what is due and try each once; returns how many were claimed."""
        now = self._now()
        lease = now + dt.timedelta(seconds=self._policy.lease_s)

        async def claim() -> tuple[OutboxMessage, ...]:
            async with self._tx.write() as uow:
                return await uow.outbox.claim(now, self._policy.batch, lease, self._name)

        claimed = await self._tx.retry(claim)
        by_conversation: dict[tuple[Platform, str], list[OutboxMessage]] = defaultdict(list)
        for m in claimed:
            by_conversation[(m.platform, m.target)].append(m)
        await asyncio.gather(*(self._send_in_turn(ms) for ms in by_conversation.values()))
        return len(claimed)

    async def run(self, stop: asyncio.Event, idle_s: float = 0.5) -> None:
        """Deliver until `stop` is set; a failure of the database is logged and waited out."""
        while not stop.is_set():
            try:
                busy = await self.deliver_due()
            except Exception:  # the loop outlives any one round; the next claims again
                log.exception("delivery: a round failed; trying again")
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_s)

    async def drain(self, rounds: int = 1000) -> int:
        """Deliver until nothing is due now, waiting out the turns of what pacing put back
        (the clock must move on for those to fall due); returns how many sends it tried."""
        tried = self.tried
        loop = asyncio.get_running_loop()
        for _ in range(rounds):
            if await self.deliver_due():
                continue
            wait = self._paced_until - loop.time()
            if wait < -PAST_TURN_S:
                break
            await asyncio.sleep(max(0.0, wait) + PAST_TURN_S)
        return self.tried - tried

    # --- one message -------------------------------------------------------------------

    async def _send_in_turn(self, ms: Sequence[OutboxMessage]) -> None:
        """One conversation's messages in order, paced. One that would wait longer than
        `pace_wait_s` goes back to the queue, due at its turn, so that a busy conversation
        never holds up the others' (a person told of 200 breaches, a team channel)."""
        loop = asyncio.get_running_loop()
        for m in ms:
            key = (m.platform, m.target)
            wait = self._next_send.get(key, 0.0) - loop.time()
            if wait > self._policy.pace_wait_s:
                self._paced_until = max(self._paced_until, loop.time() + wait)
                await self._postpone(m, wait)
                continue
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_send[key] = loop.time() + self._policy.pace(m.platform)
            await self._send(m)

    async def _send(self, m: OutboxMessage) -> None:
        self.tried += 1
        try:
            await self._attempt(m)
        except DeliveryFailed as e:
            await self._failed(m, e)
        except Exception as e:  # a bug or an SDK surprise: retried like a transient failure
            log.exception("delivery: message %s failed unexpectedly", m.id)
            await self._failed(m, DeliveryFailed(type(e).__name__))

    async def _attempt(self, m: OutboxMessage) -> None:
        messenger = self._messengers.get(m.platform)
        if messenger is None:
            raise NotConfigured(f"{m.platform} is not configured here", permanent=True)
        async with self._tx.read() as uow:
            to = await _destination(uow, m)
            original = None if m.edits is None else await uow.outbox.get(m.org_id, m.edits)
        reply = decode(m.body)
        if original is not None and original.status == "pending":
            await self._postpone(m, self._policy.edit_wait_s)
            return
        if original is not None and original.posted_message and original.posted_conversation:
            posted = Posted(original.posted_conversation, original.posted_message)
            await messenger.edit(to, posted, reply)
        else:  # a message, or an edit whose original was never delivered: post it afresh
            posted = await messenger.post(to, reply)
        done = self._now()
        await self._record(
            lambda uow: uow.outbox.sent(m.id, posted.conversation, posted.message, done)
        )
        log.info("delivery: sent message=%s topic=%s to %s %s", m.id, m.topic, m.platform, m.kind)

    async def _failed(self, m: OutboxMessage, e: DeliveryFailed) -> None:
        if e.retry_after is not None:
            loop = asyncio.get_running_loop()
            self._next_send[(m.platform, m.target)] = loop.time() + e.retry_after
            log.info("delivery: message=%s throttled for %.1fs", m.id, e.retry_after)
            await self._postpone(m, e.retry_after)
            return
        attempts = m.attempts + 1
        if e.permanent or attempts >= self._policy.attempts:
            log.warning(
                "delivery: message=%s parked after %d attempts: %s", m.id, attempts, e.reason
            )
            report = not isinstance(e, NotConfigured)
            await self._record(lambda uow: _park(uow, m, attempts, e.reason, self._now(), report))
            return
        wait = self._policy.backoff(attempts, self._jitter())
        log.info(
            "delivery: message=%s attempt %d failed (%s); again in %.0fs",
            m.id,
            attempts,
            e.reason,
            wait,
        )
        await self._record(lambda uow: uow.outbox.retry_later(m.id, e.reason, self._later(wait)))

    async def _postpone(self, m: OutboxMessage, seconds: float) -> None:
        await self._record(lambda uow: uow.outbox.postpone(m.id, self._later(seconds)))

    def _later(self, seconds: float) -> dt.datetime:
        return self._now() + dt.timedelta(seconds=seconds)

    async def _record(self, work: Callable[[UnitOfWork], Awaitable[None]]) -> None:
        async def once() -> None:
            async with self._tx.write() as uow:
                await work(uow)

        await self._tx.retry(once)


async def _destination(uow: UnitOfWork, m: OutboxMessage) -> Destination:
    """Teams needs a conversation reference: the channel's own, or for a person any of
    their tenant's (where the tenant's Teams service is)."""
    reference = None
    if m.platform == "teams":
        known = (
            await uow.channels.find("teams", m.target)
            if m.kind == "channel"
            else await uow.channels.any_in("teams", m.tenant)
        )
        reference = None if known is None else known.reference
    return Destination(m.platform, m.tenant, m.kind, m.target, reference)


async def _park(
    uow: UnitOfWork, m: OutboxMessage, attempts: int, error: str, at: dt.datetime, report: bool
) -> None:
    """Failed for good: kept for `outbox retry`, audited, and the admins are told (except of
    a failed report, which would only fail again, and of a platform this server does not
    run, which is the set-up, not a fault: people on Slack and Teams are told on each)."""
    await uow.outbox.park(m.id, error, at)
    entry = audit.DeliveryParked(
        message=m.id,
        topic=m.topic,
        platform=m.platform,
        target=m.target,
        attempts=attempts,
        error=error,
    )
    await uow.audit.append(m.org_id, entry, "system:delivery", at)
    if m.topic == PARKED or not report:
        return
    admins = await uow.people.with_role(m.org_id, StaffRole.ADMIN)
    body = messages.parked(m.topic, m.platform, m.kind, m.target, attempts, error)
    told = await routing.to_people(
        uow, list(admins), f"parked:{m.id}:{at.isoformat()}", PARKED, body, at
    )
    await uow.outbox.add(m.org_id, told, at)
