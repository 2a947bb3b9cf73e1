"""Buttons and forms: what pressing them records, once, re-checked against the caseload at
that moment, and whom an approved exception is announced to."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from handlers.case_events import apply_event
from handlers.chat.replies import ActionKind, ActionValue, Button, ChatAddress, Reply
from handlers.chat.turn import Asker, parse_action, respond
from handlers.errors import BadButton
from handlers.events import parse_event
from policy import Role
from tests.chat.harness import command, plain, world
from tests.chat.world import AAD, NOW, SEEDED, STOKE, TENANT, USERS, WORKSPACE, mention, slack
from tests.fakes import FakeTransactions
from tests.handlers.world import facts, snapshot, written

JUSTIFICATION = "Sibling group already known to this worker; manager co-visits weekly"


async def ask(tx: FakeTransactions, who: str, text: str) -> Reply:
    reply = await respond(tx, slack(who), command("allocate", text), NOW)
    assert reply is not None
    return reply


def button(reply: Reply, kind: ActionKind) -> Button:
    found = [b for b in reply.buttons if b.kind is kind]
    assert len(found) == 1, plain(reply)
    return found[0]


async def press(
    tx: FakeTransactions, who: str, b: Button, justification: str | None = None
) -> Reply:
    value = ActionValue.load(b.value.dump())  # as it comes back from the platform
    reply = await respond(tx, slack(who), parse_action(b.kind, value, justification), NOW)
    assert reply is not None
    return reply


async def test_record_as_co_worker_records_once_however_often_it_is_pressed() -> None:
    tx = await world()
    check = await ask(tx, "TM-1", f"C-CP-1 to {mention('NQ-7')} as lead")
    record = button(check, ActionKind.RECORD)
    assert record.label == "Record as co-worker"
    before = snapshot(tx)

    first = await press(tx, "TM-1", record)
    assert first.text == (
        "Recorded: Sam Seven holds C-CP-1 (child protection) as co-worker from Mon 23 Nov 2026"
    )
    assert first.replaces
    second = await press(tx, "TM-1", record)
    assert second.text.startswith("Already recorded: Sam Seven holds C-CP-1")

    added = {f for f in facts(tx.state) - facts(before)}
    assert added == {"allocation C-CP-1 NQ-7 co_work 2026-11-23.. chat"}
    assert written(before, tx.state) == [
        "decision C-CP-1 co_work: allow",
        "allocation_started C-CP-1 NQ-7 co_work (allow)",
    ]


async def test_recording_rechecks_the_caseload_of_that_moment() -> None:
    tx = await world()
    check = await ask(tx, "TM-1", f"C-CIN-4 to {mention('NQ-11')} as lead")
    assert check.text.startswith("Allowed"), plain(check)  # 15 + 1 = 16 of 16
    # Meanwhile the case system allocates another child to them.
    body = {
        "type": "allocation.started",
        "occurred_at": (NOW - dt.timedelta(minutes=5)).isoformat(),
        "org": STOKE,
        "data": {"case_ref": "C-CIN-3", "worker_ref": "NQ-11", "role": "lead"},
    }
    await apply_event(tx, "late", parse_event(json.dumps(body)), at=NOW)
    before = snapshot(tx)
    reply = await press(tx, "TM-1", button(check, ActionKind.RECORD))
    assert reply.text.startswith(
        "Not recorded: co-work only now for Lee Eleven for C-CIN-4 (child in need) as lead"
    )
    assert facts(tx.state) == facts(before)


async def test_a_new_case_is_recorded_with_what_was_said_and_the_case_system_overrides_it() -> None:
    tx = await world()
    check = await ask(tx, "TM-1", f"C-NEW-1 to {mention('NQ-7')} type child_in_need children 2")
    reply = await press(tx, "TM-1", button(check, ActionKind.RECORD))
    assert reply.text.startswith("Recorded: Sam Seven holds C-NEW-1 (child in need) as lead")
    assert "case C-NEW-1 child_in_need 2" in facts(tx.state)
    body = {
        "type": "case.upserted",
        "occurred_at": SEEDED.isoformat(),  # older than the chat's record: still wins
        "org": STOKE,
        "data": {"ref": "C-NEW-1", "work_type": "child_protection", "children": 3},
    }
    await apply_event(tx, "truth", parse_event(json.dumps(body)), at=NOW)
    assert "case C-NEW-1 child_protection 3" in facts(tx.state)


async def test_an_approved_exception_records_the_override_and_tells_the_asye_lead_and_psw() -> None:
    tx = await world()
    check = await ask(tx, "TM-1", f"C-CP-1 to {mention('NQ-7')} as lead")
    exception = button(check, ActionKind.REQUEST_EXCEPTION)
    assert exception.label == "Request exception (needs a team manager)"

    form_reply = await press(tx, "TM-1", exception)
    assert form_reply.form is not None
    assert "Do not write a child's name" in form_reply.form.prompt
    before = snapshot(tx)
    done = await press(tx, "TM-1", exception, JUSTIFICATION)

    assert done.text.startswith("Recorded: Sam Seven holds C-CP-1 (child protection) as lead")
    assert "Exception recorded: set aside" in plain(done)
    assert written(before, tx.state) == [
        "decision C-CP-1 lead: allow",
        "override C-CP-1 stoke.cp.lead-from-nine-months by TM-1",
        "allocation_started C-CP-1 NQ-7 lead (allow)",
    ]
    (notice,) = done.notices
    told = ("AS-1", "AL-1", "PSW-1")
    assert set(notice.to) == {ChatAddress("slack", WORKSPACE, USERS[ref]) for ref in told} | {
        ChatAddress("teams", TENANT, AAD[ref]) for ref in told
    }
    assert notice.text == (
        "Exception approved: Sam Seven holds C-CP-1 (child protection) as lead in month 7"
    )
    assert JUSTIFICATION not in plain(Reply(notice.text, notice.blocks))


async def test_only_the_roles_the_policy_names_may_approve_an_exception() -> None:
    tx = await world()
    check = await ask(tx, "AP-1", f"C-CP-1 to {mention('NQ-7')} as lead")
    before = snapshot(tx)
    for justification in (None, JUSTIFICATION):
        reply = await press(tx, "AP-1", button(check, ActionKind.REQUEST_EXCEPTION), justification)
        assert reply.text == (
            "Only team manager can approve this exception; ask them to press Request exception."
        )
    assert snapshot(tx) == before


async def test_a_rule_that_applies_regardless_of_circumstances_cannot_be_set_aside() -> None:
    tx = await world()
    value = ActionValue(case="C-CP-1", worker="NQ-4", role=Role.LEAD)
    before = snapshot(tx)
    reply = await respond(
        tx, slack("TM-1"), parse_action(ActionKind.REQUEST_EXCEPTION, value, JUSTIFICATION), NOW
    )
    assert reply is not None
    assert reply.text.startswith("No exception is possible")
    assert snapshot(tx) == before


async def test_a_justification_too_short_is_refused_and_nothing_is_recorded() -> None:
    tx = await world()
    check = await ask(tx, "TM-1", f"C-CP-1 to {mention('NQ-7')} as lead")
    before = snapshot(tx)
    reply = await press(tx, "TM-1", button(check, ActionKind.REQUEST_EXCEPTION), "because")
    assert reply.text.startswith("Override.justification:"), reply.text
    assert snapshot(tx) == before


async def test_what_can_they_hold_and_who_can_take_it_buttons() -> None:
    tx = await world()
    check = await ask(tx, "TM-1", f"C-CP-1 to {mention('NQ-7')} as lead")
    hold = await press(tx, "TM-1", button(check, ActionKind.WHAT_CAN_THEY_HOLD))
    assert hold.text.startswith("Sam Seven: month 7 of 12")
    who = await press(tx, "TM-1", button(check, ActionKind.WHO_CAN_TAKE))
    assert who.text.startswith("C-CP-1 (child protection, 2 children): who in Assessment Team 1")


async def test_a_platform_retry_of_the_same_message_is_answered_once() -> None:
    tx = await world()
    asked = command("message", "what can I hold?")
    first = await respond(tx, slack("NQ-7"), asked, NOW, delivery="slack:Ev1")
    again = await respond(tx, slack("NQ-7"), asked, NOW, delivery="slack:Ev1")
    other = await respond(tx, slack("NQ-7"), asked, NOW, delivery="slack:Ev2")
    assert first is not None and other is not None and again is None


@pytest.mark.parametrize("text", ["{", '{"case": "C-1", "child_name": "x"}', '{"case": ""}', "[]"])
def test_a_forged_or_stale_button_value_is_refused(text: str) -> None:
    with pytest.raises(BadButton):
        ActionValue.load(text)


async def test_someone_of_another_platform_tenant_is_not_recognised() -> None:
    tx = await world()
    reply = await respond(tx, Asker("slack", "TOTHER", USERS["TM-1"]), command("caseload", ""), NOW)
    assert reply is not None
    assert reply.text == "You are not registered with the caseload bot: ask your ASYE lead."
