"""Rendering keeps every word of a reply and stays within Block Kit's limits, which Slack
enforces by refusing the whole message."""

from __future__ import annotations

import json

from bot.slack import blocks
from bot.slack.translate import Where
from handlers.chat.replies import ActionKind, ActionValue, Button, Facts, Form, Reply, Section

VALUE = ActionValue(case="C-1", worker="NQ-1")


def test_the_headline_is_the_fallback_text_and_the_first_block() -> None:
    message = blocks.reply(Reply("Not allowed: NQ-1 for C-1 as lead"))
    assert message["text"] == "Not allowed: NQ-1 for C-1 as lead"
    assert message["blocks"] == [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": message["text"], "emoji": False},
        }
    ]


def test_markup_stays_text_but_a_person_is_a_mention() -> None:
    lines = ("<!channel> & <https://x|y>", "<@U0123> or <@U1|label>")
    message = blocks.reply(Reply("x", blocks=(Section(lines, title="a"),)))
    assert message["blocks"][1]["text"]["text"] == (
        "*a*\n&lt;!channel&gt; &amp; &lt;https://x|y&gt;\n<@U0123> or &lt;@U1|label&gt;"
    )


def test_a_headline_with_a_mention_is_mrkdwn() -> None:
    [first] = blocks.reply(Reply("<@U0123> is not known here"))["blocks"]
    assert first == {
        "type": "section",
        "text": {"type": "mrkdwn", "text": "*<@U0123> is not known here*"},
    }


def test_long_sections_split_on_lines_and_long_headlines_are_sections() -> None:
    line = "x" * 1000
    message = blocks.reply(Reply("y" * 200, blocks=(Section((line,) * 7, bullets=True),)))
    first, *sections = message["blocks"]
    assert first["type"] == "section" and "y" * 200 in first["text"]["text"]
    assert [len(s["text"]["text"].split("\n")) for s in sections] == [2, 2, 2, 1]
    assert all(len(s["text"]["text"]) <= blocks.TEXT_MAX for s in sections)


def test_facts_are_fields_ten_at_a_time() -> None:
    pairs = tuple((f"label {i}", f"value {i}") for i in range(12))
    message = blocks.reply(Reply("x", blocks=(Facts(pairs),)))
    assert [len(b["fields"]) for b in message["blocks"][1:]] == [10, 2]
    assert message["blocks"][1]["fields"][0]["text"] == "*label 0*\nvalue 0"


def test_buttons_never_repeat_an_action_id_in_one_row() -> None:
    other = ActionValue(case="C-1", worker="NQ-2")
    row = (
        Button(ActionKind.RECORD, "Record", VALUE, primary=True),
        Button(ActionKind.WHAT_CAN_THEY_HOLD, "What can NQ-1 hold?", VALUE),
        Button(ActionKind.WHAT_CAN_THEY_HOLD, "What can NQ-2 hold?", other),
    )
    actions = blocks.reply(Reply("x", buttons=row))["blocks"][1:]
    assert [[e["action_id"] for e in a["elements"]] for a in actions] == [
        ["record", "what_can_they_hold"],
        ["what_can_they_hold"],
    ]
    record = actions[0]["elements"][0]
    assert record["style"] == "primary"
    assert ActionValue.load(record["value"]) == VALUE
    assert "style" not in actions[0]["elements"][1]


def test_a_form_is_a_modal_that_says_where_to_answer() -> None:
    form = Form(
        ActionKind.REQUEST_EXCEPTION, "Approve an exception", "Why?", "Approve", VALUE, 20, 500
    )
    where = Where(response_url="https://hooks.slack.com/actions/T1/1/abc", channel="C1")
    modal = blocks.modal(form, where)
    assert modal["callback_id"] == "request_exception"
    assert modal["title"]["text"] == "Approve an exception"
    [field] = modal["blocks"]
    assert field["element"]["min_length"] == 20 and field["element"]["max_length"] == 500
    meta = json.loads(modal["private_metadata"])
    assert meta == {
        "kind": "request_exception",
        "value": VALUE.dump(),
        "response_url": where.response_url,
        "channel": "C1",
    }
    assert len(modal["private_metadata"]) <= 3000
