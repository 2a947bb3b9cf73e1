"""The Slack messenger through the edge's real `AsyncWebClient` against the fake Slack: what it
posts and edits, and how each failure is classed for the outbox (one attempt, never more)."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import bootstrap
from bot.slack.messenger import SlackMessenger
from handlers.alerts.messenger import DeliveryFailed, Destination, Posted
from handlers.chat.replies import (
    ActionKind,
    ActionValue,
    Bar,
    Button,
    Chart,
    Facts,
    MixBar,
    Reply,
    Section,
    WeekBar,
)
from storage.db import Database
from tests.slack.conftest import BOT_TOKEN, NQSW, slack_settings
from tests.slack.fake_slack import TEAM_ID, FakeSlack, dm_of

CHANNEL = "C0ALERTS"
ALERT = Reply(
    "Caseload breach: C-CP-1 is held by an NQSW in month 2",
    blocks=(
        Section(("Child protection needs month 6 and a passed review.",), title="Why"),
        Facts((("Worker", "NQ-1"), ("Case", "C-CP-1"))),
    ),
    buttons=(Button(ActionKind.WHO_CAN_TAKE, "Who can take it?", ActionValue(case="C-CP-1")),),
)
RESOLVED = Reply("Resolved: C-CP-1 is now held by TM-1")


@pytest.fixture
async def messenger(db: Database, fake_slack: FakeSlack) -> AsyncIterator[SlackMessenger]:
    """The edge's own, as the composition root hands it to the delivery worker."""
    services = bootstrap(slack_settings(fake_slack), database=db)
    assert services.slack is not None
    yield services.slack.messenger
    await services.close()


def channel(id: str = CHANNEL) -> Destination:
    return Destination("slack", TEAM_ID, "channel", id)


def person(id: str = NQSW) -> Destination:
    return Destination("slack", TEAM_ID, "person", id)


async def failure(messenger: SlackMessenger, to: Destination) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as failed:
        await messenger.post(to, ALERT)
    return failed.value


async def test_posts_to_a_channel_with_the_blocks_and_the_words_as_fallback(
    messenger: SlackMessenger, fake_slack: FakeSlack
) -> None:
    posted = await messenger.post(channel(), ALERT)
    (call,) = fake_slack.called("chat.postMessage")
    assert posted == Posted(conversation=CHANNEL, message=posted.message) and posted.message
    assert call.args["channel"] == CHANNEL and call.token == BOT_TOKEN
    assert call.args["text"] == ALERT.text
    shown = str(call.args["blocks"])
    assert ALERT.text in shown and "month 6 and a passed review" in shown and "C-CP-1" in shown
    (actions,) = [b for b in call.args["blocks"] if b["type"] == "actions"]
    assert actions["elements"][0]["action_id"] == ActionKind.WHO_CAN_TAKE.value


async def test_a_person_is_posted_to_by_user_id_and_the_dm_is_what_is_kept(
    messenger: SlackMessenger, fake_slack: FakeSlack
) -> None:
    posted = await messenger.post(person(), ALERT)
    (call,) = fake_slack.called("chat.postMessage")
    assert call.args["channel"] == NQSW
    assert posted.conversation == dm_of(NQSW)


async def test_an_edit_updates_the_same_message(
    messenger: SlackMessenger, fake_slack: FakeSlack
) -> None:
    posted = await messenger.post(person(), ALERT)
    await messenger.edit(person(), posted, RESOLVED)
    (call,) = fake_slack.called("chat.update")
    assert (call.args["channel"], call.args["ts"]) == (posted.conversation, posted.message)
    assert call.args["text"] == RESOLVED.text and RESOLVED.text in str(call.args["blocks"])


async def test_429_says_how_long_to_wait_and_is_tried_once(
    messenger: SlackMessenger, fake_slack: FakeSlack
) -> None:
    fake_slack.refuse("chat.postMessage", 429, retry_after=12)
    failed = await failure(messenger, channel())
    assert (failed.retry_after, failed.permanent, failed.reason) == (12.0, False, "HTTP 429")
    assert len(fake_slack.called("chat.postMessage")) == 1


@pytest.mark.parametrize("status", [500, 503])
async def test_a_server_error_is_transient(
    messenger: SlackMessenger, fake_slack: FakeSlack, status: int
) -> None:
    fake_slack.refuse("chat.postMessage", status)
    failed = await failure(messenger, channel())
    assert (failed.reason, failed.permanent, failed.retry_after) == (f"HTTP {status}", False, None)


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        ("channel_not_found", True),
        ("not_in_channel", True),
        ("is_archived", True),
        ("invalid_auth", True),
        ("token_revoked", True),
        ("invalid_blocks", True),
        ("internal_error", False),
        ("service_unavailable", False),
        ("a_code_slack_adds_later", False),
    ],
)
async def test_slack_error_codes_are_the_reason_and_say_whether_to_retry(
    messenger: SlackMessenger, fake_slack: FakeSlack, error: str, permanent: bool
) -> None:
    fake_slack.refuse("chat.postMessage", 200, error=error)
    failed = await failure(messenger, channel())
    assert (failed.reason, failed.permanent, failed.retry_after) == (error, permanent, None)


@pytest.mark.parametrize("error", ["message_not_found", "cant_update_message"])
async def test_an_edit_of_a_message_that_cannot_change_is_permanent(
    messenger: SlackMessenger, fake_slack: FakeSlack, error: str
) -> None:
    fake_slack.refuse("chat.update", 200, error=error)
    with pytest.raises(DeliveryFailed) as failed:
        await messenger.edit(channel(), Posted(CHANNEL, "1700000000.000001"), RESOLVED)
    assert (failed.value.reason, failed.value.permanent) == (error, True)


async def test_no_answer_at_all_is_transient() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = AsyncWebClient(
        token=BOT_TOKEN, base_url=f"http://127.0.0.1:{port}/api/", retry_handlers=[]
    )
    failed = await failure(SlackMessenger(client), channel())
    assert (failed.reason, failed.permanent) == ("ClientConnectorError", False)


CHART = Chart(
    title="Caseload report: Stoke, 30 November 2026",
    unit="children",
    bars=(Bar("NQ-1", 12, 16), Bar("NQ-2", 17, 16)),
    of=2,
    weeks=(WeekBar(dt.date(2026, 11, 23), 2, 1, 2.5),),
    mix=(MixBar("Child in need", 5, 1),),
)


async def test_a_report_is_posted_then_its_charts_uploaded_beside_it(
    messenger: SlackMessenger, fake_slack: FakeSlack
) -> None:
    posted = await messenger.post(channel(), Reply("Caseload report, Stoke", chart=CHART))
    assert [c.method for c in fake_slack.calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    (done,) = fake_slack.called("files.completeUploadExternal")
    assert done.args["channel_id"] == posted.conversation == CHANNEL
    assert done.args["files"][0]["title"] == CHART.title
    (png,) = fake_slack.uploads.values()
    assert png.startswith(b"\x89PNG")


async def test_a_chart_slack_refuses_does_not_post_the_message_twice(
    messenger: SlackMessenger, fake_slack: FakeSlack
) -> None:
    fake_slack.refuse("files.completeUploadExternal", 500)
    posted = await messenger.post(person(), Reply("Caseload report, Stoke", chart=CHART))
    assert posted.conversation == dm_of(NQSW)
    assert len(fake_slack.called("chat.postMessage")) == 1
