"""The Teams messenger through the edge's real `CloudAdapter` against the fake Bot Connector:
the bot is installed in a channel the way Teams tells it (so the reference is the one
`TeamsEdge._remember` stores), then alerts are posted there, to a person 1:1, and edited;
each failure is classed for the outbox, and tried once."""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest

from bot.teams.messenger import TeamsMessenger
from handlers.alerts.messenger import DeliveryFailed, Destination, Posted
from handlers.chat.replies import Bar, Chart, Facts, MixBar, Reply, Section, WeekBar
from tests.chat.world import AAD, TENANT
from tests.teams.conftest import BOT, CHANNEL, Teams

ALERT = Reply(
    "Caseload breach: C-CP-1 is held by an NQSW in month 2",
    blocks=(
        Section(("Child protection needs month 6 and a passed review.",), title="Why"),
        Facts((("Worker", "NQ-1"), ("Case", "C-CP-1"))),
    ),
)
RESOLVED = Reply("Resolved: C-CP-1 is now held by TM-1")


async def installed(teams: Teams) -> str:
    """Teams adds the bot to CHANNEL; the reference the edge stored for it."""
    added = teams.activity("TM-1", channel=True) | {"type": "installationUpdate", "action": "add"}
    del added["text"], added["entities"]
    assert (await teams.post(added)).status in (200, 202)
    async with teams.storage.read() as uow:
        record = await uow.channels.get("teams", TENANT, CHANNEL)
    assert record is not None
    teams.connector.calls.clear()
    return record.reference


def channel(reference: str | None) -> Destination:
    return Destination("teams", TENANT, "channel", CHANNEL, reference)


def person(reference: str | None) -> Destination:
    return Destination("teams", TENANT, "person", AAD["NQ-7"], reference)


async def failure(messenger: TeamsMessenger, to: Destination) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as failed:
        await messenger.post(to, ALERT)
    return failed.value


async def test_posts_the_card_to_the_channel_as_the_bot(teams: Teams) -> None:
    reference = await installed(teams)
    posted = await teams.edge.messenger.post(channel(reference), ALERT)
    (sent,) = teams.connector.calls
    assert (sent.method, sent.kind, sent.conversation) == ("POST", "send", CHANNEL)
    assert posted == Posted(conversation=CHANNEL, message="act-1")
    assert sent.body["from"]["id"] == BOT and sent.body["summary"] == ALERT.text
    (card,) = teams.connector.cards()
    assert card["fallbackText"].startswith(ALERT.text)
    assert "month 6 and a passed review" in card["fallbackText"]
    assert {"title": "Case", "value": "C-CP-1"} in card["body"][-1]["facts"]


async def test_a_person_gets_it_in_the_1on1_chat_teams_opens(teams: Teams) -> None:
    reference = await installed(teams)
    posted = await teams.edge.messenger.post(person(reference), ALERT)
    created, sent = teams.connector.calls
    assert created.kind == "create" and created.body["members"] == [{"id": AAD["NQ-7"]}]
    assert created.body["tenantId"] == TENANT and created.body["bot"]["id"] == BOT
    assert (sent.kind, sent.conversation) == ("send", f"a:1on1-{AAD['NQ-7']}")
    assert posted == Posted(conversation=f"a:1on1-{AAD['NQ-7']}", message="act-1")
    assert teams.connector.cards()[0]["fallbackText"].startswith(ALERT.text)


async def test_a_report_carries_its_charts_inline_beside_the_card(teams: Teams) -> None:
    reference = await installed(teams)
    chart = Chart(
        title="Caseload report: Stoke, 30 November 2026",
        unit="children",
        bars=(Bar("NQ-1", 12, 16),),
        of=1,
        weeks=(WeekBar(dt.date(2026, 11, 23), 2, 1, 2.5),),
        mix=(MixBar("Child in need", 5, 1),),
    )
    await teams.edge.messenger.post(channel(reference), Reply("Caseload report", chart=chart))
    (sent,) = teams.connector.calls
    kinds = [a["contentType"] for a in sent.body["attachments"]]
    assert kinds == ["application/vnd.microsoft.card.adaptive", "image/png"]
    (png,) = teams.connector.images()
    assert png.startswith(b"\x89PNG") and len(png) < 20_000


async def test_an_edit_updates_the_same_activity(teams: Teams) -> None:
    reference = await installed(teams)
    posted = await teams.edge.messenger.post(person(reference), ALERT)
    teams.connector.calls.clear()
    await teams.edge.messenger.edit(person(reference), posted, RESOLVED)
    (update,) = teams.connector.calls
    assert update.method == "PUT" and update.conversation == posted.conversation
    assert update.path.endswith(f"/activities/{posted.message}")
    assert teams.connector.cards()[0]["fallbackText"].startswith(RESOLVED.text)


async def test_429_says_how_long_to_wait_and_is_tried_once(teams: Teams) -> None:
    reference = await installed(teams)
    teams.connector.failures, teams.connector.retry_after = [429], 20
    failed = await failure(teams.edge.messenger, channel(reference))
    assert (failed.reason, failed.retry_after, failed.permanent) == ("HTTP 429", 20.0, False)
    assert len(teams.connector.calls) == 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_is_transient(teams: Teams, status: int) -> None:
    reference = await installed(teams)
    teams.connector.failures = [status]
    failed = await failure(teams.edge.messenger, person(reference))
    assert (failed.reason, failed.permanent, failed.retry_after) == (f"HTTP {status}", False, None)
    assert len(teams.connector.calls) == 1


@pytest.mark.parametrize("status", [403, 404])
async def test_the_bot_removed_or_the_conversation_gone_is_permanent(
    teams: Teams, status: int
) -> None:
    """And nothing more is sent: not the SDK's own error message into the channel."""
    reference = await installed(teams)
    teams.connector.failures = [status]
    failed = await failure(teams.edge.messenger, channel(reference))
    assert (failed.reason, failed.permanent) == (f"HTTP {status}", True)
    assert len(teams.connector.calls) == 1


async def test_an_edit_refused_is_classed_the_same(teams: Teams) -> None:
    reference = await installed(teams)
    teams.connector.failures = [404]
    with pytest.raises(DeliveryFailed) as failed:
        await teams.edge.messenger.edit(channel(reference), Posted(CHANNEL, "act-9"), RESOLVED)
    assert (failed.value.reason, failed.value.permanent) == ("HTTP 404", True)


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        (None, "no conversation reference"),
        ("not json", "invalid conversation reference"),
        (json.dumps({"conversation": {"id": CHANNEL}}), "invalid conversation reference"),
    ],
)
async def test_no_usable_reference_is_permanent(
    teams: Teams, reference: str | None, reason: str
) -> None:
    failed = await failure(teams.edge.messenger, person(reference))
    assert (failed.reason, failed.permanent) == (reason, True)
    assert teams.connector.calls == []


async def test_no_answer_at_all_is_transient(teams: Teams) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reference = json.loads(await installed(teams))
    reference["serviceUrl"] = f"http://127.0.0.1:{port}/"
    failed = await failure(teams.edge.messenger, channel(json.dumps(reference)))
    assert (failed.reason, failed.permanent) == ("ClientConnectorError", False)
