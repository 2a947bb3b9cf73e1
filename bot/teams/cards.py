"""Neutral replies as Adaptive Cards 1.5: the headline, sections as TextBlocks, facts as a
FactSet, buttons as `Action.Submit` whose data names the action and carries its value; a
form is a card with an `Input.Text` for the justification. The card's fallback text and the
activity's summary start with the reply's own first words."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from microsoft_agents.activity import Activity, ActivityTypes, Attachment

from bot.teams.translate import JUSTIFICATION, submit_data
from handlers.chat.replies import Facts, Form, Notice, Reply, Section, Tone

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"

_COLOURS = {Tone.GOOD: "good", Tone.CAUTION: "warning", Tone.BAD: "attention"}
_MENTION = re.compile(r"<@([A-Za-z0-9_.:-]{1,128})>")


def card(reply: Reply, names: Mapping[str, str] = {}) -> dict[str, Any]:
    """`names`: display names by AAD object id, for the people the asker mentioned."""
    if reply.form is not None:
        return form_card(reply.form, reply.text)
    body: list[dict[str, Any]] = [_headline(reply.text, reply.tone, names)]
    for block in reply.blocks:
        if isinstance(block, Section):
            if block.title:
                body.append(_text(block.title, names, weight="Bolder", separator=True))
            if block.lines:
                lines = [f"- {line}" if block.bullets else line for line in block.lines]
                body.append(_text("\n".join(lines) if block.bullets else "\n\n".join(lines), names))
        else:
            body.append(_facts(block, names))
    out: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "fallbackText": plain(reply, names),
        "body": body,
    }
    if reply.buttons:
        out["actions"] = [
            {
                "type": "Action.Submit",
                "title": b.label,
                "data": submit_data(b.kind, b.value),
                **({"style": "positive"} if b.primary else {}),
            }
            for b in reply.buttons
        ]
    return out


def form_card(form: Form, fallback: str) -> dict[str, Any]:
    """The justification asked for in the card itself; Teams merges the input into the
    submitted data under `justification`. Adaptive Cards 1.5 has no minimum length, so a
    pattern and `isRequired` say it, and the handlers check it again."""
    low, high = form.min_length, form.max_length
    return {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "fallbackText": f"{fallback}\n{form.title}\n{form.prompt}",
        "body": [
            {"type": "TextBlock", "text": form.title, "weight": "Bolder", "wrap": True},
            {"type": "TextBlock", "text": form.prompt, "wrap": True},
            {
                "type": "Input.Text",
                "id": JUSTIFICATION,
                "isMultiline": True,
                "isRequired": low > 0,
                "maxLength": high,
                "regex": f"^[\\s\\S]{{{low},{high}}}$",
                "errorMessage": f"Write between {low} and {high} characters.",
                "label": form.label,
            },
        ],
        "actions": [
            {
                "type": "Action.Submit",
                "title": form.submit,
                # A field left empty may be left out of the data: an optional one still
                # submits, as empty, rather than reading as the button pressed again.
                "data": {**submit_data(form.kind, form.value), JUSTIFICATION: ""},
                "style": "positive",
            }
        ],
    }


def activity(reply: Reply, names: Mapping[str, str] = {}, image: bytes | None = None) -> Activity:
    """A message with the card; `summary` (what a notification shows) is the headline.
    `image`: the reply's charts as a PNG, carried inline beside the card (Teams shows an
    `image/*` attachment with a data URI as a picture; there is nowhere to host it)."""
    attachments = [Attachment(content_type=CONTENT_TYPE, content=card(reply, names))]
    if image is not None:
        attachments.append(
            Attachment(
                content_type="image/png",
                content_url="data:image/png;base64," + base64.b64encode(image).decode(),
                name="caseload-report.png",
            )
        )
    return Activity(
        type=ActivityTypes.message, summary=_names(reply.text, names), attachments=attachments
    )


def notice_activity(notice: Notice) -> Activity:
    return activity(Reply(notice.text, notice.blocks))


def text_activity(text: str) -> Activity:
    return Activity(type=ActivityTypes.message, text=text)


def plain(reply: Reply, names: Mapping[str, str] = {}) -> str:
    """Everything the card says, as text: its fallback, starting with the headline."""
    lines = [reply.text]
    for block in reply.blocks:
        if isinstance(block, Section):
            lines += [*([block.title] if block.title else []), *block.lines]
        elif isinstance(block, Facts):
            lines += [f"{label}: {value}" for label, value in block.pairs]
    lines += [f"[{b.label}]" for b in reply.buttons]
    return _names("\n".join(lines), names)


def _headline(text: str, tone: Tone, names: Mapping[str, str]) -> dict[str, Any]:
    block = _text(text, names, weight="Bolder", size="Medium")
    if tone in _COLOURS:
        block["color"] = _COLOURS[tone]
    return block


def _text(text: str, names: Mapping[str, str], **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": _names(text, names), "wrap": True, **style}


def _facts(facts: Facts, names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "type": "FactSet",
        "facts": [
            {"title": _names(label, names), "value": _names(value, names)}
            for label, value in facts.pairs
        ],
    }


def _names(text: str, names: Mapping[str, str]) -> str:
    return _MENTION.sub(lambda m: names.get(m.group(1), m.group(0)), text)
