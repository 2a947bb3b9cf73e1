"""The try-out page's JSON in and out, as tables: the same commands as Slack and Teams read
from the same words, and every reply shape as plain JSON with mentions shown as `@handle`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.tryout import render, translate
from handlers.chat.commands import (
    AskAcknowledge,
    AskException,
    CaseDetails,
    Caseload,
    Check,
    Command,
    Help,
    Record,
    RequestException,
    Resolve,
    TeamCaseload,
    WhoCanTake,
    WorkerRef,
)
from handlers.chat.replies import (
    ActionKind,
    ActionValue,
    Button,
    Facts,
    Form,
    Reply,
    Section,
    Tone,
)
from policy import InputError, Role

SAM = WorkerRef("sam.okafor")
C1042 = CaseDetails("C-1042")


def said(text: str, who: str = "alex.rivers") -> bytes:
    return json.dumps({"as": who, "text": text}).encode()


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/allocate C-1042 to @sam.okafor as lead", Check(C1042, SAM, Role.LEAD)),
        ("/allocate C-1042 to @sam.okafor as co-worker", Check(C1042, SAM, Role.CO_WORK)),
        ("allocate C-1042 to sam.okafor", Check(C1042, SAM, Role.LEAD)),
        ("/allocate C-1042", WhoCanTake(C1042)),
        ("/allocate help", Help("allocate")),
        ("/caseload", Caseload()),
        ("/caseload team", TeamCaseload()),
        ("/caseload @sam.okafor", Caseload(SAM)),
        ("what can I hold?", Caseload()),
        ("  What can I hold  ", Caseload()),
        ("hello", Help("start")),
        ("", Help("start")),
    ],
)
def test_what_is_typed_reads_as_in_slack(text: str, command: Command) -> None:
    incoming = translate.say(said(text))
    assert incoming.command == command
    assert (incoming.asker.platform, incoming.asker.tenant) == ("web", "demo")
    assert incoming.asker.user_id == "alex.rivers"


def test_a_command_that_cannot_be_read_is_help_saying_why() -> None:
    command = translate.say(said("/allocate C-1042 to")).command
    assert isinstance(command, Help) and command.topic == "allocate" and command.problem


VALUE = ActionValue(case="C-1042", worker="sam.okafor", role=Role.LEAD).dump()


@pytest.mark.parametrize(
    ("kind", "value", "justification", "command"),
    [
        ("record", VALUE, None, Record(C1042, SAM, Role.LEAD)),
        ("who_can_take", VALUE, None, WhoCanTake(C1042)),
        ("what_can_they_hold", VALUE, None, Caseload(SAM)),
        ("request_exception", VALUE, None, AskException(C1042, SAM, Role.LEAD)),
        (
            "request_exception",
            VALUE,
            "Complex Working Agreement signed today",
            RequestException(C1042, SAM, Role.LEAD, "Complex Working Agreement signed today"),
        ),
        ("acknowledge_breach", '{"breach":1}', None, AskAcknowledge(1)),
        (
            "resolve_breach",
            '{"breach":1}',
            "C-2001 reallocated to Chris",
            Resolve(1, "C-2001 reallocated to Chris"),
        ),
        ("acknowledge_breach", VALUE, None, Help("start", problem=None)),
    ],
)
def test_a_button_or_form_reads_as_in_slack(
    kind: str, value: str, justification: str | None, command: Command
) -> None:
    body: dict[str, Any] = {"as": "alex.rivers", "kind": kind, "value": value}
    if justification is not None:
        body["justification"] = justification
    got = translate.press(json.dumps(body).encode()).command
    if isinstance(command, Help):  # a breach button without a breach: help, saying why
        assert isinstance(got, Help) and got.problem
    else:
        assert got == command


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (b'{"text": "/caseload"}', "as"),
        (b'{"as": "alex.rivers"}', "text"),
        (b'{"as": "alex.rivers", "text": "/caseload", "child_name": "x"}', "child_name"),
        (b'{"as": "alex.rivers", "text": 7}', "text"),
        (json.dumps({"as": "alex.rivers", "text": "x" * 2001}).encode(), "text"),
    ],
)
def test_malformed_say_names_the_field(body: bytes, field: str) -> None:
    with pytest.raises(InputError) as refused:
        translate.say(body)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"as": "alex.rivers", "kind": "delete_everything", "value": VALUE}, "kind"),
        ({"as": "alex.rivers", "kind": "record", "value": '{"case": "C-1", "name": "x"}'}, "value"),
        ({"as": "alex.rivers", "kind": "record", "value": "not json"}, "value"),
        ({"as": "alex.rivers", "kind": "record"}, "value"),
    ],
)
def test_malformed_press_names_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as refused:
        translate.press(json.dumps(body).encode())
    assert refused.value.field == field


@pytest.mark.parametrize("who", ["nobody", "Alex Rivers", "NQ-7"])
def test_only_the_demo_people_can_be_asked_as(who: str) -> None:
    with pytest.raises(translate.UnknownPerson):
        translate.say(said("/caseload", who))


FORM = Form(
    ActionKind.RESOLVE,
    "Resolve the breach",
    "Why is it resolved? Case references only.",
    "Resolve",
    ActionValue(breach=3),
    10,
    500,
    label="Reason",
)


@pytest.mark.parametrize(
    ("reply", "shown"),
    [
        (
            Reply("Recorded: <@sam.okafor> holds C-1042", tone=Tone.GOOD),
            {"text": "Recorded: @sam.okafor holds C-1042", "tone": "good", "blocks": []},
        ),
        (
            Reply(
                "x", blocks=(Section(("a <@priya.shah>", "<b>b</b>"), title="Why", bullets=True),)
            ),
            {
                "blocks": [
                    {
                        "type": "section",
                        "title": "Why",
                        "lines": ["a @priya.shah", "<b>b</b>"],
                        "bullets": True,
                    }
                ]
            },
        ),
        (
            Reply("x", blocks=(Facts((("Caseload", "1 → 3 children of 16"),)),)),
            {"blocks": [{"type": "facts", "pairs": [["Caseload", "1 → 3 children of 16"]]}]},
        ),
        (
            Reply(
                "x",
                buttons=(
                    Button(ActionKind.RECORD, "Record allocation", ActionValue(case="C-1"), True),
                ),
            ),
            {
                "buttons": [
                    {
                        "kind": "record",
                        "label": "Record allocation",
                        "value": '{"case":"C-1"}',
                        "primary": True,
                    }
                ],
                "form": None,
            },
        ),
        (
            Reply("Resolve", form=FORM, replaces=True, private=False),
            {
                "replaces": True,
                "private": False,
                "form": {
                    "kind": "resolve_breach",
                    "title": "Resolve the breach",
                    "prompt": "Why is it resolved? Case references only.",
                    "label": "Reason",
                    "submit": "Resolve",
                    "value": '{"breach":3}',
                    "min_length": 10,
                    "max_length": 500,
                },
            },
        ),
    ],
)
def test_replies_render_as_plain_json(reply: Reply, shown: dict[str, Any]) -> None:
    """Markup stays text: the page shows it with textContent, never as HTML."""
    out = render.reply(reply)
    assert {k: out[k] for k in shown} == shown
    assert json.loads(json.dumps(out)) == out
