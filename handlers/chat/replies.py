"""What the bot says, as one neutral model: Slack, Teams and the try-out page each render
it, and none of them decides a word of it (`../shared/design/chat-replies.md`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from handlers.errors import BadButton
from handlers.ports import Platform
from policy import Outcome, Role


class Verdict(StrEnum):
    """The first words of every allocation answer, the same on every platform."""

    ALLOWED = "Allowed"
    CO_WORK = "Co-work only"
    NOT_ALLOWED = "Not allowed"


class Tone(StrEnum):
    """How a renderer may colour a reply; the words carry the meaning without it."""

    GOOD = "good"
    CAUTION = "caution"
    BAD = "bad"
    NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class Section:
    """A block of lines under an optional title; `bullets` lists them as points."""

    lines: tuple[str, ...]
    title: str | None = None
    bullets: bool = False


@dataclass(frozen=True, slots=True)
class Facts:
    """Label and value pairs, such as "You can hold:" and the work types."""

    pairs: tuple[tuple[str, str], ...]


Block = Section | Facts


class ActionKind(StrEnum):
    """What a button does; its value is an `ActionValue` as JSON."""

    RECORD = "record"
    REQUEST_EXCEPTION = "request_exception"
    WHO_CAN_TAKE = "who_can_take"
    WHAT_CAN_THEY_HOLD = "what_can_they_hold"
    ACKNOWLEDGE = "acknowledge_breach"
    RESOLVE = "resolve_breach"


class ActionValue(BaseModel):
    """What a button or form carries back: references and counts only, never a name. An
    allocation's buttons name a case; a breach alert's name the breach."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    case: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    breach: Annotated[int, Field(ge=1)] | None = None
    worker: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    role: Role | None = None
    work_type: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    children: Annotated[int, Field(ge=1, le=50)] | None = None

    @model_validator(mode="after")
    def _about_something(self) -> ActionValue:
        if self.case is None and self.breach is None and self.worker is None:
            raise ValueError("a button names a case, a breach or a worker")
        return self

    def dump(self) -> str:
        return self.model_dump_json(exclude_none=True)

    @classmethod
    def load(cls, text: str) -> ActionValue:
        """Raises `handlers.errors.BadButton` for anything this bot did not write."""
        try:
            return cls.model_validate_json(text)
        except ValidationError:
            raise BadButton() from None


@dataclass(frozen=True, slots=True)
class Button:
    kind: ActionKind
    label: str
    value: ActionValue
    primary: bool = False


@dataclass(frozen=True, slots=True)
class Form:
    """Ask the person for a few words before acting (a modal, a card, an HTML form): an
    exception's justification, a breach's plan (optional: `min_length` 0) or reason."""

    kind: ActionKind
    title: str
    prompt: str
    submit: str
    value: ActionValue
    min_length: int
    max_length: int
    label: str = "Justification"
    """What the field is called where the platform shows a label beside the prompt."""


@dataclass(frozen=True, slots=True)
class ChatAddress:
    """Where to reach one person privately on one platform."""

    platform: Platform
    tenant: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Notice:
    """A private message to people other than the asker, sent after the answer."""

    to: tuple[ChatAddress, ...]
    text: str
    blocks: tuple[Block, ...] = ()


@dataclass(frozen=True, slots=True)
class Bar:
    """One NQSW's caseload against the cap in force (none: no cap in this unit)."""

    label: str
    value: float
    cap: float | None


@dataclass(frozen=True, slots=True)
class WeekBar:
    start: dt.date
    """A Monday."""
    opened: int
    resolved: int
    median_days: float | None


@dataclass(frozen=True, slots=True)
class MixBar:
    name: str
    lead: int
    co_work: int


@dataclass(frozen=True, slots=True)
class Chart:
    """A report's charts as data, small enough to queue in the outbox: each renderer draws
    them (an image uploaded in Slack, inline in Teams, on the try-out page)."""

    title: str
    unit: str
    """What the bars count: children, or points where only points are capped."""
    bars: tuple[Bar, ...]
    of: int
    """How many NQSWs there are in all; the bars show those highest against their cap."""
    weeks: tuple[WeekBar, ...]
    mix: tuple[MixBar, ...]


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer. `text` is the headline a notification preview shows; for an allocation
    check it starts with a `Verdict`. `private` answers are seen by the asker only."""

    text: str
    blocks: tuple[Block, ...] = ()
    buttons: tuple[Button, ...] = ()
    tone: Tone = Tone.NEUTRAL
    private: bool = True
    replaces: bool = False
    """Replace the message whose button was pressed, rather than add one."""
    form: Form | None = None
    """Instead of a message, open this form; `text` is the fallback where no form can open."""
    notices: tuple[Notice, ...] = ()
    chart: Chart | None = None
    """Drawn and shown with the answer, where the platform can show an image."""
    decision: Outcome | None = None
    """The outcome of the policy decision this answer reports, as the audit log recorded it
    (an allocation check on the ASYE): what the adapters count in the metrics."""
