"""`link this channel to team TEAM_REF`: who may say it, what it changes, what is audited."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import pytest

from handlers import admin
from handlers.case_events import apply_event
from handlers.chat.commands import Help, LinkChannel
from handlers.chat.turn import read_message, respond
from handlers.events import parse_event
from handlers.ports import AuditRow
from storage.repositories import Storage
from tests.chat.harness import seed, world
from tests.chat.world import NOW, STOKE, slack
from tests.handlers.world import snapshot

CHANNEL = "C0ALERTS"


@pytest.mark.parametrize(
    "text",
    [
        "link this channel to team T-1",
        "Link channel to team T-1",
        "link this channel to T-1",
        "/link channel to T-1",
    ],
)
def test_the_link_is_read(text: str) -> None:
    assert read_message(text) == LinkChannel("T-1")


@pytest.mark.parametrize("text", ["link", "link this to team T-1", "link this channel to team"])
def test_a_garbled_link_is_help_that_says_how(text: str) -> None:
    command = read_message(text)
    assert isinstance(command, Help) and command.problem is not None
    assert "link this channel to team TEAM_REF" in command.problem


@pytest.mark.parametrize(
    ("who", "team", "starts"),
    [
        ("TM-1", "T-1", "Linked: this channel gets the alerts of Assessment Team 1 (T-1)."),
        ("TM-2", "T-1", "Linking a channel to a team's alerts (Assessment Team 1) is for"),
        ("NQ-7", "T-1", "Linking a channel to a team's alerts is for team manager or admin"),
        ("TM-1", "T-9", "Your organisation has no team T-9."),
    ],
)
async def test_only_the_teams_own_manager_or_an_admin_links_it(
    who: str, team: str, starts: str
) -> None:
    tx = await world()
    before = snapshot(tx)
    reply = await respond(tx, slack(who), LinkChannel(team, CHANNEL), NOW)
    assert reply is not None and reply.text.startswith(starts), reply
    linked = starts.startswith("Linked")
    assert (tx.state.teams[(STOKE, "T-1")].value.slack_channel_id == CHANNEL) is linked
    kinds = [row.kind for row in tx.state.audit[STOKE][len(before.audit[STOKE]) :]]
    assert kinds == (["channel_linked"] if linked else [])
    assert not reply.private if linked else reply.private


async def test_said_outside_a_channel_it_says_where_to_say_it() -> None:
    tx = await world()
    reply = await respond(tx, slack("TM-1"), LinkChannel("T-1"), NOW)
    assert reply is not None
    assert reply.text.startswith("Say `link this channel to team T-1` in the channel")


async def test_linking_twice_audits_once_on_the_database(storage: Storage) -> None:
    await seed(storage)
    for _ in range(2):
        reply = await respond(storage, slack("TM-1"), LinkChannel("T-1", CHANNEL), NOW)
        assert reply is not None and reply.text.startswith("Linked")
    async with storage.read() as uow:
        team = await uow.teams.get(STOKE, "T-1")
        head = await uow.audit.head(STOKE)
    assert team is not None and team.slack_channel_id == CHANNEL
    kinds = [r.kind async for r in _rows(storage)]
    assert kinds.count("channel_linked") == 1 and head is not None


def _rows(storage: Storage) -> AsyncIterator[AuditRow]:
    return admin.audit_rows(storage, STOKE, NOW - dt.timedelta(days=2), NOW + dt.timedelta(days=1))


async def test_the_case_systems_team_event_keeps_a_channel_linked_from_chat(
    storage: Storage,
) -> None:
    """The event names no channel: the one linked in chat stays; one it names replaces it."""
    await seed(storage)
    await respond(storage, slack("TM-1"), LinkChannel("T-1", CHANNEL), NOW)
    for n, channels in enumerate(({}, {"slack": "C0OTHER"})):
        data = {"ref": "T-1", "name": "Assessment Team 1", "kind": "assessment"}
        body = {
            "type": "team.upserted",
            "occurred_at": (NOW + dt.timedelta(minutes=n + 1)).isoformat(),
            "org": STOKE,
            "data": {**data, "channels": channels} if channels else data,
        }
        await apply_event(storage, f"team-{n}", parse_event(json.dumps(body)), at=NOW)
        async with storage.read() as uow:
            team = await uow.teams.get(STOKE, "T-1")
        assert team is not None
        assert team.slack_channel_id == (channels.get("slack") or CHANNEL)
