"""A breach's messages, on both databases, in the chat test world (Stoke: NQ-4 in month 4
holds C-CP-9, child protection, as lead; the policy allows it after the 6-month review).

What opens queues the alert in the same transaction; acknowledging and resolving edit every
copy; the ladder's second step (14 calendar days) tells the principal social worker; the
daily sweep runs once a day and reminds of reviews and supervision."""

from __future__ import annotations

import datetime as dt
import json

from handlers.alerts import breach_alerts, sweep
from handlers.alerts.body import decode
from handlers.alerts.delivery import Delivery
from handlers.case_events import apply_event
from handlers.chat.replies import ActionKind, ActionValue, Button, Reply
from handlers.chat.turn import parse_action, respond
from handlers.events import parse_event
from handlers.ports import BreachRecord, OutboxMessage
from storage.repositories import Storage
from tests.alerts.recording import RecordingMessenger, moving
from tests.chat.harness import command, plain, seed
from tests.chat.world import AAD, NOW, STOKE, USERS, slack

OPENED = NOW - dt.timedelta(hours=1)
"""When the world's events were applied: 09:00 on Monday 23 November 2026 (GMT)."""
PLAN = "Moving C-CP-9 to SW-1 at Thursday's allocation meeting"
REASON = "C-CP-9 reallocated to SW-1 today"


RULE = "stoke.cp.none-before-six-month-review"
"""One of the two rules C-CP-9 breaks (the other: child protection lead from nine months)."""


async def breach(tx: Storage) -> BreachRecord:
    async with tx.read() as uow:
        found = {b.breach.rule: b for b in await uow.breaches.unresolved(STOKE)}
    assert set(found) == {RULE, "stoke.cp.lead-from-nine-months"}, found
    return found[RULE]


async def messages_of(tx: Storage, breach_id: int, *topics: str) -> list[OutboxMessage]:
    async with tx.read() as uow:
        return list(await uow.outbox.of_breach(breach_id, topics))


async def audit_kinds(tx: Storage) -> list[str]:
    async with tx.read() as uow:
        far = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
        return [r.kind async for r in uow.audit.export(STOKE, NOW - dt.timedelta(days=400), far)]


def targets(ms: list[OutboxMessage]) -> set[tuple[str, str, str]]:
    return {(m.platform, m.kind, m.target) for m in ms}


def people(*refs: str) -> set[tuple[str, str, str]]:
    return {("slack", "person", USERS[r]) for r in refs} | {
        ("teams", "person", AAD[r]) for r in refs
    }


async def world(tx: Storage) -> Storage:
    await seed(tx)
    return tx


def delivery(tx: Storage, at: dt.datetime) -> tuple[Delivery, RecordingMessenger]:
    slack_out, teams_out = RecordingMessenger("slack"), RecordingMessenger("teams")
    d = Delivery(tx, {"slack": slack_out, "teams": teams_out}, moving(at), name="test")
    slack_out.sent = teams_out.sent  # one list: the order across platforms is kept
    return d, slack_out


async def press(tx: Storage, who: str, b: Button, text: str | None = None) -> Reply:
    value = ActionValue.load(b.value.dump())
    reply = await respond(tx, slack(who), parse_action(b.kind, value, text), NOW)
    assert reply is not None
    return reply


def _values(reply: Reply) -> str:
    return " ".join(b.value.dump() for b in reply.buttons)


def button(reply: Reply, kind: ActionKind) -> Button:
    (found,) = [b for b in reply.buttons if b.kind is kind]
    return found


async def test_a_breach_that_opens_queues_its_alert_in_the_same_transaction(
    storage: Storage,
) -> None:
    tx = await world(storage)
    b = await breach(tx)
    assert b.status == "open" and b.breach.case_ids == ("C-CP-9",)
    assert b.escalated_step == 1, "Stoke's first step (no wait) goes out with the alert"
    alerts = await messages_of(tx, b.id, breach_alerts.ALERT)
    # Stoke step 1: the team manager and the ASYE lead; NQ-4 has no assessor. T-1 has no
    # channel linked, so the alert goes privately, on both platforms each is on.
    assert targets(alerts) == people("TM-1", "AL-1")
    notes = await messages_of(tx, b.id, breach_alerts.NOTE)
    assert targets(notes) == people("NQ-4")
    assert {m.due_at for m in alerts + notes} == {OPENED}, "09:00 on a Monday: at once"
    alert = decode(alerts[0].body)
    assert alert.text == "Breach: Nia Four (month 4): C-CP-9 (Child protection) held as lead"
    shown = plain(alert)
    assert "Escalates to: the principal social worker on Mon 7 Dec 2026 if unresolved" in shown
    assert [x.label for x in alert.buttons] == ["I'm on it", "Resolved", "Open in caseload"]
    assert "told, and your ASYE lead" in plain(decode(notes[0].body))


async def test_a_redelivered_event_or_a_second_sweep_queues_nothing_twice(
    storage: Storage,
) -> None:
    tx = await world(storage)
    b = await breach(tx)
    before = await messages_of(tx, b.id, breach_alerts.ALERT, breach_alerts.NOTE)
    await sweep.daily(tx, NOW)
    assert await sweep.daily(tx, NOW + dt.timedelta(hours=3)) is None, "once a day"
    after = await messages_of(tx, b.id, breach_alerts.ALERT, breach_alerts.NOTE)
    assert [m.id for m in after] == [m.id for m in before]


async def test_delivery_sends_the_alert_then_acknowledging_edits_every_copy(
    storage: Storage,
) -> None:
    tx = await world(storage)
    b = await breach(tx)
    d, out = delivery(tx, NOW)
    await d.drain()
    mine = [s for s in out.sent if f'"breach":{b.id}' in _values(s.message)]
    posted = {s.to.id: s.posted for s in mine}
    assert len(out.sent) == 12 and not any(s.edit for s in out.sent), "two breaches, 6 each"
    alert = next(s.message for s in mine if s.to.id == USERS["TM-1"])

    form = await press(tx, "TM-1", button(alert, ActionKind.ACKNOWLEDGE))
    assert form.form is not None and form.form.min_length == 0, "the plan is optional"
    done = await press(tx, "TM-1", button(alert, ActionKind.ACKNOWLEDGE), PLAN)
    assert done.text.startswith("Acknowledged: you are on Nia Four's breach")
    assert (await breach(tx)).status == "acknowledged"

    out.sent.clear()
    await d.drain()
    edits = [s for s in out.sent if s.edit]
    assert {s.to.id for s in edits} == {USERS["TM-1"], USERS["AL-1"], AAD["TM-1"], AAD["AL-1"]}
    assert all(s.posted == posted[s.to.id] for s in edits), "the same message, edited"
    shown = plain(edits[0].message)
    assert f"Acknowledged by Tara Manager at 10:00 on Mon 23 Nov 2026. Plan: {PLAN}" in shown
    assert (await audit_kinds(tx))[-1] == "breach_acknowledged"


async def test_only_those_whose_reach_covers_the_nqsw_may_act_on_it(storage: Storage) -> None:
    tx = await world(storage)
    b = await breach(tx)
    ack = Button(ActionKind.ACKNOWLEDGE, "I'm on it", ActionValue(breach=b.id))
    nqsw = await press(tx, "NQ-7", ack)
    assert nqsw.text.startswith("Acknowledging a breach is for"), plain(nqsw)
    other_team = await press(tx, "TM-2", ack, PLAN)
    assert other_team.text.startswith("Acknowledging a breach (Nia Four) is for"), plain(other_team)
    unknown = await press(tx, "TM-1", Button(ActionKind.ACKNOWLEDGE, "x", ActionValue(breach=999)))
    assert unknown.text == "There is no breach 999 in your organisation."
    assert (await breach(tx)).status == "open"


async def test_resolving_by_hand_edits_the_alert_and_the_note_and_stops_the_ladder(
    storage: Storage,
) -> None:
    tx = await world(storage)
    b = await breach(tx)
    d, out = delivery(tx, NOW)
    await d.drain()
    resolve = Button(ActionKind.RESOLVE, "Resolved", ActionValue(breach=b.id))
    short = await press(tx, "TM-1", resolve, "done")
    assert short.text.startswith("Say why it is resolved, in 10 to 500 characters")
    done = await press(tx, "TM-1", resolve, REASON)
    assert done.text.startswith("Resolved: Nia Four's breach")
    async with tx.read() as uow:
        record = await uow.breaches.get(b.id)
    assert record is not None and record.status == "resolved" and record.resolution == REASON

    out.sent.clear()
    await d.drain()
    shown = [plain(s.message) for s in out.sent]
    assert len(out.sent) == 6 and all(s.edit for s in out.sent), "4 alerts and 2 notes"
    assert sum(f"Resolved by Tara Manager on Mon 23 Nov 2026: {REASON}" in t for t in shown) == 6

    # Fourteen days on, the caseload still holds C-CP-9: the person said why it is not a
    # breach, so the sweep does not open it again, and nobody is escalated to.
    later = NOW + dt.timedelta(days=14)
    swept = await sweep.tick(tx, later)
    assert swept.fired == 1 and swept.swept, "the other breach's ladder only"
    async with tx.read() as uow:
        assert [u.breach.rule for u in await uow.breaches.unresolved(STOKE)] == [
            "stoke.cp.lead-from-nine-months"
        ]
    again = await press(tx, "TM-1", resolve, REASON)
    assert again.text.startswith("That breach was already resolved on Mon 23 Nov 2026")


async def test_the_caseload_back_within_policy_resolves_it_and_says_so(storage: Storage) -> None:
    tx = await world(storage)
    b = await breach(tx)
    ended = {
        "type": "allocation.ended",
        "occurred_at": NOW.isoformat(),
        "org": STOKE,
        "data": {"case_ref": "C-CP-9", "worker_ref": "NQ-4", "to": "2026-11-23"},
    }
    await apply_event(tx, "end-cp-9", parse_event(json.dumps(ended)), at=NOW)
    edits = await messages_of(tx, b.id, breach_alerts.ALERT, breach_alerts.NOTE)
    async with tx.read() as uow:
        record = await uow.breaches.get(b.id)
        pending = [await uow.outbox.get(STOKE, m.key) for m in edits]
    assert record is not None and record.status == "resolved" and record.resolved_by is None
    # Not yet delivered, so the queued alert itself now says it is resolved (no second message).
    bodies = [plain(decode(m.body)) for m in pending if m is not None]
    assert len(bodies) == 6
    assert all(
        "Resolved on Mon 23 Nov 2026: the caseload came back within policy" in t for t in bodies
    )


async def test_the_ladder_tells_the_principal_social_worker_after_fourteen_days(
    storage: Storage,
) -> None:
    tx = await world(storage)
    b = await breach(tx)
    assert (await sweep.tick(tx, OPENED + dt.timedelta(days=13, hours=8))).fired == 0
    due = OPENED + dt.timedelta(days=14)  # Mon 7 Dec 2026, 09:00: a working day
    assert (await sweep.tick(tx, due - dt.timedelta(minutes=1))).fired == 0
    assert (await sweep.tick(tx, due)).fired == 2, "both breaches' second step"
    assert (await sweep.tick(tx, due + dt.timedelta(minutes=1))).fired == 0, "once"
    step2 = await messages_of(tx, b.id, breach_alerts.ESCALATION)
    assert targets(step2) == people("PSW-1")
    assert decode(step2[0].body).text == (
        "Escalation: Nia Four (month 4): breach unresolved since Mon 23 Nov 2026"
    )
    d, out = delivery(tx, due)
    await d.drain()
    edited = [plain(s.message) for s in out.sent if s.to.id == USERS["TM-1"]]
    assert any("Escalated to the principal social worker on Mon 7 Dec 2026" in t for t in edited)
    assert (await audit_kinds(tx)).count("breach_escalated") == 2


async def test_the_sweep_reminds_of_a_review_coming_and_of_supervision_overdue(
    storage: Storage,
) -> None:
    tx = await world(storage)
    # NQ-4 and NQ-7 have no supervision recorded: counted from their ASYE start, overdue.
    done = await respond(tx, slack("NQ-7"), command("caseload", "supervision done"), NOW)
    assert done is not None and done.text == "Recorded: your supervision on Mon 23 Nov 2026"
    again = await respond(tx, slack("NQ-7"), command("caseload", "supervision done"), NOW)
    assert again is not None and again.text.startswith("Already recorded")
    assert await sweep.daily(tx, NOW) is not None
    d, out = delivery(tx, NOW)
    await d.drain()
    texts = {(s.to.id, s.message.text) for s in out.sent if s.to.platform == "slack"}
    eleven = "ASYE review soon: Lee Eleven's month 11 review is due Sun 29 Nov 2026"
    assert {(USERS[r], eleven) for r in ("NQ-11", "TM-1")} <= texts
    overdue = {t for _, t in texts if t.startswith("Supervision overdue")}
    assert any(t.startswith("Supervision overdue: Nia Four") for t in overdue)
    assert not any("Sam Seven" in t for t in overdue), "recorded today"
