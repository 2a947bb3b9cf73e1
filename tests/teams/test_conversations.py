"""The conversation table of `tests/chat/conversations.py`, end to end through Teams: every
conversation typed in a personal chat, its card read back from the fake Bot Connector."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.chat.conversations import CONVERSATIONS
from tests.chat.harness import audit_heads
from tests.chat.world import DORSET, STOKE
from tests.ops.helpers import lines_naming, logged, world_cohort_values, world_names
from tests.teams.conftest import Teams, as_teams

SCHEMA = json.loads((Path(__file__).parent / "adaptive-card-1.5.schema.json").read_text())
VALIDATOR = jsonschema.Draft6Validator(SCHEMA)


def typed(kind: str, text: str) -> str:
    """Teams has no slash commands: the command is typed, with or without its slash."""
    if kind == "message":
        return text
    return f"/{kind} {text}" if kind == "allocate" else f"{kind} {text}"


def valid(card: dict[str, Any]) -> dict[str, Any]:
    errors = sorted(VALIDATOR.iter_errors(card), key=str)
    assert not errors, errors[0]
    return card


async def test_every_conversation_through_teams(
    teams: Teams, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # as `serve` logs
    for c in CONVERSATIONS:
        teams.connector.calls.clear()
        before = await audit_heads(teams.storage)
        said = typed(c.kind, c.text)
        response = await teams.post(teams.activity(c.who, said))
        assert response.status in (200, 202), (c.name, await response.text())
        cards = teams.connector.cards()
        assert len(cards) == 1, (c.name, teams.connector.calls)
        card = valid(cards[0])
        text = card["fallbackText"]
        # The whole message is the command's text in Teams, `allocate` included.
        starts = as_teams(c.starts).replace(
            f"is {len(c.text)} characters", f"is {len(said)} characters"
        )
        assert text.startswith(starts), (c.name, text)
        for fact in c.facts:
            assert as_teams(fact) in text, (c.name, fact, text)
        for word in c.absent:
            assert word not in text, (c.name, word, text)
        (sent,) = [call for call in teams.connector.calls if call.body.get("attachments")]
        assert sent.body["summary"] == text.splitlines()[0]
        # A report's charts go inline beside its card; no other answer carries an image.
        images = teams.connector.images()
        reported = text.startswith("Caseload report, ")
        assert [png[:4] for png in images] == ([b"\x89PNG"] if reported else []), c.name
        after = await audit_heads(teams.storage)
        assert after[STOKE] - before[STOKE] == (1 if c.audited else 0), c.name
        assert after[DORSET] == before[DORSET], c.name
    lines = logged(caplog.records)
    assert any('"route": "/api/messages"' in line for line in lines)
    assert (
        lines_naming(lines, world_names() | world_cohort_values()) == []
    )  # ids in the logs, never names
