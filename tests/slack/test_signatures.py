"""/slack/events is Slack's alone: only a request signed with the signing secret within five
minutes is read; anything else is a 401 that says nothing of why, or a 400 for a signed body
that is not a Slack request; never a 500."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.services import bootstrap
from bot.settings import Settings
from storage.db import Database
from tests.http.conftest import snapshot
from tests.slack.conftest import FORM, MANAGER, Slack, slack_headers
from tests.slack.fake_slack import TEAM_ID, FakeSlack

SLASH = urlencode(
    {"team_id": TEAM_ID, "user_id": MANAGER, "command": "/caseload", "text": "", "response_url": ""}
)


async def test_a_signed_request_is_answered(slack: Slack) -> None:
    response = await slack.post(SLASH, FORM)
    assert response.status == 200
    assert (await response.json())["response_type"] == "ephemeral"


def _now() -> int:
    return int(time.time())


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda: slack_headers(SLASH, secret="another app's secret"), id="bad-secret"),
        pytest.param(lambda: slack_headers(SLASH, timestamp=_now() - 5 * 60 - 30), id="old"),
        pytest.param(lambda: slack_headers(SLASH, timestamp=_now() + 5 * 60 + 30), id="future"),
        pytest.param(lambda: {"X-Slack-Request-Timestamp": str(_now())}, id="no-signature"),
        pytest.param(
            lambda: {"X-Slack-Signature": slack_headers(SLASH)["X-Slack-Signature"]},
            id="no-timestamp",
        ),
        pytest.param(
            lambda: {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=zz"}, id="junk"
        ),
    ],
)
async def test_an_unsigned_request_is_refused_with_nothing_done(
    slack: Slack, headers: Callable[[], dict[str, str]]
) -> None:
    """Headers made when the test runs: a timestamp is only good for five minutes."""
    before = await snapshot(slack.db)
    calls = len(slack.fake.calls)
    response = await slack.post(SLASH, FORM, headers=headers())
    assert response.status == 401
    assert MANAGER not in await response.text()
    await slack.settle()
    assert await snapshot(slack.db) == before
    assert len(slack.fake.calls) == calls


async def test_a_body_altered_after_signing_is_refused(slack: Slack) -> None:
    headers = slack_headers(SLASH)
    response = await slack.post(SLASH.replace("caseload", "allocate"), FORM, headers=headers)
    assert response.status == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('"a string"', "application/json"),
        ("payload=%7Bnot+json", FORM),
        ("payload=%5B%5D", FORM),
        ("payload=", FORM),
        ("\udcff", FORM),
        ("", FORM),
        ("just some text", "text/plain"),
    ],
)
async def test_a_signed_body_that_is_not_a_slack_request_is_never_a_500(
    slack: Slack, body: str, content_type: str
) -> None:
    raw = body.encode("utf-8", "surrogateescape")
    headers = {"Content-Type": content_type, **slack_headers(raw.decode("latin-1"))}
    response = await slack.client.post("/slack/events", data=raw, headers=headers)
    assert response.status in {400, 401, 404}, await response.text()


async def test_without_slack_settings_there_is_no_route(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="caseload_bot")
    async with TestClient(TestServer(build_app(bootstrap(Settings(), database=db)))) as client:
        [said] = [r.getMessage() for r in caplog.records if "Slack" in r.getMessage()]
        assert "not configured" in said
        response = await client.post("/slack/events", data=SLASH, headers=slack_headers(SLASH))
        assert response.status == 404
        assert (await client.get("/openapi.json")).status == 200


async def test_socket_mode_alone_serves_no_route(db: Database, fake_slack: FakeSlack) -> None:
    settings = Settings(
        SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xapp-1", SLACK_API_URL=fake_slack.api_url
    )
    async with TestClient(TestServer(build_app(bootstrap(settings, database=db)))) as client:
        await fake_slack.socket_connected.wait()
        response = await client.post("/slack/events", data=SLASH, headers=slack_headers(SLASH))
        assert response.status == 404
