"""The manifest pasted into Slack and the bolt app agree: every command and event Slack is
asked to send has a listener, and every listener is for something Slack is asked to send."""

from __future__ import annotations

from importlib import resources
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml

from bot.slack.app import COMMANDS, EVENTS
from tests.slack.conftest import FORM, MANAGER, Slack, slash_fields

MANIFEST: dict[str, Any] = yaml.safe_load(
    resources.files("bot.slack").joinpath("manifest.yaml").read_text()
)
SLASH_COMMANDS = MANIFEST["features"]["slash_commands"]
BOT_EVENTS: list[str] = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
URL = "https://YOUR-HOST/slack/events"


def test_what_the_manifest_subscribes_to_is_what_the_app_registers() -> None:
    assert {c["command"] for c in SLASH_COMMANDS} == set(COMMANDS)
    # message.im is the `message` event from direct messages.
    assert {e.partition(".")[0] for e in BOT_EVENTS} == set(EVENTS)


def test_the_manifest_sends_everything_to_the_one_route() -> None:
    settings = MANIFEST["settings"]
    assert {c["url"] for c in SLASH_COMMANDS} == {URL}
    assert settings["event_subscriptions"]["request_url"] == URL
    assert settings["interactivity"] == {"is_enabled": True, "request_url": URL}
    assert all(c["should_escape"] is True and c["usage_hint"] for c in SLASH_COMMANDS)
    home = MANIFEST["features"]["app_home"]
    assert home["home_tab_enabled"] and home["messages_tab_enabled"]
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "app_mentions:read", "im:history"} <= scopes


@pytest.mark.parametrize("command", [c["command"] for c in SLASH_COMMANDS])
async def test_every_manifest_command_has_a_listener(slack: Slack, command: str) -> None:
    fields = slash_fields(command, "help", MANAGER, slack.fake.response_url("x"))
    response = await slack.post(urlencode(fields), FORM)
    assert response.status == 200
    assert (await response.json())["text"]


@pytest.mark.parametrize("subscribed", BOT_EVENTS)
async def test_every_manifest_event_has_a_listener(slack: Slack, subscribed: str) -> None:
    kind, _, channel_type = subscribed.partition(".")
    inner = {"type": kind, "user": MANAGER, "text": "help", "channel": "D0123", "tab": "home"}
    response = await slack.event({**inner, "channel_type": channel_type or "channel"})
    assert response.status == 200
    await slack.settle()
    assert [c.method for c in slack.fake.calls if c.method != "auth.test"] != []


async def test_what_nothing_listens_to_is_a_404(slack: Slack) -> None:
    response = await slack.event({"type": "reaction_added", "user": MANAGER})
    assert response.status == 404
