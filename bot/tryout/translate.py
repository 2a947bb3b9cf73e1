"""The try-out page's JSON in: who is asking (a demo person picked on the page) and the
neutral command, read by the parser of `handlers.chat` exactly as Slack's and Teams' text is.

The page names the asker itself, with no sign-in: acceptable only because the page exists
in demo mode alone, which `caseload-bot serve --demo` serves on a loopback address only,
over the fictional demo organisation. Handles are the demo people's worker references, so
`@sam.okafor` in a command names Sam as a worker reference would anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers import demo
from handlers.chat.commands import Help
from handlers.chat.replies import ActionKind, ActionValue
from handlers.chat.turn import Asker, Command, parse_action, read_message, read_slash
from handlers.errors import Unclear
from policy import InputError
from policy.errors import input_error

HANDLES = frozenset(p.ref for p in demo.PEOPLE)
SLASH: dict[str, Literal["allocate", "caseload"]] = {
    "/allocate": "allocate",
    "/caseload": "caseload",
}


class UnknownPerson(Exception):
    """The page named someone who is not one of the demo's people."""

    def __init__(self, handle: str) -> None:
        super().__init__(f"{handle[:64]!r} is not one of the demo's people (GET /try/api/people)")


@dataclass(frozen=True, slots=True)
class Incoming:
    asker: Asker
    command: Command


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=False)
    as_: Annotated[str, Field(alias="as", min_length=1, max_length=64)]


class Said(_Body):
    text: Annotated[str, Field(max_length=2000)]
    """Longer than any command (the parser refuses those past 500 characters, with help)."""


class Pressed(_Body):
    kind: ActionKind
    value: Annotated[str, Field(min_length=2, max_length=2000)]
    """The button's `ActionValue`, as the page was given it."""
    justification: Annotated[str, Field(max_length=2000)] | None = None
    """A submitted form's text; absent for a button."""


Reader = Callable[[bytes], Incoming]


def asker(handle: str) -> Asker:
    if handle not in HANDLES:
        raise UnknownPerson(handle)
    return Asker("web", demo.TENANT, handle)


def say(body: bytes) -> Incoming:
    """`{"as", "text"}`: a `/allocate` or `/caseload` command, or a message to the bot."""
    said = _parse(Said, body)
    who = asker(said.as_)
    first, _, rest = said.text.strip().partition(" ")
    name = SLASH.get(first.lower())
    command = read_slash(name, rest) if name is not None else read_message(said.text)
    return Incoming(who, command)


def press(body: bytes) -> Incoming:
    """`{"as", "kind", "value", "justification"?}`: a button, or a form submitted."""
    pressed = _parse(Pressed, body)
    who = asker(pressed.as_)
    try:
        value = ActionValue.load(pressed.value)
    except Unclear as e:
        raise InputError("value", str(e)) from None
    try:
        command = parse_action(pressed.kind, value, pressed.justification)
    except Unclear as e:
        command = Help("start", problem=str(e))
    return Incoming(who, command)


def _parse[M: BaseModel](model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise input_error(exc, root="body") from None
