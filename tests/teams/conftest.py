"""Teams end to end: activities posted as JSON, as the Bot Connector posts them, to the real
`/api/messages` of the real app (the SDK's CloudAdapter and JWT check), with `serviceUrl`
pointing at a fake Bot Connector that records what the bot sends."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.services import bootstrap
from bot.settings import Settings
from bot.teams.agent import TeamsEdge
from storage.db import Database
from storage.repositories import Storage
from tests.chat.harness import seed
from tests.chat.world import AAD, AAD_NOBODY, NOBODY, NOW, TENANT, USERS
from tests.teams.fake_connector import FakeConnector

BOT = "28:caseload-bot-app-id"
BOT_NAME = "Caseload bot"
CHANNEL = "19:assessment-1@thread.tacv2"
TEAM = "19:team-general@thread.tacv2"
SLACK_MENTION = re.compile(r"<@([A-Z0-9]+)>")
REF_OF = {user: ref for ref, user in USERS.items()} | {NOBODY: "NOBODY"}


def teams_user(ref: str) -> str:
    return f"29:{ref}"


def shown(ref: str) -> str:
    """How a mentioned person's name appears in Teams (and so in the bot's cards)."""
    return f"{ref} (Teams)"


def aad(ref: str) -> str:
    return AAD_NOBODY if ref == "NOBODY" else AAD[ref]


def as_teams(expected: str) -> str:
    """A Slack-table expectation as Teams shows it: a mention is the person's name."""
    return SLACK_MENTION.sub(lambda m: shown(REF_OF.get(m.group(1), m.group(1))), expected)


@dataclass
class Teams:
    client: TestClient[Any, Any]
    connector: FakeConnector
    service_url: str
    storage: Storage
    edge: TeamsEdge
    _ids: itertools.count[int]

    def activity(
        self,
        who: str,
        text: str = "",
        *,
        channel: bool = False,
        value: dict[str, Any] | None = None,
        reply_to: str | None = None,
    ) -> dict[str, Any]:
        """A message as Teams sends it; `<@SLACKID>` in the table's text become Teams
        mentions (entities naming the Teams user id, without the AAD object id)."""
        n = next(self._ids)
        entities: list[dict[str, Any]] = []

        def mention(m: re.Match[str]) -> str:
            ref = REF_OF.get(m.group(1), m.group(1))
            tag = f"<at>{shown(ref)}</at>"
            entities.append(
                {
                    "type": "mention",
                    "text": tag,
                    "mentioned": {"id": teams_user(ref), "name": shown(ref)},
                }
            )
            return tag

        body_text = SLACK_MENTION.sub(mention, text)
        if channel:
            body_text = f"<at>{BOT_NAME}</at> {body_text}"
            entities.append(
                {
                    "type": "mention",
                    "text": f"<at>{BOT_NAME}</at>",
                    "mentioned": {"id": BOT, "name": BOT_NAME},
                }
            )
        ref = REF_OF.get(who, who)
        conversation: dict[str, Any] = (
            {
                "id": f"{CHANNEL};messageid={n}",
                "conversationType": "channel",
                "isGroup": True,
                "tenantId": TENANT,
            }
            if channel
            else {"id": f"a:personal-{ref}", "conversationType": "personal", "tenantId": TENANT}
        )
        data: dict[str, Any] = {"tenant": {"id": TENANT}}
        if channel:
            data |= {"channel": {"id": CHANNEL}, "team": {"id": TEAM}}
        out: dict[str, Any] = {
            "type": "message",
            "id": f"1700000000{n:04d}",
            "timestamp": NOW.isoformat(),
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": {"id": teams_user(ref), "name": shown(ref), "aadObjectId": aad(ref)},
            "conversation": conversation,
            "recipient": {"id": BOT, "name": BOT_NAME},
            "textFormat": "plain",
            "locale": "en-GB",
            "channelData": data,
        }
        if value is not None:
            out["value"] = value
        else:
            out["text"] = body_text
            out["entities"] = entities
        if reply_to is not None:
            out["replyToId"] = reply_to
        return out

    async def post(self, activity: dict[str, Any], **headers: str) -> ClientResponse:
        return await self.client.post("/api/messages", json=activity, headers=headers)


async def start(
    db: Database, settings: Settings, said: Iterable[dict[str, Any]] | None = None
) -> AsyncIterator[Teams]:
    """`said`: the world's events to seed, when not all of them as they are."""
    storage = Storage(db)
    await seed(storage, said)
    connector = FakeConnector(members={teams_user(ref): aad(ref) for ref in [*USERS, "NOBODY"]})
    async with TestClient(TestServer(connector.app())) as fake:
        service_url = str(fake.make_url("/"))
        services = bootstrap(settings, database=db, now=lambda: NOW)
        assert services.teams is not None
        async with TestClient(TestServer(build_app(services))) as client:
            yield Teams(client, connector, service_url, storage, services.teams, itertools.count(1))


@pytest.fixture
async def teams(db: Database) -> AsyncIterator[Teams]:
    """Anonymous: the Agents Playground's way, and how most tests talk to the bot."""
    async for t in start(db, Settings(TEAMS_ALLOW_ANONYMOUS=True)):
        yield t
