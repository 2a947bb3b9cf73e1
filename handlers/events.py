"""The case-management integration contract: every event the case system may send.

`{"type", "occurred_at", "org", "data"}`, one model per type. These names and fields are a
contract with the council's integrator: add optional fields freely, never rename. Unknown
fields are refused, so that a child's name or a case note sent by mistake is rejected
rather than silently dropped or, worse, stored.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from handlers.errors import TooManyEvents
from policy import InputError, Role, StaffRole
from policy.calendar import LONDON
from policy.errors import input_error
from policy.requests import Day

# Lengths never exceed the columns that keep them (storage.models), and free text carries
# no control characters: PostgreSQL refuses NUL, and a name never needs one.
Ref = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./:-]*$")]
Key = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z][a-z0-9_.-]*$")]
ChatId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9:._@-]+$")]
StaffName = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[^\x00-\x1f\x7f]+$")]
CohortKey = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]
"""A cohort attribute the organisation records (`ethnicity`, `sex`, `route`)."""
CohortValue = Annotated[
    str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.,:;()/&'+-]*$")
]
"""A short code or category label (`white_british`, `Black African`), never free text."""
MAX_COHORT_ATTRIBUTES = 10


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Channels(Contract):
    slack: ChatId | None = None
    teams: (
        Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")] | None
    ) = None


class TeamUpserted(Contract):
    ref: Ref
    name: StaffName
    kind: Key
    channels: Channels = Channels()


class Asye(Contract):
    start: Day
    fte: Annotated[float, Field(gt=0, le=1)] = 1.0
    assessor_ref: Ref | None = None


class Chat(Contract):
    slack_team_id: ChatId | None = None
    slack_user_id: ChatId | None = None
    teams_tenant_id: ChatId | None = None
    teams_aad_object_id: ChatId | None = None

    @model_validator(mode="after")
    def _pairs(self) -> Chat:
        if (self.slack_team_id is None) != (self.slack_user_id is None):
            raise ValueError("slack_team_id and slack_user_id come together")
        if (self.teams_tenant_id is None) != (self.teams_aad_object_id is None):
            raise ValueError("teams_tenant_id and teams_aad_object_id come together")
        return self


class WorkerUpserted(Contract):
    ref: Ref
    name: StaffName
    roles: Annotated[tuple[StaffRole, ...], Field(min_length=1)]
    team_ref: Ref
    manager_ref: Ref | None = None
    asye: Asye | None = None
    chat: Chat | None = None
    cohort: (
        Annotated[dict[CohortKey, CohortValue | None], Field(max_length=MAX_COHORT_ATTRIBUTES)]
        | None
    ) = None
    """For the equality view only, and only the attributes the organisation records:
    omitted, stored values stay as they are; an attribute sent as null is removed."""


LeaveReason = Literal[
    "maternity", "paternity", "adoption", "shared_parental", "sickness", "career_break", "other"
]
"""A category, never free text: the reason for a person's leave can be health data."""


class LeaveRecorded(Contract):
    worker_ref: Ref
    start: Day = Field(alias="from")
    end: Day | None = Field(default=None, alias="to")
    reason: LeaveReason

    @model_validator(mode="after")
    def _ordered(self) -> LeaveRecorded:
        if self.end is not None and self.end < self.start:
            raise ValueError("`to` is before `from`")
        return self


class ReviewRecorded(Contract):
    worker_ref: Ref
    month: Annotated[int, Field(ge=1, le=60)]
    passed: bool
    on: Day


class AgreementRecorded(Contract):
    worker_ref: Ref
    agreement: Key
    on: Day


class SupervisionRecorded(Contract):
    worker_ref: Ref
    on: Day


class CaseUpserted(Contract):
    ref: Ref
    work_type: Key
    children: Annotated[int, Field(ge=0, le=50, strict=True)]
    flags: tuple[Key, ...] = ()
    external: bool = False


class CaseClosedEvent(Contract):
    ref: Ref


class AllocationStarted(Contract):
    case_ref: Ref
    worker_ref: Ref
    role: Role
    start: Day | None = Field(default=None, alias="from")


class AllocationEnded(Contract):
    case_ref: Ref
    worker_ref: Ref
    end: Day | None = Field(default=None, alias="to")


class Envelope(Contract):
    occurred_at: AwareDatetime
    org: Ref

    @field_validator("occurred_at")
    @classmethod
    def _representable(cls, value: dt.datetime) -> dt.datetime:
        """An instant whose UTC time or London date falls outside years 1-9999 cannot be
        stored or given a day (e.g. 0001-01-01T00:00:00+01:00)."""
        try:
            value.astimezone(dt.UTC)
            value.astimezone(LONDON)
        except OverflowError:
            raise ValueError(
                "is out of range: use a time between years 1 and 9999 in UTC"
            ) from None
        return value


class TeamUpsertedEvent(Envelope):
    type: Literal["team.upserted"]
    data: TeamUpserted


class WorkerUpsertedEvent(Envelope):
    type: Literal["worker.upserted"]
    data: WorkerUpserted


class LeaveRecordedEvent(Envelope):
    type: Literal["worker.leave_recorded"]
    data: LeaveRecorded


class ReviewRecordedEvent(Envelope):
    type: Literal["worker.review_recorded"]
    data: ReviewRecorded


class AgreementRecordedEvent(Envelope):
    type: Literal["worker.agreement_recorded"]
    data: AgreementRecorded


class SupervisionRecordedEvent(Envelope):
    type: Literal["worker.supervision_recorded"]
    data: SupervisionRecorded


class CaseUpsertedEvent(Envelope):
    type: Literal["case.upserted"]
    data: CaseUpserted


class CaseClosedEventEnvelope(Envelope):
    type: Literal["case.closed"]
    data: CaseClosedEvent


class AllocationStartedEvent(Envelope):
    type: Literal["allocation.started"]
    data: AllocationStarted


class AllocationEndedEvent(Envelope):
    type: Literal["allocation.ended"]
    data: AllocationEnded


CaseEvent = Annotated[
    TeamUpsertedEvent
    | WorkerUpsertedEvent
    | LeaveRecordedEvent
    | ReviewRecordedEvent
    | AgreementRecordedEvent
    | SupervisionRecordedEvent
    | CaseUpsertedEvent
    | CaseClosedEventEnvelope
    | AllocationStartedEvent
    | AllocationEndedEvent,
    Field(discriminator="type"),
]

EVENT_TYPES: dict[str, type[Envelope]] = {
    "team.upserted": TeamUpsertedEvent,
    "worker.upserted": WorkerUpsertedEvent,
    "worker.leave_recorded": LeaveRecordedEvent,
    "worker.review_recorded": ReviewRecordedEvent,
    "worker.agreement_recorded": AgreementRecordedEvent,
    "worker.supervision_recorded": SupervisionRecordedEvent,
    "case.upserted": CaseUpsertedEvent,
    "case.closed": CaseClosedEventEnvelope,
    "allocation.started": AllocationStartedEvent,
    "allocation.ended": AllocationEndedEvent,
}

_ADAPTER: TypeAdapter[CaseEvent] = TypeAdapter(CaseEvent)


def parse_event(body: bytes | str) -> CaseEvent:
    """Raises `InputError` naming the field (`data.children`, `type`, `body` for non-JSON)."""
    try:
        return _ADAPTER.validate_json(body)
    except ValidationError as exc:
        raise input_error(exc, root="body", skip=EVENT_TYPES) from None


MAX_BATCH_EVENTS = 500
"""Events in one batch request: a night's changes for a team arrive in a few requests,
while one request stays short enough (a few seconds) that a sender's timeout does not
cut it off, and what it holds in memory stays small."""

DeliveryId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
"""What `webhook-id` may be: the receipts table keeps 200 characters, and a header holds
no control characters (nor could PostgreSQL keep a NUL)."""


class Identified(BaseModel):
    """A batch's event as far as the batch itself is concerned: its id. The rest is the
    event's own business, refused in its own result when it is wrong."""

    model_config = ConfigDict(frozen=True, extra="allow")
    id: DeliveryId


class BatchShape(Contract):
    """`{"org", "events": [{"id", "type", "occurred_at", "data"}, ...]}`: one organisation
    per request, so one set of secrets verifies it."""

    org: Ref
    events: Annotated[list[Identified], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event of a batch: its delivery id, and the event or why it is not one."""

    id: str
    event: CaseEvent | InputError


@dataclass(frozen=True, slots=True)
class Batch:
    org: str
    deliveries: tuple[Delivery, ...]


def parse_batch(body: bytes | str) -> Batch:
    """Raises `InputError` (or `TooManyEvents`) when the batch as a whole is wrong: not
    JSON, not the shape, an event without a usable id, or an id twice. Each event's own
    faults are kept in its `Delivery`, so that the others can still be applied."""
    try:
        shape = BatchShape.model_validate_json(body)
    except ValidationError as exc:
        if any(e["type"] == "too_long" and e["loc"] == ("events",) for e in exc.errors()):
            raise TooManyEvents(limit=MAX_BATCH_EVENTS) from None
        raise input_error(exc, root="body") from None
    first: dict[str, int] = {}
    for i, item in enumerate(shape.events):
        seen = first.setdefault(item.id, i)
        if seen != i:
            raise InputError(
                f"events[{i}].id",
                f"repeats the id of events[{seen}]: each event has its own id, which is how a"
                " resent event is recognised",
            )
    deliveries = tuple(Delivery(item.id, _batched(shape.org, item)) for item in shape.events)
    return Batch(shape.org, deliveries)


def _batched(org: str, item: Identified) -> CaseEvent | InputError:
    """The event as the single-event route would read it, the batch's `org` its own."""
    fields = dict(item.model_extra or {})
    if "org" in fields:
        return InputError("org", "is given once for the whole batch, beside `events`")
    try:
        return _ADAPTER.validate_python({**fields, "org": org})
    except ValidationError as exc:
        return input_error(exc, root="event", skip=EVENT_TYPES)


_REF: TypeAdapter[str] = TypeAdapter(Ref)


def claimed_org(body: bytes) -> str | None:
    """The organisation an event says it comes from, read before it is trusted, to choose
    the secret its signature must match; None when the body does not say, validly."""
    try:
        value = json.loads(body)
        return _REF.validate_python(value["org"]) if isinstance(value, dict) else None
    except (ValueError, KeyError, TypeError, RecursionError, ValidationError):
        return None


def event_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema per event type, for the integrator."""
    return {name: model.model_json_schema(by_alias=True) for name, model in EVENT_TYPES.items()}


def event_day(occurred_at: dt.datetime) -> dt.date:
    """The Europe/London calendar date of an instant, for events that give no date of their own."""
    return occurred_at.astimezone(LONDON).date()
