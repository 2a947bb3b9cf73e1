"""Breach alerts end to end through Teams (anonymous, as the Agents Playground runs): the bot
installed in T-1's managers' channel, the team linked to it by TM-1 saying so there, a signed
`allocation.started` of C-CP-9 to NQ-4 opening two breaches, a `Delivery` worker over the
edge's messenger posting the card in the channel, and "I'm on it" with a plan editing it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest

from bot.settings import Settings
from handlers.alerts import breach_alerts
from handlers.alerts.delivery import Delivery
from handlers.chat.replies import ActionKind
from handlers.ports import BreachRecord, OutboxMessage
from storage.db import Database
from tests.alerts.recording import moving
from tests.chat.world import AAD, CP9_HELD, NOW, STOKE, before_the_breaches
from tests.http.conftest import SECRET, sign
from tests.teams.conftest import BOT_NAME, CHANNEL, Teams, start
from tests.teams.test_flows import SCHEMA, button
from tests.teams.test_messenger import installed

RULE = "stoke.cp.none-before-six-month-review"
PLAN = "Moving C-CP-9 to SW-1 at Thursday's allocation meeting"
TEXT = "Breach: Nia Four (month 4): C-CP-9 (Child protection) held as lead"


@pytest.fixture
async def teams(db: Database) -> AsyncIterator[Teams]:
    """A Teams-only council; the bot installed in CHANNEL, which TM-1 links to T-1."""
    settings = Settings(TEAMS_ALLOW_ANONYMOUS=True, CASE_EVENTS_SECRET=SECRET)
    async for t in start(db, settings, before_the_breaches("teams")):
        await installed(t)
        said = t.activity("TM-1", "link this channel to team T-1", channel=True)
        assert said["text"] == f"<at>{BOT_NAME}</at> link this channel to team T-1"
        assert (await t.post(said)).status in (200, 202)
        (linked,) = t.connector.cards()
        assert linked["fallbackText"].startswith("Linked: this channel gets the alerts of")
        async with t.storage.read() as uow:
            team = await uow.teams.get(STOKE, "T-1")
        assert team is not None and team.teams_channel_id == CHANNEL
        t.connector.calls.clear()
        yield t


async def open_breach(teams: Teams) -> BreachRecord:
    """The case system's signed webhook: NQ-4 holds C-CP-9 as lead."""
    event = {
        "type": "allocation.started",
        "occurred_at": (NOW - dt.timedelta(minutes=1)).isoformat(),
        "org": STOKE,
        "data": CP9_HELD,
    }
    body = json.dumps(event).encode()
    response = await teams.client.post(
        "/webhooks/case-events", data=body, headers=sign(body, timestamp=NOW)
    )
    answer = await response.json()
    assert response.status == 202 and answer["breaches_opened"] == 2, answer
    async with teams.storage.read() as uow:
        (found,) = [b for b in await uow.breaches.unresolved(STOKE) if b.breach.rule == RULE]
    return found


async def in_channel(teams: Teams, breach: BreachRecord) -> OutboxMessage:
    async with teams.storage.read() as uow:
        alerts = await uow.outbox.of_breach(breach.id, (breach_alerts.ALERT,))
    (found,) = [m for m in alerts if m.target == CHANNEL]
    return found


def sent_to(teams: Teams, conversation: str) -> list[dict[str, Any]]:
    return [
        a["content"]
        for c in teams.connector.calls
        if c.kind == "send" and c.conversation == conversation
        for a in c.body.get("attachments") or []
    ]


async def test_the_alert_is_a_card_in_the_channel_and_im_on_it_edits_it(teams: Teams) -> None:
    breach = await open_breach(teams)
    delivery = Delivery(teams.storage, {"teams": teams.edge.messenger}, moving(NOW), name="e2e")
    assert await delivery.drain() == 8, "two breaches: the channel, TM-1, AL-1, NQ-4"
    cards = sent_to(teams, CHANNEL)
    assert [c["fallbackText"].split("\n")[0] for c in cards] == [TEXT, TEXT]
    told = {c.body["members"][0]["id"] for c in teams.connector.of("create")}
    assert told == {AAD["TM-1"], AAD["AL-1"], AAD["NQ-4"]}

    stored = await in_channel(teams, breach)
    assert (stored.status, stored.posted_conversation) == ("sent", CHANNEL)
    (card,) = [
        c for c in cards if json.loads(button(c, "I'm on it")["value"])["breach"] == breach.id
    ]
    jsonschema.Draft6Validator(SCHEMA).validate(card)
    assert [a["title"] for a in card["actions"]] == ["I'm on it", "Resolved", "Open in caseload"]

    # Pressed in the channel: the plan is asked for privately, in TM-1's 1:1 chat.
    teams.connector.calls.clear()
    pressed = teams.activity(
        "TM-1", value=button(card, "I'm on it"), channel=True, reply_to=stored.posted_message
    )
    assert (await teams.post(pressed)).status in (200, 202)
    (form,) = sent_to(teams, f"a:1on1-{AAD['TM-1']}")
    jsonschema.Draft6Validator(SCHEMA).validate(form)
    (field,) = [b for b in form["body"] if b["type"] == "Input.Text"]
    assert field["isRequired"] is False and field["maxLength"] == 500, "the plan is optional"
    assert sent_to(teams, CHANNEL) == [], "nothing said in the channel"

    teams.connector.calls.clear()
    submitted = form["actions"][0]["data"] | {"justification": PLAN}
    assert submitted["caseload_bot"] == ActionKind.ACKNOWLEDGE.value
    assert (await teams.post(teams.activity("TM-1", value=submitted))).status in (200, 202)
    (answer,) = teams.connector.cards()
    assert answer["fallbackText"].startswith("Acknowledged: you are on Nia Four's breach")

    teams.connector.calls.clear()
    assert await delivery.drain() == 3, "the channel's copy, TM-1's and AL-1's"
    assert teams.connector.of("send") == [], "an edit, not a new message"
    (update,) = [c for c in teams.connector.of("update") if c.conversation == CHANNEL]
    assert update.path.endswith(f"/activities/{stored.posted_message}")
    (edited,) = [a["content"] for a in update.body["attachments"]]
    assert edited["fallbackText"].startswith(TEXT)
    assert (
        f"Acknowledged by Tara Manager at 10:00 on Mon 23 Nov 2026. Plan: {PLAN}"
        in (edited["fallbackText"])
    )
    jsonschema.Draft6Validator(SCHEMA).validate(edited)
