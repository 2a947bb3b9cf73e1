"""Every alert use case that writes an audit row, run once: for the tests that check each
audit kind is written, with the same keys, by every path."""

from __future__ import annotations

import datetime as dt
import json

from handlers.alerts import lifecycle, sweep
from handlers.alerts.body import encode
from handlers.alerts.delivery import Delivery
from handlers.case_events import apply_event
from handlers.chat.replies import Reply
from handlers.events import parse_event
from handlers.ports import NewMessage, Transactions


async def alert_paths(tx: Transactions, org_id: str, manager: str, at: dt.datetime) -> None:
    """`manager`'s team's NQSW must have one unresolved breach: it is acknowledged,
    escalated up the ladder, then resolved by hand; a supervision is recorded; a message
    that cannot be delivered is parked."""
    async with tx.write() as uow:
        org = await uow.orgs.get(org_id)
        by = await uow.people.get(org_id, manager)
        assert org is not None and by is not None
        record = (await uow.breaches.unresolved(org_id))[0]
        await lifecycle.acknowledge(uow, org, record, by, "Reallocating at the next meeting", at)
    later = at + dt.timedelta(days=15)
    assert (await sweep.tick(tx, later)).fired
    async with tx.write() as uow:
        again = await uow.breaches.get(record.id)
        assert again is not None
        await lifecycle.resolve(uow, org, again, by, "Reallocated to an experienced worker", later)
        nqsw = await uow.people.get_by_id(record.person_id)
        assert nqsw is not None
    supervised = {
        "type": "worker.supervision_recorded",
        "occurred_at": later.isoformat(),
        "org": org_id,
        "data": {"worker_ref": nqsw.ref, "on": later.date().isoformat()},
    }
    await apply_event(tx, "supervision-1", parse_event(json.dumps(supervised)), at=later)
    async with tx.write() as uow:
        lost = NewMessage(
            key="unreachable",
            topic="breach_opened",
            platform="slack",
            tenant="T1",
            kind="channel",
            target="C-GONE",
            body=encode(Reply(text="unreachable")),
            due_at=later,
        )
        await uow.outbox.add(org_id, [lost], later)
    await Delivery(tx, {}, lambda: later, name="paths").drain()  # no Slack here: parked
