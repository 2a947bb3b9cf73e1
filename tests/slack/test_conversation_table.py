"""The conversation table of `tests/chat/conversations.py`, end to end through Slack: each
slash command signed and posted to /slack/events, its answer read from the ack; each
direct message sent as an event, its answer read from what the bot posted to the fake."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.services import bootstrap
from storage.db import Database
from storage.repositories import Storage
from tests.chat.conversations import CONVERSATIONS
from tests.chat.harness import audit_heads, seed
from tests.chat.world import DORSET, NOW, STOKE, USERS
from tests.http.conftest import Clock
from tests.ops.helpers import lines_naming, logged, world_cohort_values, world_names
from tests.slack.conftest import Slack, slack_settings
from tests.slack.fake_slack import FakeSlack
from tests.slack.test_conversations import mention


def said(message: dict[str, Any]) -> str:
    """The top-level text and every text of the blocks, one line each."""
    lines = [str(message["text"])]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                lines.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks", []))
    return "\n".join(lines)


def unmarked(text: str) -> str:
    """Block Kit's mrkdwn as a person reads it: a field's bold label and its value on one
    line, as the neutral reply has them, and no escapes of & < >."""
    text = re.sub(r"\*([^*\n]+)\*\n", r"\1: ", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@pytest.fixture
async def world_slack(db: Database, fake_slack: FakeSlack) -> AsyncIterator[Slack]:
    await seed(Storage(db))
    clock = Clock()
    clock.offset = NOW - dt.datetime.now(dt.UTC)  # the world's Monday 23 November 2026
    services = bootstrap(slack_settings(fake_slack), database=db, now=clock)
    assert services.slack is not None
    async with TestClient(TestServer(build_app(services))) as client:
        yield Slack(client, db, clock, fake_slack, services.slack)


async def test_every_conversation_through_slack(
    world_slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # as `serve` logs
    slack = world_slack
    for c in CONVERSATIONS:
        user = USERS.get(c.who, c.who)
        before = await audit_heads(Storage(slack.db))
        if c.kind == "message":
            slack.fake.calls.clear()
            response = await slack.event(mention(c.text, user=user, channel_type="im"))
            assert response.status == 200, c.name
            await slack.settle()
            (posted,) = slack.fake.called("chat.postMessage")
            answer = posted.args
        else:
            answer = await slack.answer(f"/{c.kind}", c.text, user=user)
            assert answer["response_type"] == "ephemeral", c.name
        text = unmarked(said(answer))
        assert unmarked(str(answer["text"])).startswith(c.starts), (c.name, text)
        for fact in c.facts:
            assert fact in text, (c.name, fact, text)
        for word in c.absent:
            assert word not in text, (c.name, word, text)
        after = await audit_heads(Storage(slack.db))
        assert after[STOKE] - before[STOKE] == (1 if c.audited else 0), c.name
        assert after[DORSET] == before[DORSET], c.name
    lines = logged(caplog.records)
    assert any('"route": "/slack/events"' in line for line in lines)
    assert (
        lines_naming(lines, world_names() | world_cohort_values()) == []
    )  # ids in the logs, never names
