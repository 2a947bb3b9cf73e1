"""Buttons, channels and the edge: a card updated in place, a record made once however often
it is pressed, an exception with its justification, answers from a channel sent privately,
throttling and failures of the Bot Connector, and 401 for anything unauthorised."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.settings import Settings
from bot.teams.agent import PRIVATELY
from storage.db import Database
from tests.chat.world import AAD, mention
from tests.teams.conftest import Teams, start

JUSTIFICATION = "Sibling group already known to this worker; manager co-visits weekly"
SCHEMA = json.loads((Path(__file__).parent / "adaptive-card-1.5.schema.json").read_text())


def button(card: dict[str, Any], title: str) -> dict[str, Any]:
    (found,) = [a for a in card.get("actions", []) if a["title"].startswith(title)]
    data: dict[str, Any] = found["data"]
    return data


async def check(teams: Teams, text: str, **kw: Any) -> dict[str, Any]:
    teams.connector.calls.clear()
    response = await teams.post(teams.activity("TM-1", text, **kw))
    assert response.status in (200, 202)
    return teams.connector.cards()[-1]


async def test_record_updates_the_card_in_place_and_records_once(teams: Teams) -> None:
    card = await check(teams, f"allocate C-CP-1 to {mention('NQ-7')} as lead")
    record = button(card, "Record as co-worker")
    texts = []
    for _ in range(2):
        teams.connector.calls.clear()
        pressed = teams.activity("TM-1", value=record, reply_to="act-card")
        assert (await teams.post(pressed)).status in (200, 202)
        (update,) = teams.connector.of("update")
        assert update.path.endswith("/activities/act-card")
        texts.append(teams.connector.cards("update")[0]["fallbackText"])
    assert texts[0].startswith("Recorded: Sam Seven holds C-CP-1 (child protection) as co-worker")
    assert texts[1].startswith("Already recorded: Sam Seven holds C-CP-1")


async def test_an_exception_asks_for_the_justification_in_the_card(teams: Teams) -> None:
    card = await check(teams, f"allocate C-CP-1 to {mention('NQ-7')} as lead")
    ask = button(card, "Request exception")
    teams.connector.calls.clear()
    await teams.post(teams.activity("TM-1", value=ask, reply_to="act-card"))
    form = teams.connector.cards()[-1]
    jsonschema.Draft6Validator(SCHEMA).validate(form)
    (field,) = [b for b in form["body"] if b["type"] == "Input.Text"]
    assert field["isMultiline"] and field["maxLength"] == 1000
    submit = form["actions"][0]["data"] | {"justification": JUSTIFICATION}
    teams.connector.calls.clear()
    await teams.post(teams.activity("TM-1", value=submit, reply_to="act-form"))
    done = teams.connector.cards()[0]["fallbackText"]
    assert done.startswith("Recorded: Sam Seven holds C-CP-1 (child protection) as lead"), done
    # The ASYE lead, the assessor and the principal social worker are told, 1:1.
    told = {c.body["members"][0]["id"] for c in teams.connector.of("create")}
    assert told == {AAD["AS-1"], AAD["AL-1"], AAD["PSW-1"]}


async def test_a_channel_gets_only_a_pointer_and_the_asker_the_answer(teams: Teams) -> None:
    teams.connector.calls.clear()
    said = teams.activity("TM-1", f"allocate C-CP-1 to {mention('NQ-7')} as lead", channel=True)
    assert (await teams.post(said)).status in (200, 202)
    (created,) = teams.connector.of("create")
    assert created.body["members"] == [{"id": AAD["TM-1"]}]
    private = [c for c in teams.connector.calls if c.conversation == f"a:1on1-{AAD['TM-1']}"]
    assert private[0].body["attachments"][0]["content"]["fallbackText"].startswith("Co-work only")
    in_channel = [
        c
        for c in teams.connector.calls
        if c.conversation.startswith("19:") and c.kind in ("send", "reply")
    ]
    assert [c.body.get("text") for c in in_channel] == [PRIVATELY]


async def test_a_channel_message_without_the_bot_mentioned_is_not_answered(teams: Teams) -> None:
    said = teams.activity("TM-1", "allocate C-CP-1", channel=True)
    said["entities"], said["text"] = [], "allocate C-CP-1"
    assert (await teams.post(said)).status in (200, 202)
    assert teams.connector.calls == []


async def test_throttled_sends_are_tried_again(teams: Teams) -> None:
    teams.connector.failures = [429, 429]
    card = await check(teams, "what can I hold?")
    assert card["fallbackText"].startswith("Month 5 of 12") or card["fallbackText"]
    assert [c.path.rsplit(" ", 1)[-1] for c in teams.connector.calls[:2]] == ["429", "429"]


async def test_a_connector_failure_is_logged_with_a_reference_and_never_a_500(
    teams: Teams, caplog: pytest.LogCaptureFixture
) -> None:
    teams.connector.failures = [500]
    with caplog.at_level(logging.ERROR, "caseload_bot.teams"):
        response = await teams.post(teams.activity("NQ-7", "what can I hold?"))
    assert response.status in (200, 202)
    (line,) = [r for r in caplog.records if r.name == "caseload_bot.teams"]
    reference = line.getMessage().split("reference=")[1].split()[0]
    card = teams.connector.cards()[-1]  # the first, the answer, was refused with a 500
    assert f"reference {reference}" in card["fallbackText"]
    assert "Traceback" not in card["fallbackText"]


@pytest.fixture
async def secured(db: Database) -> AsyncIterator[Teams]:
    settings = Settings(
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID="00000000-0000-4000-8000-00000000b07a",
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET="not-a-real-secret",
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID="8f2c1b4e-0000-4000-8000-00000000c0de",
    )
    async for t in start(db, settings):
        yield t


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer a.b.c", "Bearer x y"],
)
async def test_with_a_client_id_anything_but_a_valid_token_is_401(
    secured: Teams, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await secured.post(secured.activity("NQ-7", "what can I hold?"), **headers)
    assert response.status == 401
    assert secured.connector.calls == []


def test_without_a_client_id_or_anonymous_there_is_no_route() -> None:
    assert Settings().teams_mode is None
    with pytest.raises(ValueError, match="TENANTID"):
        Settings(
            CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID="x",
            CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET="y",
        )
    with pytest.raises(ValueError, match="TEAMS_ALLOW_ANONYMOUS"):
        Settings(
            CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID="x", TEAMS_ALLOW_ANONYMOUS=True
        )
