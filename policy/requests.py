"""What the engine is asked: a worker's ASYE record, their caseload and a proposal.

These are the only facts about a case the product keeps: a reference, a work type,
a count of children, flags and whether it is external. There is no field for a name,
an address, a date of birth or free text, and unknown keys are refused.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.dataclasses import dataclass

from policy.clock import Pause
from policy.errors import InputError, input_error
from policy.schema import Role, StaffRole

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: object) -> dt.date:
    """Only YYYY-MM-DD: a number or a timestamp is a mistake, not a date."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{value!r} is not a date; use YYYY-MM-DD")


Day = Annotated[
    dt.date, PlainValidator(_iso_date), WithJsonSchema({"type": "string", "format": "date"})
]
"""A plain validator has no schema of its own: published schemas would say nothing."""
Ref = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./:-]*$")]
Key = Annotated[str, Field(min_length=1, max_length=80)]


WIRE = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)
"""Request models are pydantic dataclasses with slots: validated like models at the edge,
read at plain-attribute speed in the engine's hot loops."""


@dataclass(frozen=True, slots=True, config=WIRE)
class PauseIn:
    start: Day = Field(alias="from")
    end: Day | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> PauseIn:
        if self.end is not None and self.end < self.start:
            raise ValueError("`to` is before `from`")
        return self


@dataclass(frozen=True, slots=True, config=WIRE)
class Worker:
    """An NQSW's ASYE record as the engine needs it."""

    asye_start: Day
    fte: Annotated[float, Field(gt=0, le=1)] = 1.0
    pauses: tuple[PauseIn, ...] = ()
    reviews_passed: frozenset[Annotated[int, Field(ge=1, le=60)]] = frozenset()
    agreements: frozenset[Key] = frozenset()

    def clock_pauses(self) -> tuple[Pause, ...]:
        return tuple(Pause(p.start, p.end) for p in self.pauses)


@dataclass(frozen=True, slots=True, config=WIRE)
class Case:
    """One case on a caseload, or the one proposed."""

    case_id: Ref
    work_type: Key
    children: Annotated[int, Field(ge=0, le=50, strict=True)]
    role: Role = Role.LEAD
    flags: frozenset[Key] = frozenset()
    external: Annotated[bool, Strict()] = False
    overrides: frozenset[Key] = frozenset()
    """Rule ids set aside for this case when it was allocated (kept so breaches respect them)."""


@dataclass(frozen=True, slots=True, config=WIRE)
class Override:
    justification: Annotated[str, Field(min_length=10, max_length=1000)]
    approver_role: StaffRole


@dataclass(frozen=True, slots=True, config=WIRE)
class DecisionRequest:
    on: Day
    worker: Worker
    caseload: tuple[Case, ...]
    proposal: Case
    override: Override | None = None


@dataclass(frozen=True, slots=True, config=WIRE)
class CaseloadRequest:
    """For entitlements and breaches: a worker and what they hold on a date."""

    on: Day
    worker: Worker
    caseload: tuple[Case, ...] = ()


_DECISION = TypeAdapter(DecisionRequest)
_CASELOAD = TypeAdapter(CaseloadRequest)
_CASE = TypeAdapter(Case)
_OVERRIDE = TypeAdapter(Override)
_PAUSE = TypeAdapter(PauseIn)


def parse_decision_request(data: Any) -> DecisionRequest:
    return _parse(_DECISION, data)


def parse_caseload_request(data: Any) -> CaseloadRequest:
    return _parse(_CASELOAD, data)


def parse_case(data: Any) -> Case:
    return _parse(_CASE, data)


def parse_override(data: Any) -> Override:
    return _parse(_OVERRIDE, data)


def parse_pause(data: Any) -> PauseIn:
    return _parse(_PAUSE, data)


def _parse[T](adapter: TypeAdapter[T], data: Any) -> T:
    if not isinstance(data, dict):
        raise InputError("request", "must be a JSON object")
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        raise input_error(exc) from None
