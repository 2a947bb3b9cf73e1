"""The parser of what people type: each row is the text and the command it reads as, or
the sentence that says what is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.chat.commands import (
    CaseDetails,
    Caseload,
    ChatUser,
    Check,
    Command,
    Help,
    TeamCaseload,
    WhoCanTake,
    WorkerRef,
)
from handlers.chat.turn import read_message, read_slash
from policy import Role

SAM = ChatUser("U123")
CP1 = CaseDetails("C-1")

ALLOCATE: list[tuple[str, Command]] = [
    ("C-1 to <@U123>", Check(CP1, SAM, Role.LEAD)),
    ("C-1 to <@U123|sam> as lead", Check(CP1, SAM, Role.LEAD)),
    ("C-1 to <@U123> as co-worker", Check(CP1, SAM, Role.CO_WORK)),
    ("C-1 to <@U123> as a co-worker", Check(CP1, SAM, Role.CO_WORK)),
    ("C-1 TO <@U123> AS Coworker", Check(CP1, SAM, Role.CO_WORK)),
    ("C-1 to @NQ-7", Check(CP1, WorkerRef("NQ-7"), Role.LEAD)),
    (
        "C-1 to <@U123> type child_protection children 3",
        Check(CaseDetails("C-1", "child_protection", 3), SAM, Role.LEAD),
    ),
    ("  C-1   type child_in_need ", WhoCanTake(CaseDetails("C-1", "child_in_need"))),
    ("C-1", WhoCanTake(CP1)),
    ("", Help("allocate")),
    ("help", Help("allocate")),
    ("to <@U1>", Help("allocate", "say which case, e.g. `/allocate C-1042 to @person as lead`")),
    ("C-1 to", Help("allocate", "say who after `to`, e.g. `/allocate C-1 to @person`")),
    ("C-1 as", Help("allocate", "`as` needs a value after it")),
    ("C-1 to <@U1> as boss", Help("allocate", "after `as` say `lead` or `co-worker`, not `boss`")),
    ("C-1 children 0", Help("allocate", "`children` takes a whole number from 1 to 50, not `0`")),
    ("C-1 children 51", Help("allocate", "`children` takes a whole number from 1 to 50, not `51`")),
    ("C-1 to <@U1> please", Help("allocate", "I did not understand `please`")),
    (
        "C-1 to Jane!",
        Help(
            "allocate",
            "`Jane!` is not a person: mention them with @ so that chat links their name, or give their worker reference",
        ),
    ),
    (
        "C#1 to <@U1>",
        Help(
            "allocate",
            "`C#1` is not a case reference (letters, digits and - _ . / : only, at most 64 characters)",
        ),
    ),
]


@pytest.mark.parametrize(("text", "expected"), ALLOCATE, ids=[t for t, _ in ALLOCATE])
def test_allocate(text: str, expected: Command) -> None:
    assert read_slash("allocate", text) == expected


CASELOAD: list[tuple[str, Command]] = [
    ("", Caseload()),
    ("me", Caseload()),
    ("team", TeamCaseload()),
    ("<@U123>", Caseload(SAM)),
    ("NQ-7", Caseload(WorkerRef("NQ-7"))),
    ("help", Help("caseload")),
    ("team now", Help("caseload", "I did not understand `now`")),
]


@pytest.mark.parametrize(("text", "expected"), CASELOAD, ids=[t for t, _ in CASELOAD])
def test_caseload(text: str, expected: Command) -> None:
    assert read_slash("caseload", text) == expected


MESSAGES: list[tuple[str, Command]] = [
    ("What can I hold?", Caseload()),
    ("hi, what can i take this week", Caseload()),
    ("my caseload please", Caseload()),
    ("allocate C-1 to <@U123>", Check(CP1, SAM, Role.LEAD)),
    ("/caseload team", TeamCaseload()),
    ("allocate C-1 to", Help("allocate", "say who after `to`, e.g. `/allocate C-1 to @person`")),
    ("thanks!", Help("start")),
    ("", Help("start")),
]


@pytest.mark.parametrize(("text", "expected"), MESSAGES, ids=[t or "empty" for t, _ in MESSAGES])
def test_message(text: str, expected: Command) -> None:
    assert read_message(text) == expected


@given(st.text(max_size=6000))
def test_any_text_reads_as_a_command_never_an_exception(text: str) -> None:
    for command in (read_slash("allocate", text), read_slash("caseload", text), read_message(text)):
        assert command is not None
        if len(text) > 500:
            assert isinstance(command, Help) and command.problem is not None
