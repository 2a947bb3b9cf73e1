"""Slack end to end: signed requests through the real route and bolt, `handlers.chat` on the
`db` fixture's database, and everything the bot sends landing on the fake Slack."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select, text

from handlers.chat.replies import ActionKind, ActionValue
from storage.models import Allocation, CaseRow, Person
from tests.slack.conftest import FORM, MANAGER, NQSW, PSW, SENIOR_NQSW, STRANGER, Slack, buttons
from tests.slack.fake_slack import BOT_USER_ID, TEAM_ID, dm_of

VERDICT = re.compile(r"^(Allowed|Co-work only|Not allowed)\b")


def headline(message: dict[str, Any]) -> str:
    """The top-level text, after checking the first block shows the same words."""
    first = message["blocks"][0]
    shown = first["text"]["text"]
    assert message["text"] in shown or shown.strip("*") in message["text"]
    return str(message["text"])


async def allocations(slack: Slack, case: str) -> int:
    async with slack.db.read() as session:
        rows = await session.scalars(
            select(Allocation.id)
            .join(CaseRow, CaseRow.id == Allocation.case_id)
            .where(CaseRow.ref == case)
        )
        return len(list(rows))


# --- slash commands: the answer is the ack --------------------------------------------------


async def test_allocate_answers_in_the_ack_privately_with_the_verdict_first(slack: Slack) -> None:
    allowed = await slack.answer("/allocate", f"C-1 to <@{NQSW}> as lead")
    denied = await slack.answer("/allocate", f"C-2 to <@{NQSW}|nq> as lead")
    assert allowed["response_type"] == denied["response_type"] == "ephemeral"
    assert headline(allowed).startswith("Allowed")
    assert headline(denied).startswith("Not allowed")
    assert ActionKind.RECORD.value in buttons(allowed)
    await slack.settle()
    assert slack.fake.responses == {}  # nothing followed through the response_url


async def test_caseload_answers_in_the_ack(slack: Slack) -> None:
    own = await slack.answer("/caseload", "", user=NQSW)
    assert own["response_type"] == "ephemeral"
    assert own["text"]


async def test_a_command_that_cannot_be_read_is_answered_not_failed(slack: Slack) -> None:
    answer = await slack.answer("/allocate", "to nobody at all")
    assert answer["text"]
    assert "Reference" not in answer["text"]


async def test_a_stranger_is_answered_without_a_failure(slack: Slack) -> None:
    answer = await slack.answer("/allocate", f"C-1 to <@{NQSW}> as lead", user=STRANGER)
    assert answer["text"]
    assert "Reference" not in answer["text"]
    assert not VERDICT.match(answer["text"])


async def test_a_report_answers_in_the_ack_then_its_charts_follow_privately(slack: Slack) -> None:
    answer = await slack.answer("/caseload", "report", user=MANAGER)
    assert answer["response_type"] == "ephemeral"
    assert headline(answer).startswith("Caseload report, ")
    await slack.settle()
    (opened,) = slack.fake.called("conversations.open")
    assert opened.args["users"] == MANAGER
    (done,) = slack.fake.called("files.completeUploadExternal")
    assert done.args["channel_id"] == dm_of(MANAGER)
    (png,) = slack.fake.uploads.values()
    assert png.startswith(b"\x89PNG")


async def test_an_allocation_answer_uploads_nothing(slack: Slack) -> None:
    await slack.answer("/allocate", f"C-1 to <@{NQSW}> as lead")
    await slack.settle()
    assert (
        slack.fake.called("conversations.open")
        == slack.fake.called("files.getUploadURLExternal")
        == []
    )


# --- buttons ---------------------------------------------------------------------------


async def test_record_pressed_twice_records_once_and_replaces_the_message(slack: Slack) -> None:
    answer = await slack.answer("/allocate", f"C-1 to <@{NQSW}> as lead")
    record = buttons(answer)[ActionKind.RECORD.value]
    first = await slack.press(record, response_url="first")
    second = await slack.press(record, response_url="second")
    assert first.status == second.status == 200
    assert await first.text() == ""  # the ack; the answer follows through the response_url
    await slack.settle()
    assert await allocations(slack, "C-1") == 1
    [recorded] = slack.fake.responses["first"]
    assert recorded["replace_original"] is True
    assert recorded["response_type"] == "ephemeral"
    assert recorded["text"]
    assert len(slack.fake.responses["second"]) == 1


async def test_a_damaged_button_is_answered_not_failed(slack: Slack) -> None:
    damaged = {"action_id": ActionKind.RECORD.value, "value": '{"case": "C-1", "x": 1}'}
    response = await slack.press({**damaged, "text": {"type": "plain_text", "text": "Record"}})
    assert response.status == 200
    await slack.settle()
    [answer] = slack.fake.responses["button"]
    assert "Reference" not in answer["text"]
    assert await allocations(slack, "C-1") == 0


async def test_an_exception_is_asked_for_in_a_form_then_recorded_and_told(slack: Slack) -> None:
    answer = await slack.answer("/allocate", f"C-2 to <@{SENIOR_NQSW}> as lead")
    assert headline(answer).startswith("Co-work only")
    button = buttons(answer)[ActionKind.REQUEST_EXCEPTION.value]
    await slack.press(button, response_url="asked")
    await slack.settle()
    [opened] = slack.fake.called("views.open")
    view = opened.args["view"]
    assert view["type"] == "modal"
    assert view["callback_id"] == ActionKind.REQUEST_EXCEPTION.value
    meta = json.loads(view["private_metadata"])
    assert meta["response_url"] == slack.fake.response_url("asked")
    assert ActionValue.load(meta["value"]) == ActionValue.load(button["value"])
    assert "asked" not in slack.fake.responses  # the form instead of a message
    assert await allocations(slack, "C-2") == 0

    [field] = view["blocks"]
    typed = {"type": "plain_text_input", "value": "Support recorded in the Complex Work Agreement"}
    response = await slack.submit(view, {field["block_id"]: {field["element"]["action_id"]: typed}})
    assert response.status == 200
    assert await response.text() == ""  # closes the modal
    await slack.settle()
    [recorded] = slack.fake.responses["asked"]
    assert recorded["replace_original"] is True
    assert await allocations(slack, "C-2") == 1
    [told] = slack.fake.called("chat.postMessage")
    assert told.args["channel"] == PSW
    assert told.args["text"]


# --- events: acked at once, answered by the Web API ------------------------------------


def mention(text: str, *, user: str = MANAGER, channel_type: str = "channel") -> dict[str, Any]:
    return {
        "type": "app_mention" if channel_type == "channel" else "message",
        "user": user,
        "text": text,
        "ts": "1700000000.000100",
        "channel": "C0123ABC" if channel_type == "channel" else "D0123",
        "channel_type": channel_type,
        "event_ts": "1700000000.000100",
    }


async def test_a_mention_is_answered_privately_to_whoever_asked(slack: Slack) -> None:
    response = await slack.event(mention(f"<@{BOT_USER_ID}> allocate C-2 to <@{NQSW}> as lead"))
    assert response.status == 200
    await slack.settle()
    [sent] = slack.fake.called("chat.postEphemeral")
    assert sent.args["channel"] == "C0123ABC"
    assert sent.args["user"] == MANAGER
    assert sent.args["text"].startswith("Not allowed")
    assert slack.fake.called("chat.postMessage") == []


async def test_a_direct_message_is_answered_in_the_conversation(slack: Slack) -> None:
    await slack.event(mention(f"allocate C-1 to <@{NQSW}>", channel_type="im"))
    await slack.settle()
    [sent] = slack.fake.called("chat.postMessage")
    assert sent.args["channel"] == "D0123"
    assert sent.args["text"].startswith("Allowed")
    assert sent.token == slack.edge.client.token


@pytest.mark.parametrize(
    "changed",
    [
        {"subtype": "message_changed"},
        {"subtype": "bot_message", "bot_id": "B1"},
        {"bot_id": "BBOT"},
        {"user": BOT_USER_ID},
    ],
)
async def test_edits_and_bots_are_not_answered(slack: Slack, changed: dict[str, Any]) -> None:
    response = await slack.event({**mention("caseload", channel_type="im"), **changed})
    assert response.status == 200
    await slack.settle()
    assert [c.method for c in slack.fake.calls if c.method != "auth.test"] == []


async def test_a_resent_event_is_answered_once(slack: Slack) -> None:
    said = mention("caseload", user=NQSW, channel_type="im")
    first = await slack.event(said, event_id="Ev0000000001")
    again = await slack.event(said, event_id="Ev0000000001", retry=1)
    assert first.status == again.status == 200
    await slack.settle()
    assert len(slack.fake.called("chat.postMessage")) == 1


async def test_app_home_publishes_the_home_tab_only(slack: Slack) -> None:
    opened = {"type": "app_home_opened", "user": NQSW, "channel": "D0123", "tab": "home"}
    await slack.event(opened)
    await slack.event({**opened, "tab": "messages"})
    await slack.settle()
    [published] = slack.fake.called("views.publish")
    assert published.args["user_id"] == NQSW
    assert published.args["view"]["type"] == "home"
    assert published.args["view"]["blocks"]


# --- what goes wrong -------------------------------------------------------------------


async def break_the_manager(slack: Slack) -> None:
    """Data no release of ours writes: reading the person fails unexpectedly."""
    async with slack.db.write() as session:
        manager = await session.scalar(select(Person.id).where(Person.ref == "TM-1"))
        await session.execute(
            text("INSERT INTO person_roles (person_id, role) VALUES (:id, 'wizard')"),
            {"id": manager},
        )


def reference_in(message: str) -> str:
    found = re.search(r"\b([0-9a-f]{8})\b", message)
    assert found, message
    return found.group(1)


async def test_an_unexpected_failure_is_a_reference_never_a_500(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    await break_the_manager(slack)
    caplog.set_level(logging.ERROR, logger="caseload_bot.slack")
    answer = await slack.answer("/allocate", f"C-1 to <@{NQSW}> as lead")
    assert answer["response_type"] == "ephemeral"
    reference = reference_in(answer["text"])
    [logged] = [r for r in caplog.records if reference in r.getMessage()]
    assert logged.levelno == logging.ERROR
    assert MANAGER in logged.getMessage()
    assert "C-1" not in logged.getMessage()
    assert await allocations(slack, "C-1") == 0


async def test_an_unexpected_failure_after_a_mention_is_told_privately(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    await break_the_manager(slack)
    caplog.set_level(logging.ERROR, logger="caseload_bot.slack")
    await slack.event(mention(f"<@{BOT_USER_ID}> allocate C-1 to <@{NQSW}>"))
    await slack.settle()
    [sent] = slack.fake.called("chat.postEphemeral")
    assert reference_in(sent.args["text"]) in caplog.text


async def test_a_refused_post_is_logged_with_ids_only(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fake.refuse("chat.postMessage", 429, retry_after=30)
    caplog.set_level(logging.ERROR, logger="caseload_bot.slack")
    response = await slack.event(mention("allocate C-1 to NQ-1", channel_type="im"))
    assert response.status == 200
    await slack.settle()
    assert len(slack.fake.called("chat.postMessage")) == 1  # no retry of its own
    [logged] = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert MANAGER in logged.getMessage()
    assert "C-1" not in logged.getMessage()


async def test_a_refused_response_url_is_logged(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    answer = await slack.answer("/allocate", f"C-1 to <@{NQSW}> as lead")
    slack.fake.refuse("respond/gone", 500)
    caplog.set_level(logging.ERROR, logger="caseload_bot.slack")
    await slack.press(buttons(answer)[ActionKind.RECORD.value], response_url="gone")
    await slack.settle()
    assert "not delivered" in caplog.text


async def test_an_answer_later_than_the_ack_follows_through_the_response_url(
    slack: Slack,
) -> None:
    """A database slower than Slack's three seconds: the ack goes empty, on time, and the
    answer follows when the database lets it."""
    async with slack.db.write() as session:  # holds the write lock; the check must wait
        if slack.db.engine.dialect.name == "postgresql":
            await session.execute(text("LOCK TABLE audit_log IN EXCLUSIVE MODE"))
        started = time.perf_counter()
        response = await slack.slash("/allocate", f"C-2 to <@{NQSW}> as lead", response_url="late")
        assert response.status == 200
        assert await response.text() == ""
        assert time.perf_counter() - started < 3
    await slack.settle()
    [late] = slack.fake.responses["late"]
    assert late["response_type"] == "ephemeral"
    assert late["text"].startswith("Not allowed")


async def test_a_slash_command_bolt_cannot_translate_is_a_reference_never_a_500(
    slack: Slack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="caseload_bot.slack")
    response = await slack.post(urlencode({"team_id": TEAM_ID, "command": "/caseload"}), FORM)
    assert response.status == 200
    answer = await response.json()
    assert answer["response_type"] == "ephemeral"
    assert reference_in(answer["text"]) in caplog.text
