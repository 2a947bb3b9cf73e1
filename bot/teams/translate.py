"""Teams activities as the neutral commands of `handlers.chat`: who asked (tenant id and
AAD object id), what they typed (mentions rewritten to `<@AAD_OBJECT_ID>`, the bot's own
removed, a leading `/` accepted) or which card button they pressed."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from microsoft_agents.activity import Activity, ChannelAccount

from handlers.chat.commands import LinkChannel
from handlers.chat.replies import ActionKind, ActionValue
from handlers.chat.turn import Asker, Command, parse_action, read_message
from handlers.errors import BadButton

ACTION = "caseload_bot"
"""The key of an `Action.Submit`'s data that says which button it was."""
JUSTIFICATION = "justification"
"""The id of the form's `Input.Text`: Teams merges it into the submitted data."""


@dataclass(frozen=True, slots=True)
class Incoming:
    asker: Asker
    command: Command
    personal: bool
    """Said in a personal (1:1) chat; otherwise in a channel or group chat."""
    pressed: bool
    """A card's button, whose card may be replaced in place (`replyToId`)."""
    delivery: str
    """The activity, once: a redelivery by Teams is answered once."""
    names: Mapping[str, str]
    """Display names of the people mentioned, by AAD object id: cards show them."""


def tenant_of(activity: Activity) -> str | None:
    conversation = activity.conversation
    if conversation is not None and conversation.tenant_id:
        return conversation.tenant_id
    data = _channel_data(activity)
    tenant = data.get("tenant")
    return tenant.get("id") if isinstance(tenant, dict) else None


def asker_of(activity: Activity) -> Asker | None:
    """None when Teams did not say who (never so in Teams itself)."""
    who = activity.from_property
    tenant = tenant_of(activity)
    if who is None or not who.aad_object_id or not tenant:
        return None
    return Asker("teams", tenant, who.aad_object_id)


def is_personal(activity: Activity) -> bool:
    conversation = activity.conversation
    kind = None if conversation is None else conversation.conversation_type
    return kind in (None, "personal")


def channel_id_of(activity: Activity) -> str | None:
    """The Teams channel (not the thread a message is in); None outside a channel."""
    channel = _channel_data(activity).get("channel")
    if isinstance(channel, dict) and isinstance(channel.get("id"), str):
        return str(channel["id"])
    return None


def team_id_of(activity: Activity) -> str | None:
    team = _channel_data(activity).get("team")
    if isinstance(team, dict) and isinstance(team.get("id"), str):
        return str(team["id"])
    return None


def people_mentioned(activity: Activity) -> list[ChannelAccount]:
    """Everyone mentioned but the bot: their AAD object ids are looked up when the mention
    does not carry one (Teams' mention entities name the Teams user id)."""
    bot = activity.recipient.id if activity.recipient else None
    return [
        m.mentioned
        for m in activity.get_mentions()
        if m.mentioned is not None and m.mentioned.id and m.mentioned.id != bot
    ]


def read(activity: Activity, aad_of: Mapping[str, str]) -> Incoming | None:
    """The command in a message activity, or None when it is not for the bot (a channel
    message that does not mention it; nobody to answer).

    `aad_of`: the AAD object id of each person mentioned, by Teams user id.
    """
    asker = asker_of(activity)
    if asker is None:
        return None
    personal = is_personal(activity)
    delivery = _delivery(activity)
    if isinstance(activity.value, dict) and ACTION in activity.value:
        command = _pressed(activity.value)
        return Incoming(asker, command, personal, True, delivery, {})
    if not personal and not _mentions_bot(activity):
        return None
    text, names = _rewrite(activity, aad_of)
    command = read_message(text)
    if isinstance(command, LinkChannel):
        command = replace(command, channel=None if personal else channel_id_of(activity))
    return Incoming(asker, command, personal, False, delivery, names)


def submit_data(kind: ActionKind, value: ActionValue) -> dict[str, Any]:
    """What a button carries back, as `Action.Submit` data (the inverse of `_pressed`)."""
    return {ACTION: kind.value, "value": value.dump()}


def _pressed(data: Mapping[str, Any]) -> Command:
    try:
        kind = ActionKind(data[ACTION])
    except ValueError:
        raise BadButton() from None
    value = data.get("value")
    if not isinstance(value, str):
        raise BadButton()
    justification = data.get(JUSTIFICATION)
    if justification is not None and not isinstance(justification, str):
        raise BadButton()
    if justification is not None:
        justification = justification[:2000]
    return parse_action(kind, ActionValue.load(value), justification)


def _mentions_bot(activity: Activity) -> bool:
    bot = activity.recipient.id if activity.recipient else None
    return any(m.mentioned is not None and m.mentioned.id == bot for m in activity.get_mentions())


_AT = re.compile(r"<at>.*?</at>", re.DOTALL)


def _rewrite(activity: Activity, aad_of: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The text with the bot's mention gone and each person's as `<@AAD_OBJECT_ID>`."""
    text = activity.text or ""
    bot = activity.recipient.id if activity.recipient else None
    names: dict[str, str] = {}
    for mention in activity.get_mentions():
        who = mention.mentioned
        shown = mention.text or (f"<at>{who.name}</at>" if who and who.name else "")
        if who is None or not shown:
            continue
        if who.id == bot:
            text = text.replace(shown, " ", 1)
            continue
        aad = who.aad_object_id or aad_of.get(who.id or "")
        if aad is None:
            continue
        names[aad] = who.name or aad
        text = text.replace(shown, f" <@{aad}> ", 1)
    text = _AT.sub(" ", text)  # a mention Teams sent no entity for: not a person we know
    return " ".join(html.unescape(text).split()), names


def _delivery(activity: Activity) -> str:
    conversation = activity.conversation.id if activity.conversation else ""
    key = f"{conversation}\n{activity.id or ''}"
    return "teams:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def _channel_data(activity: Activity) -> dict[str, Any]:
    data = activity.channel_data
    if isinstance(data, dict):
        return data
    if data is not None and hasattr(data, "model_dump"):
        dumped: dict[str, Any] = data.model_dump(by_alias=True, exclude_none=True)
        return dumped
    return {}
