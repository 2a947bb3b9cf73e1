"""Chat commands as neutral values, and the one parser of their text.

Adapters hand over the text with every mention of a person rewritten as `<@USER_ID>`
(Slack's own form; Teams rewrites its `<at>` mentions to it), so that `/allocate` reads
the same wherever it is typed. A person may also be named by their worker reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from handlers.chat.replies import ActionKind, ActionValue
from handlers.errors import (
    BadButton,
    BadCaseRef,
    BadChildren,
    BadLink,
    BadPerson,
    BadRole,
    CommandTooLong,
    MissingCase,
    MissingPerson,
    MissingValue,
    UnknownWord,
)
from handlers.ports import Platform
from policy import Role

MAX_TEXT = 500
"""Longer than any command; a pasted case note is refused before it is read."""

_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:-]{0,63}$")
_MENTION = re.compile(r"^<@([A-Za-z0-9_.:-]{1,128})(?:\|[^>]*)?>$")
_ROLES = {
    "lead": Role.LEAD,
    "co-worker": Role.CO_WORK,
    "coworker": Role.CO_WORK,
    "co-work": Role.CO_WORK,
    "cowork": Role.CO_WORK,
    "co_work": Role.CO_WORK,
}


@dataclass(frozen=True, slots=True)
class Asker:
    """Who typed or pressed: one identity on one platform (workspace or tenant, user)."""

    platform: Platform
    tenant: str
    user_id: str


@dataclass(frozen=True, slots=True)
class ChatUser:
    """A person as mentioned in chat, in the asker's workspace or tenant."""

    user_id: str


@dataclass(frozen=True, slots=True)
class WorkerRef:
    """A person by the reference the case-management system gives them."""

    ref: str


Person = ChatUser | WorkerRef


@dataclass(frozen=True, slots=True)
class CaseDetails:
    """What the asker says of a case; a stored case's own details take precedence."""

    ref: str
    work_type: str | None = None
    children: int | None = None


@dataclass(frozen=True, slots=True)
class Check:
    """`/allocate C-1042 to @person as lead`: the answer, recording nothing but the audit."""

    case: CaseDetails
    person: Person
    role: Role = Role.LEAD


@dataclass(frozen=True, slots=True)
class WhoCanTake:
    case: CaseDetails


@dataclass(frozen=True, slots=True)
class Record:
    """The `Record allocation` button: allocate, re-checked against the caseload now."""

    case: CaseDetails
    person: Person
    role: Role


@dataclass(frozen=True, slots=True)
class AskException:
    """The `Request exception` button: ask for the justification first."""

    case: CaseDetails
    person: Person
    role: Role


@dataclass(frozen=True, slots=True)
class RequestException:
    """The justification given: allocate with the asker as the approver of the override."""

    case: CaseDetails
    person: Person
    role: Role
    justification: str


@dataclass(frozen=True, slots=True)
class Caseload:
    """`/caseload` (person None: the asker's own), or "what can I hold?"."""

    person: Person | None = None


@dataclass(frozen=True, slots=True)
class TeamCaseload:
    pass


@dataclass(frozen=True, slots=True)
class Report:
    """`/caseload report [team TEAM_REF | org | equality]`: the asker's own team by
    default, or the whole organisation for those whose reach is the organisation's;
    `equality`: the measures by cohort, for the principal social worker."""

    team: str | None = None
    whole: bool = False
    equality: bool = False


@dataclass(frozen=True, slots=True)
class Help:
    topic: Literal["allocate", "caseload", "start"]
    problem: str | None = None
    """What was wrong with the command that earned this help, if anything."""


@dataclass(frozen=True, slots=True)
class Home:
    """What the App Home tab (or a first visit) shows this person."""


@dataclass(frozen=True, slots=True)
class LinkChannel:
    """`link this channel to team TEAM_REF`: the team's alerts go to the channel it is said
    in. The adapter fills in `channel`; None when it was not said in a channel."""

    team_ref: str
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class AskAcknowledge:
    """ "I'm on it" pressed on a breach alert: ask for an optional plan first."""

    breach: int


@dataclass(frozen=True, slots=True)
class Acknowledge:
    breach: int
    plan: str | None


@dataclass(frozen=True, slots=True)
class AskResolve:
    """ "Resolved" pressed on a breach alert: ask for the reason first."""

    breach: int


@dataclass(frozen=True, slots=True)
class Resolve:
    breach: int
    reason: str


@dataclass(frozen=True, slots=True)
class SupervisionDone:
    """`/caseload supervision done [PERSON]`: a supervision held today (person None: the
    asker's own)."""

    person: Person | None = None


Command = (
    Check
    | WhoCanTake
    | Record
    | AskException
    | RequestException
    | Caseload
    | TeamCaseload
    | Help
    | Home
    | LinkChannel
    | AskAcknowledge
    | Acknowledge
    | AskResolve
    | Resolve
    | SupervisionDone
    | Report
)


def parse_allocate(text: str) -> Command:
    """`CASE_REF [to PERSON] [as lead|as co-worker] [type WORK_TYPE] [children N]`."""
    words = _words(text)
    if not words or words[0].lower() in {"help", "?"}:
        return Help("allocate")
    ref = words[0]
    if ref.lower() == "to":
        raise MissingCase()
    if not _REF.match(ref):
        raise BadCaseRef(ref=ref[:70])
    person: Person | None = None
    role = Role.LEAD
    work_type: str | None = None
    children: int | None = None
    rest = words[1:]
    i = 0
    while i < len(rest):
        word = rest[i].lower()
        if word in {"to", "as", "type", "children"} and i + 1 >= len(rest):
            if word == "to":
                raise MissingPerson(case=ref)
            raise MissingValue(word=word)
        if word == "to":
            person = _person(rest[i + 1])
        elif word == "as":
            role_word = rest[i + 1].lower()
            if role_word in {"a", "an", "the"} and i + 2 < len(rest):
                i += 1
                role_word = rest[i + 1].lower()
            if role_word not in _ROLES:
                raise BadRole(word=rest[i + 1][:40])
            role = _ROLES[role_word]
        elif word == "type":
            work_type = rest[i + 1]
        elif word == "children":
            children = _children(rest[i + 1])
        else:
            raise UnknownWord(word=rest[i][:40])
        i += 2
    case = CaseDetails(ref, work_type, children)
    if person is None:
        return WhoCanTake(case)
    return Check(case, person, role)


def parse_caseload(text: str) -> Command:
    """`[team | @person | WORKER_REF | supervision done [PERSON] | report [...] | help]`."""
    words = _words(text)
    if not words:
        return Caseload()
    if words[0].lower() == "supervision":
        return _parse_supervision(words[1:])
    if words[0].lower() == "report":
        return _parse_report(words[1:])
    if len(words) > 1:
        raise UnknownWord(word=words[1][:40])
    word = words[0].lower()
    if word in {"help", "?"}:
        return Help("caseload")
    if word == "team":
        return TeamCaseload()
    if word in {"me", "mine", "my"}:
        return Caseload()
    return Caseload(_person(words[0]))


_QUESTION = re.compile(r"[^a-z ]+")
_OWN = ("what can i hold", "what can i take", "my caseload", "what do i hold")


def parse_message(text: str) -> Command:
    """A direct message or mention: the commands without their slash, or a plain question."""
    words = _words(text)
    if not words:
        return Help("start")
    first = words[0].lower().lstrip("/")
    rest = " ".join(words[1:])
    if first == "allocate":
        return parse_allocate(rest)
    if first == "caseload":
        return parse_caseload(rest)
    if first == "link":
        return _parse_link(words[1:])
    question = " ".join(_QUESTION.sub(" ", text.lower()).split())
    if any(phrase in question for phrase in _OWN):
        return Caseload()
    return Help("start")


def _parse_report(words: list[str]) -> Report:
    """`[team TEAM_REF | org | equality]`, after `report`."""
    said = [w.lower() for w in words]
    if not said:
        return Report()
    if said in (["org"], ["organisation"], ["all"]):
        return Report(whole=True)
    if said == ["equality"]:
        return Report(whole=True, equality=True)
    if said[0] != "team":
        raise UnknownWord(word=words[0][:40])
    if len(words) == 1:
        raise MissingValue(word="team")
    if len(words) > 2 or not _REF.match(words[1]):
        raise UnknownWord(word=words[min(2, len(words) - 1)][:40])
    return Report(team=words[1])


def _parse_supervision(words: list[str]) -> SupervisionDone:
    if not words or words[0].lower() != "done":
        raise UnknownWord(word=(words[0] if words else "supervision")[:40])
    if len(words) > 2:
        raise UnknownWord(word=words[2][:40])
    return SupervisionDone(_person(words[1]) if len(words) == 2 else None)


_LINK = ("this", "channel", "to", "team")


def _parse_link(words: list[str]) -> LinkChannel:
    """`[this] channel to [team] TEAM_REF`, after `link`."""
    said = [w.lower() for w in words[:-1]]
    if not words or said not in (list(_LINK), list(_LINK[1:]), list(_LINK[:3]), list(_LINK[1:3])):
        raise BadLink()
    ref = words[-1]
    if not _REF.match(ref) or ref.lower() == "team":
        raise BadLink()
    return LinkChannel(ref)


def parse_action(kind: ActionKind, value: ActionValue, justification: str | None = None) -> Command:
    """A pressed button (or submitted form) as the command it stands for."""
    worker = None if value.worker is None else WorkerRef(value.worker)
    if kind is ActionKind.WHAT_CAN_THEY_HOLD and worker is not None:
        return Caseload(worker)
    if kind in (ActionKind.ACKNOWLEDGE, ActionKind.RESOLVE):
        if value.breach is None:
            raise BadButton()
        if justification is None:
            ask = AskAcknowledge if kind is ActionKind.ACKNOWLEDGE else AskResolve
            return ask(value.breach)
        if kind is ActionKind.ACKNOWLEDGE:
            return Acknowledge(value.breach, justification.strip() or None)
        return Resolve(value.breach, justification.strip())
    if value.case is None:
        raise BadButton()
    case = CaseDetails(value.case, value.work_type, value.children)
    if kind is ActionKind.WHO_CAN_TAKE or worker is None:
        return WhoCanTake(case)
    role = value.role or Role.LEAD
    if kind is ActionKind.RECORD:
        return Record(case, worker, role)
    if justification is None:
        return AskException(case, worker, role)
    return RequestException(case, worker, role, justification)


def _words(text: str) -> list[str]:
    if len(text) > MAX_TEXT:
        raise CommandTooLong(length=len(text), limit=MAX_TEXT)
    return text.split()


def _person(word: str) -> Person:
    mention = _MENTION.match(word)
    if mention:
        return ChatUser(mention.group(1))
    bare = word.removeprefix("@")
    if _REF.match(bare):
        return WorkerRef(bare)
    raise BadPerson(word=word[:40])


def _children(word: str) -> int:
    if word.isdigit() and 1 <= int(word) <= 50:
        return int(word)
    raise BadChildren(word=word[:20])
