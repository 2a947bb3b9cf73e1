"""Replies out: the neutral `Reply` as plain JSON that the page turns into elements with
`textContent` only (never markup), so every word stays text whoever wrote it. Like Block Kit
and Adaptive Cards, this chooses shapes and decides no word."""

from __future__ import annotations

import re
from base64 import b64encode
from typing import Any

from handlers.chat.replies import Block, Facts, Form, Reply, Section

Json = dict[str, Any]

_MENTION = re.compile(r"<@([A-Za-z0-9_.:-]{1,128})>")


def reply(answer: Reply, image: bytes | None = None) -> Json:
    """`image`: the reply's charts as a PNG, shown as a data URI (the page's policy allows
    images from itself and `data:` only)."""
    return {
        "text": _names(answer.text),
        "tone": answer.tone.value,
        "private": answer.private,
        "replaces": answer.replaces,
        "blocks": [_block(b) for b in answer.blocks],
        "buttons": [
            {
                "kind": b.kind.value,
                "label": b.label,
                "value": b.value.dump(),
                "primary": b.primary,
            }
            for b in answer.buttons
        ],
        "form": None if answer.form is None else _form(answer.form),
        "image": None if image is None else "data:image/png;base64," + b64encode(image).decode(),
        "image_alt": None if answer.chart is None else answer.chart.title,
    }


def _block(block: Block) -> Json:
    if isinstance(block, Section):
        return {
            "type": "section",
            "title": None if block.title is None else _names(block.title),
            "lines": [_names(line) for line in block.lines],
            "bullets": block.bullets,
        }
    assert isinstance(block, Facts)
    return {"type": "facts", "pairs": [[_names(k), _names(v)] for k, v in block.pairs]}


def _form(form: Form) -> Json:
    return {
        "kind": form.kind.value,
        "title": form.title,
        "prompt": form.prompt,
        "label": form.label,
        "submit": form.submit,
        "value": form.value.dump(),
        "min_length": form.min_length,
        "max_length": form.max_length,
    }


def _names(text: str) -> str:
    """A mention's neutral `<@handle>` as the page shows it: `@handle`."""
    return _MENTION.sub(r"@\1", text)
