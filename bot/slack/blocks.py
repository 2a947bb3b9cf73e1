"""Replies out: the neutral `Reply` as Block Kit. Every word comes from the reply; this module
only chooses widgets and keeps within Slack's limits.

The headline is the top-level `text` too (what a notification or a screen reader shows), and
the first block, so that the verdict is the first thing seen either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bot.slack.translate import JUSTIFICATION_BLOCK, JUSTIFICATION_INPUT, Where, form_metadata
from handlers.chat.replies import Block, Button, Facts, Form, Reply, Section

Json = dict[str, Any]

HEADER_MAX = 150
TEXT_MAX = 3000
FIELD_MAX = 2000
FIELDS_PER_SECTION = 10
BUTTONS_PER_BLOCK = 25
BUTTON_LABEL_MAX = 75
MODAL_TITLE_MAX = 24
"""Slack's limits (a message or view breaking one is refused whole with `invalid_blocks`)."""


def message(text: str, blocks: tuple[Block, ...] = (), buttons: tuple[Button, ...] = ()) -> Json:
    """`text` and `blocks`, as `chat.postMessage`, a response_url and an ack all take them."""
    return {"text": text, "blocks": [*_headline(text), *_body(blocks), *_actions(buttons)]}


def reply(answer: Reply) -> Json:
    return message(answer.text, answer.blocks, answer.buttons)


def home(answer: Reply) -> Json:
    """The App Home tab: the same blocks as a message, as a view."""
    return {"type": "home", "blocks": reply(answer)["blocks"]}


def modal(form: Form, where: Where) -> Json:
    """The form as a modal; its metadata carries the button's value and where to answer."""
    return {
        "type": "modal",
        "callback_id": form.kind.value,
        "title": _plain(form.title, MODAL_TITLE_MAX),
        "submit": _plain(form.submit, MODAL_TITLE_MAX),
        "private_metadata": form_metadata(form.kind, form.value, where),
        "blocks": [
            {
                "type": "input",
                "block_id": JUSTIFICATION_BLOCK,
                "optional": form.min_length == 0,
                "label": _plain(form.prompt, 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": JUSTIFICATION_INPUT,
                    "multiline": True,
                    "min_length": form.min_length,
                    "max_length": form.max_length,
                },
            }
        ],
    }


def _headline(text: str) -> list[Json]:
    """A header, unless it names someone by mention (plain text would show the raw id)."""
    if len(text) <= HEADER_MAX and "<@" not in escape(text):
        return [{"type": "header", "text": _plain(text, HEADER_MAX)}]
    return [_section(f"*{escape(text)}*")]


def _body(blocks: tuple[Block, ...]) -> Iterator[Json]:
    for block in blocks:
        if isinstance(block, Section):
            lines = [f"• {escape(line)}" if block.bullets else escape(line) for line in block.lines]
            if block.title is not None:
                lines.insert(0, f"*{escape(block.title)}*")
            yield from (_section(chunk) for chunk in _chunks(lines, TEXT_MAX))
        elif isinstance(block, Facts):
            fields = [
                {"type": "mrkdwn", "text": _clip(f"*{escape(label)}*\n{escape(value)}", FIELD_MAX)}
                for label, value in block.pairs
            ]
            for start in range(0, len(fields), FIELDS_PER_SECTION):
                yield {"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]}


def _actions(buttons: tuple[Button, ...]) -> Iterator[Json]:
    """One row of buttons; a new row where an `action_id` would repeat (Slack refuses two in
    one block) or the row is full."""
    row: list[Json] = []
    kinds: set[str] = set()
    for button in buttons:
        if button.kind.value in kinds or len(row) == BUTTONS_PER_BLOCK:
            yield {"type": "actions", "elements": row}
            row, kinds = [], set()
        element: Json = {
            "type": "button",
            "action_id": button.kind.value,
            "text": _plain(button.label, BUTTON_LABEL_MAX),
            "value": button.value.dump(),
        }
        if button.primary:
            element["style"] = "primary"
        row.append(element)
        kinds.add(button.kind.value)
    if row:
        yield {"type": "actions", "elements": row}


def _section(text: str) -> Json:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _plain(text: str, limit: int) -> Json:
    return {"type": "plain_text", "text": _clip(text, limit), "emoji": False}


def _chunks(lines: list[str], limit: int) -> Iterator[str]:
    """Whole lines per section, as many as fit; a single overlong line is clipped."""
    chunk: list[str] = []
    size = 0
    for line in (_clip(line, limit) for line in lines):
        if chunk and size + 1 + len(line) > limit:
            yield "\n".join(chunk)
            chunk, size = [], 0
        size += len(line) + (1 if chunk else 0)
        chunk.append(line)
    if chunk:
        yield "\n".join(chunk)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_MENTION = re.compile(r"&lt;@([A-Z0-9]{1,64})&gt;")


def escape(text: str) -> str:
    """mrkdwn's three control characters, so that `<!channel>` or a link stays plain text;
    but a person's `<@U123>`, the neutral form of a mention, shows as their name."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub(r"<@\1>", escaped)
