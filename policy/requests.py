"""What the engine is asked: a worker's ASYE record, their caseload and a proposal.

These are the only facts about a case the product keeps: a reference, a work type,
a count of children, flags and whether it is external. There is no field for a name,
an address, a date of birth or free text, and unknown keys are refused.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    ValidationError,
    model_validator,
)

from policy.clock import Pause
from policy.errors import RequestError
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


Day = Annotated[dt.date, PlainValidator(_iso_date)]
Ref = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./:-]*$")]
Key = Annotated[str, Field(min_length=1, max_length=80)]


class Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PauseIn(Wire):
    start: Day = Field(alias="from")
    end: Day | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> PauseIn:
        if self.end is not None and self.end < self.start:
            raise ValueError("`to` is before `from`")
        return self


class Worker(Wire):
    """An NQSW's ASYE record as the engine needs it."""

    asye_start: Day
    fte: Annotated[float, Field(gt=0, le=1)] = 1.0
    pauses: tuple[PauseIn, ...] = ()
    reviews_passed: frozenset[Annotated[int, Field(ge=1, le=60)]] = frozenset()
    agreements: frozenset[Key] = frozenset()

    def clock_pauses(self) -> tuple[Pause, ...]:
        return tuple(Pause(p.start, p.end) for p in self.pauses)


class Case(Wire):
    """One case on a caseload, or the one proposed."""

    case_id: Ref
    work_type: Key
    children: Annotated[int, Field(ge=0, le=50, strict=True)]
    role: Role = Role.LEAD
    flags: frozenset[Key] = frozenset()
    external: Annotated[bool, Strict()] = False
    overrides: frozenset[Key] = frozenset()
    """Rule ids set aside for this case when it was allocated (kept so breaches respect them)."""


class Override(Wire):
    justification: Annotated[str, Field(min_length=10, max_length=1000)]
    approver_role: StaffRole


class DecisionRequest(Wire):
    on: Day
    worker: Worker
    caseload: tuple[Case, ...]
    proposal: Case
    override: Override | None = None


class CaseloadRequest(Wire):
    """For entitlements and breaches: a worker and what they hold on a date."""

    on: Day
    worker: Worker
    caseload: tuple[Case, ...] = ()


M = TypeVar("M", bound=Wire)


def parse_decision_request(data: Any) -> DecisionRequest:
    return _parse(DecisionRequest, data)


def parse_caseload_request(data: Any) -> CaseloadRequest:
    return _parse(CaseloadRequest, data)


def _parse(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise RequestError("request", "must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RequestError(_field(err["loc"]), _explain(err)) from None


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "request"


def _explain(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this request (the product keeps no names, addresses or notes)"
    if kind == "enum":
        return f"{err.get('input')!r} is not allowed; {err['msg'].removeprefix('Input should be ')}"
    return str(err["msg"]).removeprefix("Value error, ")
