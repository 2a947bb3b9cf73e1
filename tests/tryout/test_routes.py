"""The try-out page's routes on the real app: only in demo mode; the same answers as Slack
and Teams give, through `handlers.chat`; the alerts of the outbox in the managers' channel
and in each person's private messages; and a clear 4xx, never a 500, for what the page
should not send. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_app
from bot.services import Services, bootstrap
from bot.settings import Settings
from handlers import demo
from handlers.alerts.delivery import Delivery
from storage.db import Database

Client = TestClient[Any, Any]


@pytest.fixture
async def services(db: Database) -> Services:
    return bootstrap(Settings(), database=db, demo=True)


@pytest.fixture
async def client(services: Services) -> AsyncIterator[Client]:
    async with TestClient(TestServer(build_app(services))) as client:
        yield client


async def deliver(services: Services) -> int:
    """What the server's delivery loop would send by now."""
    return await Delivery(services.tx, services.messengers, services.now, name="test").drain()


async def say(client: Client, text: str, who: str = "alex.rivers") -> dict[str, Any]:
    answer = await client.post("/try/api/say", json={"as": who, "text": text})
    assert answer.status == 200
    reply: dict[str, Any] = (await answer.json())["reply"]
    return reply


async def press(client: Client, button: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"as": "alex.rivers", "kind": button["kind"], "value": button["value"], **extra}
    answer = await client.post("/try/api/press", json=body)
    assert answer.status == 200
    reply: dict[str, Any] = (await answer.json())["reply"]
    return reply


async def inbox(client: Client, who: str, since: int = 0) -> list[dict[str, Any]]:
    answer = await client.get("/try/api/channel", params={"as": who, "since": str(since)})
    assert answer.status == 200
    messages: list[dict[str, Any]] = (await answer.json())["messages"]
    return messages


def button(reply: dict[str, Any], label: str) -> dict[str, Any]:
    found: dict[str, Any] = next(b for b in reply["buttons"] if b["label"].startswith(label))
    return found


async def test_the_page_is_served_with_a_strict_policy(client: Client) -> None:
    page = await client.get("/try")
    assert page.status == 200 and page.content_type == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "/try/static/app.js" in await page.text()
    script = await client.get("/try/static/app.js")
    assert script.status == 200 and "innerHTML" not in await script.text()
    people = await (await client.get("/try/api/people")).json()
    assert [p["id"] for p in people["people"]] == [p.ref for p in demo.PEOPLE]
    assert people["channel"] == demo.CHANNEL


async def test_there_is_no_page_without_demo_mode(db: Database) -> None:
    services = bootstrap(Settings(), database=db)
    assert "web" not in services.messengers
    async with TestClient(TestServer(build_app(services))) as client:
        for path in ("/try", "/try/api/people", "/try/static/app.js"):
            assert (await client.get(path)).status == 404
        assert (await client.post("/try/api/say", json={"as": "alex.rivers"})).status == 404
    async with services.tx.read() as uow:
        assert await uow.orgs.get(demo.ORG) is None, "nothing is seeded either"


async def test_check_then_record_an_allocation(client: Client) -> None:
    checked = await say(client, "/allocate C-1042 to @sam.okafor as lead")
    assert checked["text"] == "Allowed: Demo NQSW Sam Okafor for C-1042 (child in need) as lead"
    recorded = await press(client, button(checked, "Record allocation"))
    assert recorded["text"].startswith("Recorded: Demo NQSW Sam Okafor holds C-1042")
    assert recorded["replaces"] is True
    again = await say(client, "/allocate C-1042 to @sam.okafor as lead")
    assert "already" in json.dumps(again).lower()


async def test_a_report_shows_its_charts_beside_it(client: Client) -> None:
    report = await say(client, "/caseload report")
    assert report["text"].startswith("Caseload report, Demo Borough Council")
    head, data = report["image"].split(",", 1)
    assert head == "data:image/png;base64"
    assert base64.b64decode(data).startswith(b"\x89PNG")
    assert report["image_alt"].startswith("Caseload report: ")
    checked = await say(client, "/allocate C-1042 to @sam.okafor as lead")
    assert checked["image"] is None


async def test_an_exception_is_asked_for_then_granted(client: Client, services: Services) -> None:
    checked = await say(client, "/allocate C-1043 to @priya.shah as lead")
    assert checked["text"].startswith("Co-work only: Demo NQSW Priya Shah for C-1043")
    form = (await press(client, button(checked, "Request exception")))["form"]
    assert form["kind"] == "request_exception" and form["min_length"] > 0
    justification = "Complex Working Agreement agreed in supervision; C-1043 reviewed weekly."
    granted = await press(client, form, justification=justification)
    assert granted["text"].startswith("Recorded")
    told = await inbox(client, "jordan.blake")
    assert any("C-1043" in m["reply"]["text"] for m in told if m["where"] == "private")


async def test_the_demo_breach_alert_reaches_the_channel_and_is_acknowledged(
    client: Client, services: Services
) -> None:
    assert await deliver(services) == 4
    seen = await inbox(client, "alex.rivers")
    assert [(m["where"], m["reply"]["text"][:7]) for m in seen] == [
        ("channel", "Breach:"),
        ("private", "Breach:"),
    ]
    alert = seen[0]
    assert "Demo NQSW Sam Okafor (month 2)" in alert["reply"]["text"]
    sams = await inbox(client, "sam.okafor")
    assert [m["where"] for m in sams] == ["channel", "private"]
    assert "C-2001" in sams[1]["reply"]["text"]

    asked = await press(client, button(alert["reply"], "I'm on it"))
    assert asked["form"]["kind"] == "acknowledge_breach"
    done = await press(client, asked["form"], justification="Reallocating C-2001 to Chris today.")
    assert done["text"].startswith("Acknowledged: you are on Demo NQSW Sam Okafor")
    await deliver(services)
    edited = await inbox(client, "alex.rivers", since=max(m["seq"] for m in seen))
    channel = [m for m in edited if m["where"] == "channel"]
    assert [m["id"] for m in channel] == [alert["id"]], "the same message, edited"
    assert "Acknowledged by Demo Manager Alex Rivers" in json.dumps(channel[0]["reply"])


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/try/api/say", {"as": "mallory", "text": "/caseload"}, 404, "unknown_person"),
        ("/try/api/say", b"{not json", 400, "invalid"),
        ("/try/api/say", {"as": "alex.rivers", "text": ["/caseload"]}, 400, "invalid"),
        ("/try/api/say", {"as": "alex.rivers", "text": "x", "child": "y"}, 400, "invalid"),
        ("/try/api/press", {"as": "alex.rivers", "kind": "record", "value": "{}"}, 400, "invalid"),
        ("/try/api/press", {"as": "alex.rivers", "kind": "x", "value": "{}"}, 400, "invalid"),
        (
            "/try/api/press",
            {"as": "nobody", "kind": "record", "value": '{"case":"C-1"}'},
            404,
            None,
        ),
    ],
)
async def test_what_the_page_should_not_send_is_a_clear_4xx(
    client: Client, path: str, body: Any, status: int, error: str | None
) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = await client.post(path, data=data, headers={"Content-Type": "application/json"})
    assert answer.status == status
    problem = await answer.json()
    assert problem["message"] and (error is None or problem["error"] == error)


async def test_acting_needs_json_so_other_sites_cannot_post(client: Client) -> None:
    """A cross-site form or `fetch` without a preflight can send text/plain, never JSON."""
    body = json.dumps({"as": "alex.rivers", "text": "/caseload"})
    answer = await client.post("/try/api/say", data=body, headers={"Content-Type": "text/plain"})
    assert answer.status == 415


@pytest.mark.parametrize(
    "params", [{"as": "nobody"}, {"as": "alex.rivers", "since": "-1"}, {"since": "x"}]
)
async def test_polling_refuses_what_it_cannot_read(client: Client, params: dict[str, str]) -> None:
    answer = await client.get("/try/api/channel", params=params)
    assert answer.status in (400, 404)
    assert (await answer.json())["message"]
