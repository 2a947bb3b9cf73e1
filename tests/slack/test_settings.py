"""Slack's settings: each mode needs its pair, and half a configuration is refused naming what
is missing, never echoing a value."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from bot.settings import Settings

BOT = {"SLACK_BOT_TOKEN": "xoxb-secret-bot"}
SIGNING = {"SLACK_SIGNING_SECRET": "secret-signing"}
APP = {"SLACK_APP_TOKEN": "xapp-secret-app"}


@pytest.mark.parametrize(
    ("given", "modes"),
    [
        ({}, ()),
        ({**BOT, **SIGNING}, ("HTTP",)),
        ({**BOT, **APP}, ("Socket Mode",)),
        ({**BOT, **SIGNING, **APP}, ("HTTP", "Socket Mode")),
    ],
)
def test_the_modes_configured(given: dict[str, Any], modes: tuple[str, ...]) -> None:
    assert Settings(**given).slack_modes == modes


@pytest.mark.parametrize(
    ("given", "named"),
    [
        (BOT, "SLACK_SIGNING_SECRET (HTTP mode) nor SLACK_APP_TOKEN (Socket Mode)"),
        (SIGNING, "SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not"),
        (APP, "SLACK_APP_TOKEN is set but SLACK_BOT_TOKEN is not"),
        ({"SLACK_BOT_TOKEN": "xapp-wrong-one", **APP}, "SLACK_BOT_TOKEN must be the bot token"),
        ({**BOT, "SLACK_APP_TOKEN": "xoxb-wrong-one"}, "SLACK_APP_TOKEN must be an app-level"),
    ],
)
def test_half_a_configuration_is_refused_by_name(given: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**given)
    assert named in str(refused.value)
    assert "secret" not in str(refused.value).replace("SECRET", "")


def test_serve_refuses_half_a_configuration_in_one_line() -> None:
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-secret-bot", "PORT": "1"}
    env.pop("SLACK_SIGNING_SECRET", None)
    env.pop("SLACK_APP_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "serve"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "caseload-bot: SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP mode)"
        " nor SLACK_APP_TOKEN (Socket Mode) is"
    ]
