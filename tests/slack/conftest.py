"""The Slack harness: the real app (`build_app` over `bootstrap`) with Slack configured against
a fake Slack (`fake_slack.py`), over the `db` fixture (SQLite, and PostgreSQL when set).

Requests are signed with Slack's own algorithm (`SignatureVerifier.generate_signature`) and
posted to /slack/events as Slack posts them: slash commands as form fields, interactivity as a
`payload` form field, events as JSON. People are linked to Slack the way a council links them:
by the `chat` of their `worker.upserted` event.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.signature import SignatureVerifier

from bot.app import build_app
from bot.services import bootstrap
from bot.settings import Settings
from bot.slack.app import SlackEdge
from storage.db import Database
from storage.repositories import Storage
from tests.http.conftest import (
    SAMPLES,
    SECRET,
    STOKE,
    Api,
    Clock,
    asye_start,
    create_org,
    event,
    worker,
)
from tests.slack.fake_slack import TEAM_ID, FakeSlack

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-1-caseload-bot-tests"
APP_TOKEN = "xapp-1-caseload-bot-tests"

MANAGER = "UMGR"
"""Slack user of TM-1, a team manager."""
NQSW = "UNQ1"
"""Slack user of NQ-1, an NQSW in month 2 (no child protection yet), managed by TM-1."""
SENIOR_NQSW = "UNQ2"
"""Slack user of NQ-2, in month 7 with the 6-month review passed: child protection as lead
only by a team manager's exception."""
PSW = "UPSW"
"""Slack user of PSW-1, the principal social worker, who is told of every exception."""
STRANGER = "UNOBODY"
"""A Slack user the council has not linked to anyone."""


def slack_settings(fake: FakeSlack, **more: Any) -> Settings:
    return Settings(
        CASE_EVENTS_SECRET=SECRET,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        **more,
    )


def slack_headers(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """X-Slack-Request-Timestamp and X-Slack-Signature, exactly as Slack computes them."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


FORM = "application/x-www-form-urlencoded"


def slash_fields(command: str, text: str, user: str, response_url: str) -> dict[str, str]:
    """A slash command's fields as Slack sends them (HTTP form, or a Socket Mode payload)."""
    return {
        "token": "deprecated",
        "team_id": TEAM_ID,
        "team_domain": "council",
        "channel_id": "C0123ABC",
        "channel_name": "assessment-1",
        "user_id": user,
        "user_name": "someone",
        "command": command,
        "text": text,
        "api_app_id": "A0001",
        "response_url": response_url,
        "trigger_id": f"trigger.{uuid.uuid4().hex}",
    }


class Slack(Api):
    """The test client, the database, the fake Slack, and the edge (to wait for what it sends
    after its acks)."""

    def __init__(
        self,
        client: TestClient[Any, Any],
        db: Database,
        clock: Clock,
        fake: FakeSlack,
        edge: SlackEdge,
    ) -> None:
        super().__init__(client, db, clock)
        self.fake = fake
        self.edge = edge

    async def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None
    ) -> ClientResponse:
        """POST /slack/events signed (unless `headers` are given)."""
        sent = {"Content-Type": content_type, **(headers or slack_headers(body))}
        return await self.client.post("/slack/events", data=body.encode(), headers=sent)

    async def slash(
        self, command: str, text: str, *, user: str = MANAGER, response_url: str = "slash"
    ) -> ClientResponse:
        fields = slash_fields(command, text, user, self.fake.response_url(response_url))
        return await self.post(urlencode(fields), FORM)

    async def answer(self, command: str, text: str, *, user: str = MANAGER) -> dict[str, Any]:
        """A slash command's ack, which must be the answer itself."""
        response = await self.slash(command, text, user=user)
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer

    async def event(
        self, inner: dict[str, Any], *, event_id: str | None = None, retry: int | None = None
    ) -> ClientResponse:
        body = json.dumps(
            {
                "token": "deprecated",
                "team_id": TEAM_ID,
                "api_app_id": "A0001",
                "event": inner,
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
                "event_time": int(time.time()),
            }
        )
        headers = slack_headers(body)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        return await self.post(body, "application/json", headers)

    async def interact(self, payload: dict[str, Any]) -> ClientResponse:
        return await self.post(urlencode({"payload": json.dumps(payload)}), FORM)

    async def press(
        self,
        button: dict[str, Any],
        *,
        user: str = MANAGER,
        response_url: str = "button",
        channel: str = "C0123ABC",
        message_ts: str | None = None,
    ) -> ClientResponse:
        """Press a button as rendered in an answer's blocks; with `message_ts`, on a message
        the bot posted in `channel` for everyone (an alert), not on an ephemeral answer."""
        container: dict[str, Any] = {"type": "message", "channel_id": channel}
        if message_ts is None:
            container["is_ephemeral"] = True
        else:
            container |= {"message_ts": message_ts, "is_ephemeral": False}
        return await self.interact(
            {
                "type": "block_actions",
                "team": {"id": TEAM_ID, "domain": "council"},
                "user": {"id": user, "team_id": TEAM_ID},
                "api_app_id": "A0001",
                "trigger_id": f"trigger.{uuid.uuid4().hex}",
                "container": container,
                "channel": {"id": channel},
                "response_url": self.fake.response_url(response_url),
                "actions": [
                    {
                        "type": "button",
                        "action_id": button["action_id"],
                        "block_id": "b1",
                        "value": button["value"],
                        "text": button["text"],
                        "action_ts": str(time.time()),
                    }
                ],
            }
        )

    async def submit(
        self, view: dict[str, Any], values: dict[str, Any], *, user: str = MANAGER
    ) -> ClientResponse:
        """Submit a modal as opened by views.open, with the inputs' `values`."""
        return await self.interact(
            {
                "type": "view_submission",
                "team": {"id": TEAM_ID, "domain": "council"},
                "user": {"id": user, "team_id": TEAM_ID},
                "api_app_id": "A0001",
                "view": {**view, "id": "V1", "state": {"values": values}},
            }
        )

    async def settle(self) -> None:
        """Wait for everything the bot sends after its acks."""
        await self.edge.drain()


def buttons(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The buttons of rendered blocks, by action_id."""
    return {
        element["action_id"]: element
        for block in answer["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


async def seed(api: Api) -> None:
    """Team T-1 with its manager TM-1, NQSWs NQ-1 and NQ-2 and the principal social worker
    PSW-1, all linked to Slack; cases C-1 (child in need) and C-2 (child protection)."""
    await api.accept(event("team.upserted", SAMPLES["team.upserted"]))
    chat = {"slack_team_id": TEAM_ID}
    manager = worker("TM-1", roles=("team_manager",), asye_days_ago=None)
    await api.accept(
        event("worker.upserted", {**manager, "chat": {**chat, "slack_user_id": MANAGER}})
    )
    nqsw = {**worker("NQ-1"), "manager_ref": "TM-1", "chat": {**chat, "slack_user_id": NQSW}}
    await api.accept(event("worker.upserted", nqsw))
    senior = {
        **worker("NQ-2", asye_days_ago=215),
        "manager_ref": "TM-1",
        "chat": {**chat, "slack_user_id": SENIOR_NQSW},
    }
    await api.accept(event("worker.upserted", senior))
    for month, days_ago in ((3, 120), (6, 30)):
        review = {"worker_ref": "NQ-2", "month": month, "passed": True, "on": asye_start(days_ago)}
        await api.accept(event("worker.review_recorded", review))
    psw = worker("PSW-1", roles=("principal_social_worker",), asye_days_ago=None)
    await api.accept(event("worker.upserted", {**psw, "chat": {**chat, "slack_user_id": PSW}}))
    for ref, work_type in (("C-1", "child_in_need"), ("C-2", "child_protection")):
        case = {"ref": ref, "work_type": work_type, "children": 1, "flags": [], "external": False}
        await api.accept(event("case.upserted", case))


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def slack(db: Database, fake_slack: FakeSlack) -> AsyncIterator[Slack]:
    """The whole app in HTTP mode, with `stoke` seeded by signed webhooks."""
    await create_org(Storage(db), STOKE, "stoke-childrens")
    clock = Clock()
    services = bootstrap(slack_settings(fake_slack), database=db, now=clock)
    assert services.slack is not None
    async with TestClient(TestServer(build_app(services))) as client:
        harness = Slack(client, db, clock, fake_slack, services.slack)
        await seed(harness)
        yield harness
