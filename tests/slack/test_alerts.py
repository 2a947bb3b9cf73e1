"""Breach alerts end to end through Slack: the product server in HTTP mode against the fake
Slack, over the chat world on a Slack-only council (Stoke; NQ-4 in month 4) whose team T-1
links its managers' channel by saying so there. A signed `allocation.started` of C-CP-9 (child
protection, as lead) to NQ-4 opens two breaches; a `Delivery` worker over the server's own
messengers and clock sends what they queued, and the alert's buttons and modals come back as
signed interactions.

The worker is built here rather than started by `bot.alerts.add_alerts`: a drain that ends
when nothing is due keeps each test's order of events exact."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.app import build_app
from bot.services import bootstrap
from handlers.alerts import breach_alerts
from handlers.alerts.delivery import Delivery
from handlers.chat.replies import ActionKind
from handlers.ports import BreachRecord, OutboxMessage
from storage.db import Database
from storage.repositories import Storage
from tests.chat.harness import seed
from tests.chat.world import CP9_HELD, NOW, STOKE, USERS, WORKSPACE, before_the_breaches
from tests.http.conftest import Clock
from tests.slack.conftest import Slack, buttons, slack_settings
from tests.slack.fake_slack import BOT_USER_ID, Call, FakeSlack, dm_of
from tests.slack.test_conversation_table import said

CHANNEL = "C0T1MANAGERS"
"""Team T-1's managers' channel."""
ADMIN = "UAD1"
"""Slack user of AD-1, Stoke's admin, told of what could not be delivered."""
RULE = "stoke.cp.none-before-six-month-review"
"""The breach acted on; C-CP-9 also breaks `stoke.cp.lead-from-nine-months`."""
PLAN = "Moving C-CP-9 to SW-1 at Thursday's allocation meeting"
REASON = "C-CP-9 reallocated to SW-1 today"
TM1, TM2, AL1, NQ4 = USERS["TM-1"], USERS["TM-2"], USERS["AL-1"], USERS["NQ-4"]


def about(call: Call, breach: BreachRecord) -> bool:
    """A message with a button on `breach`."""
    values = [json.loads(b["value"]) for b in buttons(call.args).values()]
    return any(v.get("breach") == breach.id for v in values)


@dataclass
class Alerts:
    slack: Slack
    delivery: Delivery

    @property
    def fake(self) -> FakeSlack:
        return self.slack.fake

    def happened(self, type_: str, data: dict[str, Any]) -> dict[str, Any]:
        """A case event that happened a minute ago, on the server's clock."""
        when = self.slack.clock() - dt.timedelta(minutes=1)
        return {"type": type_, "occurred_at": when.isoformat(), "org": STOKE, "data": data}

    async def open_breaches(self) -> BreachRecord:
        """The case system says NQ-4 holds C-CP-9 as lead; the breach of `RULE` it opens."""
        answer = await self.slack.accept(self.happened("allocation.started", CP9_HELD))
        assert answer["breaches_opened"] == 2, answer
        async with self.slack.storage.read() as uow:
            (found,) = [b for b in await uow.breaches.unresolved(STOKE) if b.breach.rule == RULE]
        return found

    async def alerted(self) -> tuple[BreachRecord, Call]:
        """The breaches opened and their alerts delivered: the breach of `RULE` and its alert
        in the channel; the calls made so far are forgotten."""
        breach = await self.open_breaches()
        await self.delivery.drain()
        alert = self.alert_in_channel(breach)
        self.fake.calls.clear()
        return breach, alert

    async def now(self, breach: BreachRecord) -> BreachRecord:
        """The breach as stored now."""
        async with self.slack.storage.read() as uow:
            record = await uow.breaches.get(breach.id)
        assert record is not None
        return record

    async def alerts_of(self, breach: BreachRecord) -> list[OutboxMessage]:
        async with self.slack.storage.read() as uow:
            return list(await uow.outbox.of_breach(breach.id, (breach_alerts.ALERT,)))

    def posted(self, method: str = "chat.postMessage") -> list[Call]:
        """Calls of `method` that Slack accepted."""
        return [c for c in self.fake.called(method) if c.answer is not None]

    def alert_in_channel(self, breach: BreachRecord) -> Call:
        (call,) = [c for c in self.posted() if c.args["channel"] == CHANNEL and about(c, breach)]
        return call

    async def press(self, call: Call, kind: ActionKind, user: str) -> None:
        """A button of the alert posted in the channel, pressed there by `user`."""
        assert call.answer is not None
        button = buttons(call.args)[kind.value]
        response = await self.slack.press(
            button, user=user, channel=CHANNEL, message_ts=call.answer["ts"]
        )
        assert response.status == 200
        assert await response.text() == ""
        await self.slack.settle()

    async def submit(self, view: dict[str, Any], text: str | None, user: str = TM1) -> None:
        (field,) = view["blocks"]
        typed = {"type": "plain_text_input", "value": text}
        values = {field["block_id"]: {field["element"]["action_id"]: typed}}
        response = await self.slack.submit(view, values, user=user)
        assert response.status == 200
        assert await response.text() == ""  # closes the modal
        await self.slack.settle()

    def answers(self) -> list[dict[str, Any]]:
        """What the presses and submissions answered, privately, through the response_url."""
        return self.fake.responses.get("button", [])


@pytest.fixture
async def alerts(db: Database, fake_slack: FakeSlack) -> AsyncIterator[Alerts]:
    """The world without NQ-4's C-CP-9, its admin added by a signed webhook, and T-1's
    channel linked by TM-1 saying so in it (a signed event)."""
    await seed(Storage(db), before_the_breaches("slack"))
    clock = Clock()
    clock.offset = NOW - dt.datetime.now(dt.UTC)  # the world's Monday, 10:00 in London
    services = bootstrap(slack_settings(fake_slack), database=db, now=clock)
    assert services.slack is not None
    delivery = Delivery(services.tx, services.messengers, clock, name="e2e")
    async with TestClient(TestServer(build_app(services))) as client:
        a = Alerts(Slack(client, db, clock, fake_slack, services.slack), delivery)
        admin = {
            "ref": "AD-1",
            "name": "Ada Admin",
            "roles": ["admin"],
            "team_ref": "T-0",
            "chat": {"slack_team_id": WORKSPACE, "slack_user_id": ADMIN},
        }
        await a.slack.accept(a.happened("worker.upserted", admin))
        link = {
            "type": "app_mention",
            "user": TM1,
            "text": f"<@{BOT_USER_ID}> link this channel to team T-1",
            "ts": f"{time.time():.6f}",
            "channel": CHANNEL,
            "channel_type": "channel",
            "event_ts": f"{time.time():.6f}",
        }
        assert (await a.slack.event(link)).status == 200
        await a.slack.settle()
        (linked,) = fake_slack.called("chat.postMessage")
        assert linked.args["channel"] == CHANNEL
        assert linked.args["text"] == (
            "Linked: this channel gets the alerts of Assessment Team 1 (T-1)."
        )
        fake_slack.calls.clear()
        yield a


async def test_a_breach_is_posted_in_the_linked_channel_and_told_privately(
    alerts: Alerts,
) -> None:
    breach = await alerts.open_breaches()
    assert await alerts.delivery.drain() == 8, "two breaches: the channel, TM-1, AL-1, NQ-4"
    sent = alerts.posted()
    assert sorted(c.args["channel"] for c in sent) == sorted([CHANNEL, TM1, AL1, NQ4] * 2)

    alert = alerts.alert_in_channel(breach)
    text = "Breach: Nia Four (month 4): C-CP-9 (Child protection) held as lead"
    assert alert.args["text"] == text
    header, *_ = alert.args["blocks"]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": text, "emoji": False},
    }
    shown = said(alert.args)
    assert "Rule: " in shown and "Remedy: " in shown
    assert "Escalates to: the principal social worker on Mon 7 Dec 2026 if unresolved" in shown
    for block in Block.parse_all(alert.args["blocks"]):
        block.validate_json()  # within Block Kit's limits, as Slack checks them
    labels = [b["text"]["text"] for b in buttons(alert.args).values()]
    assert labels == ["I'm on it", "Resolved", "Open in caseload"]
    assert buttons(alert.args)[ActionKind.ACKNOWLEDGE.value]["style"] == "primary"

    for person in (TM1, AL1):
        assert [c.args["text"] for c in sent if c.args["channel"] == person] == [text, text]
    notes = [c.args["text"] for c in sent if c.args["channel"] == NQ4]
    assert notes == [f"Your caseload is outside your ASYE policy: {text.split(': ', 2)[2]}"] * 2

    # Each copy is stored where Slack put it, for the edits to come.
    where = {
        (m.target, m.posted_conversation, m.posted_message) for m in await alerts.alerts_of(breach)
    }
    answers = {c.args["channel"]: c.answer for c in sent if about(c, breach)}
    assert where == {
        (to, answer["channel"], answer["ts"]) for to, answer in answers.items() if answer
    }
    assert (TM1, dm_of(TM1)) in {(t, c) for t, c, _ in where}


async def test_im_on_it_opens_an_optional_plan_then_the_alert_says_who_is_on_it(
    alerts: Alerts,
) -> None:
    breach, alert = await alerts.alerted()
    copies = {(m.posted_conversation, m.posted_message) for m in await alerts.alerts_of(breach)}

    await alerts.press(alert, ActionKind.ACKNOWLEDGE, TM1)
    (opened,) = alerts.fake.called("views.open")
    view = opened.args["view"]
    assert (view["type"], view["callback_id"]) == ("modal", ActionKind.ACKNOWLEDGE.value)
    assert view["title"]["text"] == "I'm on it"
    View(**view).validate_json()
    (field,) = view["blocks"]
    assert field["type"] == "input" and field["optional"] is True
    assert "Nia Four's breach" in field["label"]["text"]
    assert (field["element"]["min_length"], field["element"]["max_length"]) == (0, 500)
    assert alerts.answers() == [], "the form instead of an answer"
    assert (await alerts.now(breach)).status == "open"

    await alerts.submit(view, PLAN)
    (answer,) = alerts.answers()
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert answer["text"].startswith("Acknowledged: you are on Nia Four's breach")
    record = await alerts.now(breach)
    assert (record.status, record.plan) == ("acknowledged", PLAN)

    alerts.fake.calls.clear()
    assert await alerts.delivery.drain() == 3, "the channel's copy, TM-1's and AL-1's"
    updates = alerts.posted("chat.update")
    assert alerts.fake.called("chat.postMessage") == [], "an edit, not a new message"
    assert {(u.args["channel"], u.args["ts"]) for u in updates} == copies
    (in_channel,) = [u for u in updates if u.args["channel"] == CHANNEL]
    assert alert.answer is not None and in_channel.args["ts"] == alert.answer["ts"]
    assert in_channel.args["text"] == alert.args["text"]
    shown = said(in_channel.args)
    assert "Acknowledged by Tara Manager at 10:" in shown
    assert f"on Mon 23 Nov 2026. Plan: {PLAN}" in shown
    assert set(buttons(in_channel.args)) == set(buttons(alert.args)), "it can still be resolved"


async def test_a_plan_left_out_is_no_plan(alerts: Alerts) -> None:
    breach, alert = await alerts.alerted()
    await alerts.press(alert, ActionKind.ACKNOWLEDGE, TM1)
    (opened,) = alerts.fake.called("views.open")
    alerts.fake.calls.clear()
    await alerts.submit(opened.args["view"], None)  # left empty: Slack sends null
    record = await alerts.now(breach)
    assert (record.status, record.plan) == ("acknowledged", None)
    await alerts.delivery.drain()
    (in_channel,) = [u for u in alerts.posted("chat.update") if u.args["channel"] == CHANNEL]
    shown = said(in_channel.args)
    assert "Acknowledged by Tara Manager at 10:" in shown and "Plan:" not in shown


async def test_resolved_needs_a_reason_then_the_alert_says_who_resolved_it(
    alerts: Alerts,
) -> None:
    breach, alert = await alerts.alerted()

    await alerts.press(alert, ActionKind.RESOLVE, TM1)
    (opened,) = alerts.fake.called("views.open")
    view = opened.args["view"]
    assert view["callback_id"] == ActionKind.RESOLVE.value
    View(**view).validate_json()
    (field,) = view["blocks"]
    assert field["optional"] is False
    assert (field["element"]["min_length"], field["element"]["max_length"]) == (10, 500)

    # Slack keeps the modal open below min_length; a submission that gets past it anyway is
    # refused by the handler, and changes nothing.
    await alerts.submit(view, "done")
    (refused,) = alerts.answers()
    assert refused["text"].startswith("Say why it is resolved, in 10 to 500 characters")
    assert (await alerts.now(breach)).status == "open"
    assert await alerts.delivery.drain() == 0

    await alerts.submit(view, REASON)
    assert alerts.answers()[-1]["text"].startswith("Resolved: Nia Four's breach")
    record = await alerts.now(breach)
    assert (record.status, record.resolution) == ("resolved", REASON)

    alerts.fake.calls.clear()
    assert await alerts.delivery.drain() == 4, "three copies of the alert and NQ-4's note"
    updates = alerts.posted("chat.update")
    (in_channel,) = [u for u in updates if u.args["channel"] == CHANNEL]
    assert alert.answer is not None and in_channel.args["ts"] == alert.answer["ts"]
    assert f"Resolved by Tara Manager on Mon 23 Nov 2026: {REASON}" in said(in_channel.args)
    assert list(buttons(in_channel.args)) == [ActionKind.WHAT_CAN_THEY_HOLD.value]
    (note,) = [u for u in updates if u.args["channel"] == dm_of(NQ4)]
    assert f"Resolved by Tara Manager on Mon 23 Nov 2026: {REASON}" in said(note.args)


async def test_a_manager_of_another_team_is_refused_privately_and_nothing_changes(
    alerts: Alerts,
) -> None:
    breach, alert = await alerts.alerted()

    await alerts.press(alert, ActionKind.ACKNOWLEDGE, TM2)
    await alerts.press(alert, ActionKind.RESOLVE, TM2)
    assert alerts.fake.called("views.open") == [], "no form for what they may not do"
    first, second = alerts.answers()
    assert first["response_type"] == second["response_type"] == "ephemeral"
    assert first["text"].startswith("Acknowledging a breach (Nia Four) is for")
    assert second["text"].startswith("Resolving a breach (Nia Four) is for")

    # A submission made up without the form is refused the same way.
    form = {
        "type": "modal",
        "callback_id": ActionKind.ACKNOWLEDGE.value,
        "private_metadata": json.dumps(
            {"kind": ActionKind.ACKNOWLEDGE.value, "value": json.dumps({"breach": breach.id})}
        ),
        "blocks": [{"block_id": "justification", "element": {"action_id": "text"}}],
    }
    await alerts.submit(form, PLAN, user=TM2)
    assert alerts.answers() == [first, second], "no response_url in it: told in their DM"
    (told,) = [c.args["text"] for c in alerts.posted() if c.args["channel"] == TM2]
    assert told.startswith("Acknowledging a breach (Nia Four) is for")
    assert (await alerts.now(breach)).status == "open"
    assert await alerts.delivery.drain() == 0
    assert alerts.fake.called("chat.update") == []


async def test_a_429_delays_the_alert_and_it_still_arrives(alerts: Alerts) -> None:
    alerts.fake.refuse(f"chat.postMessage:{CHANNEL}", 429, retry_after=1)
    breach = await alerts.open_breaches()
    refused_at = alerts.slack.clock()
    await alerts.delivery.deliver_due()  # one round: Slack would go on refusing forever
    assert [c.args["channel"] for c in alerts.fake.called("chat.postMessage")].count(CHANNEL)
    assert CHANNEL not in [c.args["channel"] for c in alerts.posted()], "refused"
    assert len(alerts.posted()) == 3, "the people are told meanwhile, one message per turn each"
    (waiting,) = [m for m in await alerts.alerts_of(breach) if m.target == CHANNEL]
    assert (waiting.status, waiting.attempts) == ("pending", 0), "a 429 is no attempt"
    assert waiting.due_at >= refused_at + dt.timedelta(seconds=1), "due when Slack said"

    del alerts.fake.refusals[f"chat.postMessage:{CHANNEL}"]
    await alerts.delivery.drain()
    assert alerts.alert_in_channel(breach).args["text"].startswith("Breach: Nia Four")
    assert {m.status for m in await alerts.alerts_of(breach)} == {"sent"}


async def test_a_channel_gone_parks_the_alert_and_tells_the_admin(alerts: Alerts) -> None:
    alerts.fake.refuse(f"chat.postMessage:{CHANNEL}", 200, error="channel_not_found")
    breach = await alerts.open_breaches()
    await alerts.delivery.drain()
    assert sorted(c.args["channel"] for c in alerts.posted()) == sorted(
        [TM1, AL1, NQ4, ADMIN] * 2
    ), "the people are still told; the admin once per alert not delivered"
    parked = [m for m in await alerts.alerts_of(breach) if m.target == CHANNEL]
    assert [(m.status, m.last_error) for m in parked] == [("failed", "channel_not_found")]
    reports = [c.args for c in alerts.posted() if c.args["channel"] == ADMIN]
    for report in reports:
        assert report["text"] == "Not delivered: a breach opened message to a slack channel"
        assert f"slack channel {CHANNEL}: 1 attempt, last: channel_not_found." in said(report)
