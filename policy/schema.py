"""What a policy file may say: validated, frozen pydantic models.

Every key is closed (`extra="forbid"`) so that a typo in a council's file is an error
that names the key, never a rule that silently does nothing.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Role(StrEnum):
    """Where a worker stands on a case."""

    LEAD = "lead"
    CO_WORK = "co_work"


class Outcome(StrEnum):
    """The answer to an allocation request, from least to most restrictive."""

    ALLOW = "allow"
    CO_WORK = "co_work"
    DENY = "deny"


RESTRICTIVENESS: dict[Outcome, int] = {Outcome.ALLOW: 0, Outcome.CO_WORK: 1, Outcome.DENY: 2}


class StaffRole(StrEnum):
    """Roles the organisation gives people; used for overrides and escalation."""

    NQSW = "nqsw"
    SOCIAL_WORKER = "social_worker"
    ADVANCED_PRACTITIONER = "advanced_practitioner"
    TEAM_MANAGER = "team_manager"
    ASYE_LEAD = "asye_lead"
    ASSESSOR = "assessor"
    PRINCIPAL_SOCIAL_WORKER = "principal_social_worker"
    SERVICE_MANAGER = "service_manager"
    HEAD_OF_SERVICE = "head_of_service"
    ADMIN = "admin"


Id = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]*$", max_length=80)]
Text = Annotated[str, Field(min_length=1, max_length=500)]


_REQUIREMENT_KEYS = ("months", "review", "agreement", "all", "any", "never")


class Requirement(Frozen):
    """A milestone expression: exactly one of its keys.

    `months`: months of practice reached; `review`: the month-N review passed;
    `agreement`: an agreement recorded; `all` / `any`: combinations; `never: true`: a role
    the policy does not open at any point of the programme.
    """

    months: Annotated[float, Field(ge=0, le=60)] | None = None
    review: Annotated[int, Field(ge=1, le=60)] | None = None
    agreement: Id | None = None
    all: tuple[Requirement, ...] | None = None
    any: tuple[Requirement, ...] | None = None
    never: Literal[True] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Requirement:
        given = [k for k in _REQUIREMENT_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a requirement has exactly one of months, review, agreement, all, any, never"
                f" (got {', '.join(given) or 'none'})"
            )
        return self


class Selector(Frozen):
    """Which cases a rule speaks about."""

    work_types: tuple[Id, ...] | None = None
    flags_any: tuple[Id, ...] = ()
    flags_none: tuple[Id, ...] = ()
    external: bool | None = None


class Override(Frozen):
    """Who may set a rule aside for one allocation, with a written justification."""

    by: tuple[StaffRole, ...] = Field(min_length=1)
    clause: Text | None = None


class Cited(Frozen):
    """Every rule says where it comes from and what it means in one sentence."""

    id: Id
    clause: Text
    summary: Text


class RoleConditions(Frozen):
    lead: tuple[Text, ...] = ()
    co_work: tuple[Text, ...] = ()


class Gate(Cited):
    """When a kind of work opens to the NQSW, as lead and as co-worker.

    A role with no requirement is open. A lead request whose lead gate is shut but whose
    co-work gate is open answers `co_work`.
    """

    applies_to: Selector
    lead: Requirement | None = None
    co_work: Requirement | None = None
    conditions: RoleConditions = RoleConditions()
    override: Override | None = None
    remedy: Text | None = None


class Phase(Frozen):
    """A cap in force from a milestone on; the last phase whose milestone is met applies.

    A phase's own `override` replaces the cap's, for a limit that is firm in one phase
    and may be agreed away in another.
    """

    from_: Requirement | None = Field(default=None, alias="from")
    max: Annotated[float, Field(ge=0)] | None = None
    relative: Annotated[float, Field(gt=0, le=1)] | None = None
    override: Override | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _one_limit(self) -> Phase:
        if (self.max is None) == (self.relative is None):
            raise ValueError("a phase has exactly one of max (a number) or relative (a fraction)")
        return self


class Weights(Frozen):
    """Points per case by work type, adjusted by flags and for external cases."""

    work_types: dict[Id, float]
    flags: dict[Id, float] = {}
    external: float = 0.0
    default: float | None = None


class Cap(Cited):
    co_work_counts: bool = False
    phases: tuple[Phase, ...] = Field(min_length=1)
    override: Override | None = None
    remedy: Text | None = None

    @model_validator(mode="after")
    def _first_phase_open(self) -> Cap:
        if self.phases[0].from_ is not None:
            raise ValueError("the first phase has no `from`: it is the cap from day one")
        return self


class PointsCap(Cap):
    weights: Weights


class Caps(Frozen):
    children: Cap | None = None
    points: PointsCap | None = None


class Limit(Cited):
    """At most `max_cases` cases of a kind at once (e.g. two external cases in the year)."""

    applies_to: Selector
    max_cases: Annotated[int, Field(ge=0)]
    co_work_counts: bool = True
    override: Override | None = None
    remedy: Text | None = None


class TeamLimit(Cited):
    """At most `max_nqsws` NQSWs in their ASYE year in one team at once: in the teams of the
    kinds named (the `kind` a `team.upserted` event gives), or in every team when none is.
    Where several apply, a limit naming the team's kind wins over a general one, and the
    smaller wins among equals. Reported, not enforced: allocation is not what breaks it."""

    team_kinds: tuple[Id, ...] = ()
    max_nqsws: Annotated[int, Field(ge=0)]


class Reference(Frozen):
    """A confident worker's caseload, for caps stated as a fraction of it."""

    children: Annotated[float, Field(gt=0)] | None = None
    points: Annotated[float, Field(gt=0)] | None = None
    clause: Text | None = None


class Programme(Frozen):
    months_full_time: Annotated[int, Field(ge=1, le=60)] = 12
    months_part_time: Annotated[int, Field(ge=1, le=60)] | None = None
    max_months: Annotated[int, Field(ge=1, le=60)] | None = None
    gates_scale_with_fte: bool = False
    clause: Text | None = None


class Source(Frozen):
    title: Text
    date: Text
    seed: Text | None = None


class Vocabulary(Frozen):
    id: Id
    name: Text


class Reviews(Frozen):
    months: tuple[Annotated[int, Field(ge=1, le=60)], ...]
    part_time_every_months: Annotated[int, Field(ge=1, le=12)] | None = None
    clause: Text
    summary: Text


class Period(Frozen):
    """A span of the programme measured from the ASYE start."""

    weeks: Annotated[int, Field(ge=1, le=260)] | None = None
    months: Annotated[int, Field(ge=1, le=60)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Period:
        if (self.weeks is None) == (self.months is None):
            raise ValueError("a period has exactly one of weeks or months")
        return self


class SupervisionBand(Frozen):
    until: Period | None = None
    frequency: Literal["weekly", "fortnightly", "three_weekly", "monthly", "six_weekly"]


class Supervision(Frozen):
    bands: tuple[SupervisionBand, ...] = Field(min_length=1)
    clause: Text
    summary: Text


class ExternalCases(Frozen):
    """Where the ASYE includes work with another team: by when a first external case should
    be found, so that the NQSW and their assessor are reminded if none has been."""

    identified_by_month: Annotated[int, Field(ge=1, le=60)]
    clause: Text
    summary: Text


class Wait(Frozen):
    """How long after the breach opened a step falls due: cumulative, measured from the
    opening and not from the step before (`policy.calendar.after_wait`). Working days skip
    weekends and England and Wales bank holidays; either kind is then posted in working
    hours only."""

    working_days: Annotated[int, Field(ge=0, le=365)] | None = None
    calendar_days: Annotated[int, Field(ge=0, le=365)] | None = None

    @model_validator(mode="after")
    def _one(self) -> Wait:
        if (self.working_days is None) == (self.calendar_days is None):
            raise ValueError("a wait has exactly one of working_days or calendar_days")
        return self


class EscalationStep(Frozen):
    """Who is told once a breach has stayed open for `wait` since it opened (every step's
    wait counts from the opening, so step 2 of 14 days after step 1 of 0 is two weeks in)."""

    step: Annotated[int, Field(ge=1)]
    wait: Wait
    notify: tuple[StaffRole, ...] = Field(min_length=1)
    clause: Text


class Escalation(Frozen):
    ladder: tuple[EscalationStep, ...] = Field(min_length=1)
    summary: Text


class PolicyFile(Frozen):
    """One council's rules, versioned."""

    id: Id
    version: Annotated[str, Field(min_length=1, max_length=40)]
    effective_from: dt.date
    name: Text
    source: Source
    programme: Programme = Programme()
    work_types: tuple[Vocabulary, ...] = Field(min_length=1)
    flags: tuple[Vocabulary, ...] = ()
    agreements: tuple[Vocabulary, ...] = ()
    reference_caseload: Reference | None = None
    gates: tuple[Gate, ...] = ()
    caps: Caps = Caps()
    limits: tuple[Limit, ...] = ()
    team_limits: tuple[TeamLimit, ...] = ()
    reviews: Reviews | None = None
    supervision: Supervision | None = None
    escalation: Escalation | None = None
    external_cases: ExternalCases | None = None
    notes: tuple[Text, ...] = ()
