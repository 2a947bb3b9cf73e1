"""Socket Mode: the bot dials the fake Slack's websocket when the server starts, answers an
envelope in its ack, and hangs up when the server stops."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.services import bootstrap
from bot.settings import Settings
from storage.db import Database
from storage.repositories import Storage
from tests.http.conftest import SECRET, STOKE, Api, Clock, create_org
from tests.slack.conftest import APP_TOKEN, BOT_TOKEN, NQSW, seed, slash_fields
from tests.slack.fake_slack import FakeSlack

PATIENCE_S = 10


async def test_a_slash_command_over_the_socket_is_answered_in_its_ack(
    db: Database, fake_slack: FakeSlack
) -> None:
    await create_org(Storage(db), STOKE, "stoke-childrens")
    settings = Settings(
        CASE_EVENTS_SECRET=SECRET,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=fake_slack.api_url,
    )
    clock = Clock()
    async with TestClient(TestServer(build_app(bootstrap(settings, database=db, now=clock)))) as c:
        await seed(Api(c, db, clock))
        await asyncio.wait_for(fake_slack.socket_connected.wait(), PATIENCE_S)
        [dialled] = fake_slack.called("apps.connections.open")
        assert dialled.token == APP_TOKEN
        payload = slash_fields("/allocate", f"C-2 to <@{NQSW}> as lead", "UMGR", "")
        await fake_slack.envelopes.put(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": payload,
            }
        )
        await asyncio.wait_for(fake_slack.ack_arrived.wait(), PATIENCE_S)
        assert not fake_slack.socket_closed.is_set()
    await asyncio.wait_for(fake_slack.socket_closed.wait(), PATIENCE_S)  # hung up at cleanup
    [ack] = fake_slack.acks
    assert ack["envelope_id"] == "env-1"
    assert ack["payload"]["response_type"] == "ephemeral"
    assert ack["payload"]["text"].startswith("Not allowed")
