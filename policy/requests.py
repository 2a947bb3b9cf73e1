"""What the engine is asked: a worker's ASYE record, their caseload and a proposal.

These are the only facts about a case the product keeps: a reference, a work type,
a count of children, flags and whether it is external. There is no field for a name,
an address, a date of birth or free text, and unknown keys are refused.
"""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass as plain_dataclass
from heapq import merge
from itertools import chain, repeat
from operator import itemgetter, le
from typing import Annotated, Any, Self

from pydantic import (
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainValidator,
    Strict,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic_core import CoreSchema, core_schema

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


type Kind = tuple[str, frozenset[str], bool, Role, frozenset[str], int]
"""Everything the policy reads of a case but its reference: work type, flags, external,
role, overrides and children."""


@plain_dataclass(frozen=True, slots=True, eq=False)
class Group:
    """The cases of one kind: `case` stands for all of them, `ids` are in the caseload's
    order. Compared by identity: a group is one of one caseload's."""

    case: Case
    ids: tuple[str, ...]


def _kind(case: Case) -> Kind:
    return (case.work_type, case.flags, case.external, case.role, case.overrides, case.children)


class Caseload(tuple[Case, ...]):
    """A worker's cases, also grouped by kind: the engine weighs each kind once, not each
    case, so a caseload of 1,500 costs it about what one of 15 does. Storage reads one in
    case-reference order and grows it a case at a time (`with_case`) rather than grouping
    it again; a caller's list keeps the caller's order, so that errors name its indices."""

    groups: dict[Kind, Group]
    """By kind; read-only (a `Caseload` is shared, like the tuple it is)."""
    ids: tuple[str, ...]
    ordered: bool
    """In case-reference order: cases are found and placed by bisection."""

    def __new__(cls, cases: Iterable[Case] = ()) -> Self:
        made = super().__new__(cls, cases)
        grouped: dict[Kind, tuple[Case, list[str]]] = {}
        for case in made:
            kind = _kind(case)
            found = grouped.get(kind)
            if found is None:
                grouped[kind] = (case, [case.case_id])
            else:
                found[1].append(case.case_id)
        made.groups = {k: Group(case, tuple(ids)) for k, (case, ids) in grouped.items()}
        made.ids = tuple(c.case_id for c in made)
        made.ordered = all(map(le, made.ids, made.ids[1:]))
        return made

    def with_case(self, case: Case) -> Caseload:
        """This caseload and `case` (in its place if in order, else last), its groups not
        made again."""
        at = bisect_right(self.ids, case.case_id) if self.ordered else len(self)
        grown = tuple.__new__(Caseload, (*self[:at], case, *self[at:]))
        grown.ids = (*self.ids[:at], case.case_id, *self.ids[at:])
        grown.ordered = self.ordered
        kind = _kind(case)
        groups = dict(self.groups)
        group = groups.get(kind)
        if group is None:
            groups[kind] = Group(case, (case.case_id,))
        else:
            i = bisect_right(group.ids, case.case_id) if self.ordered else len(group.ids)
            groups[kind] = Group(group.case, (*group.ids[:i], case.case_id, *group.ids[i:]))
        grown.groups = groups
        return grown

    def held(self, case_id: str) -> tuple[Case, ...]:
        """The cases with this reference (one, or none; a caller's list may repeat one)."""
        if self.ordered:
            return self[bisect_left(self.ids, case_id) : bisect_right(self.ids, case_id)]
        if case_id not in self.ids:  # most often: the case is new
            return ()
        return tuple(c for c in self if c.case_id == case_id)

    def position(self, case_id: str) -> int:
        """Where the (first) case with this reference is."""
        return bisect_left(self.ids, case_id) if self.ordered else self.ids.index(case_id)

    def ids_of(self, groups: list[Group]) -> tuple[str, ...]:
        """The cases of these groups, in the caseload's order."""
        if len(groups) == len(self.groups):
            return self.ids
        if len(groups) == 1:
            return groups[0].ids
        if self.ordered:
            return tuple(sorted(chain.from_iterable(g.ids for g in groups)))
        return tuple(case_id for case_id, _ in self.cases_of(groups))

    def cases_of(self, groups: list[Group]) -> Iterator[tuple[str, Group]]:
        """Each case of these groups with its group, in the caseload's order, made as read."""
        if self.ordered:
            runs = [zip(g.ids, repeat(g)) for g in groups]
            yield from merge(*runs, key=itemgetter(0))
            return
        by_kind = {_kind(g.case): g for g in groups}
        for case in self:
            group = by_kind.get(_kind(case))
            if group is not None:
                yield case.case_id, group

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """Validated as a list of cases; one already made is taken as it is."""
        made = core_schema.no_info_after_validator_function(
            cls, handler.generate_schema(tuple[Case, ...])
        )
        return core_schema.json_or_python_schema(
            json_schema=made,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), made]),
        )


@dataclass(frozen=True, slots=True, config=WIRE)
class Override:
    justification: Annotated[str, Field(min_length=10, max_length=1000)]
    approver_role: StaffRole


@dataclass(frozen=True, slots=True, config=WIRE)
class DecisionRequest:
    on: Day
    worker: Worker
    caseload: Caseload
    proposal: Case
    override: Override | None = None


@dataclass(frozen=True, slots=True, config=WIRE)
class CaseloadRequest:
    """For entitlements and breaches: a worker and what they hold on a date."""

    on: Day
    worker: Worker
    caseload: Caseload = Caseload()


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
