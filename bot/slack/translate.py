"""Slack payloads in: who asked, the neutral command, and where the answer goes.

Nothing here decides anything: the text goes to the parser of `handlers.chat`, button values
go back through `ActionValue.load`, and what cannot be read becomes the Help command the
parser would have given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from handlers.chat.commands import Asker, Command, Help, Home, LinkChannel, parse_action
from handlers.chat.replies import ActionKind, ActionValue
from handlers.chat.turn import read_message, read_slash
from handlers.errors import Unclear

JUSTIFICATION_BLOCK = "justification"
JUSTIFICATION_INPUT = "text"


@dataclass(frozen=True, slots=True)
class Where:
    """Where an answer that is not the ack itself goes."""

    response_url: str | None = None
    """A slash command's or a button's own reply channel (replaces the pressed message)."""
    channel: str | None = None
    """A conversation to post in; `None` with no response_url: the asker's DM with the bot."""
    in_dm: bool = False
    trigger_id: str | None = None
    """Lets a modal open, for three seconds after the interaction."""


@dataclass(frozen=True, slots=True)
class Incoming:
    asker: Asker
    command: Command
    where: Where
    delivery: str | None = None
    """Set for Events API deliveries, which Slack sends again when an ack is late."""


def slash(body: dict[str, Any]) -> Incoming:
    """`/allocate ...` and `/caseload ...`: the text as typed, with mentions as `<@U...>`."""
    asker = Asker("slack", body["team_id"], body["user_id"])
    command = read_slash(body["command"].removeprefix("/"), body.get("text", ""))
    where = Where(
        body.get("response_url"), body.get("channel_id"), trigger_id=body.get("trigger_id")
    )
    return Incoming(asker, command, where)


def message(body: dict[str, Any], bot_user_id: str | None) -> Incoming | None:
    """An `app_mention` or a direct message to the bot; None for what is not a person typing
    a new message (the bot's own and other bots' messages, edits, joins and other subtypes)."""
    event = body["event"]
    if event.get("subtype") or event.get("bot_id") or "user" not in event:
        return None
    text = event.get("text", "")
    if bot_user_id is not None:
        text = re.sub(rf"^\s*<@{re.escape(bot_user_id)}(?:\|[^>]*)?>\s*", "", text)
    in_dm = event.get("channel_type") == "im"
    command = read_message(text)
    if isinstance(command, LinkChannel) and not in_dm:  # the channel it is said in
        command = replace(command, channel=event["channel"])
    return Incoming(
        Asker("slack", body["team_id"], event["user"]),
        command,
        Where(channel=event["channel"], in_dm=in_dm),
        delivery=_delivery(body),
    )


def home(body: dict[str, Any]) -> Incoming | None:
    """`app_home_opened` on the Home tab; the Messages tab needs nothing published."""
    event = body["event"]
    if event.get("tab") != "home":
        return None
    return Incoming(
        Asker("slack", body["team_id"], event["user"]), Home(), Where(), delivery=_delivery(body)
    )


def action(body: dict[str, Any]) -> Incoming:
    """A pressed button: its `action_id` is the `ActionKind`, its value an `ActionValue`."""
    pressed = body["actions"][0]
    container = body.get("container") or {}
    where = Where(
        body.get("response_url"),
        container.get("channel_id") or (body.get("channel") or {}).get("id"),
        trigger_id=body.get("trigger_id"),
    )
    return Incoming(_interactor(body), _action(pressed["action_id"], pressed["value"]), where)


def submission(body: dict[str, Any]) -> Incoming:
    """The justification form submitted; the metadata says what it was for and where the
    button's message was, so that the answer replaces it."""
    view = body["view"]
    meta = json.loads(view["private_metadata"])
    state = view["state"]["values"][JUSTIFICATION_BLOCK][JUSTIFICATION_INPUT]
    where = Where(meta.get("response_url"), meta.get("channel"))
    command = _action(meta["kind"], meta["value"], (state.get("value") or "").strip())
    return Incoming(_interactor(body), command, where)


def form_metadata(kind: ActionKind, value: ActionValue, where: Where) -> str:
    """What `submission` reads back; `private_metadata` holds at most 3,000 characters."""
    meta = {"kind": kind.value, "value": value.dump()}
    if where.response_url is not None:
        meta["response_url"] = where.response_url
    if where.channel is not None:
        meta["channel"] = where.channel
    return json.dumps(meta, separators=(",", ":"))


def _interactor(body: dict[str, Any]) -> Asker:
    user = body["user"]
    team = (body.get("team") or {}).get("id") or user["team_id"]
    return Asker("slack", team, user["id"])


def _action(kind: str, value: str, justification: str | None = None) -> Command:
    try:
        return parse_action(ActionKind(kind), ActionValue.load(value), justification)
    except Unclear as exc:
        return Help("start", problem=str(exc))


def _delivery(body: dict[str, Any]) -> str | None:
    event_id = body.get("event_id")
    return None if event_id is None else f"slack:{event_id}"
