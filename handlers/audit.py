"""The audit log's records: one frozen type per `AuditKind`, built here and nowhere else.

The chain is permanent, so every path that records the same kind of thing (chat, the
decision API, webhooks, the CSV import, the command line) writes the same keys. A record
becomes the canonical JSON that is hashed (`data()`) and is read back by `parse_record`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from handlers.ports import AuditKind, PersonRecord, Source
from policy import Case, Decision, Outcome, Override

JsonValue = str | int | float | bool | None | Sequence["JsonValue"] | Mapping[str, "JsonValue"]


class AuditRecord(BaseModel):
    """Base of the records; `kind` says which row type it is."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True)
    kind: ClassVar[AuditKind]

    def data(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = self.model_dump(mode="json", by_alias=True)
        return out


class OrganisationCreated(AuditRecord):
    kind = AuditKind.ORGANISATION_CREATED
    name: str
    policy: str
    version: str


class TokenCreated(AuditRecord):
    kind = AuditKind.TOKEN_CREATED
    token_id: int
    label: str


class TokenRevoked(AuditRecord):
    kind = AuditKind.TOKEN_REVOKED
    token_id: int
    label: str


class WebhookSecretSet(AuditRecord):
    """Never the secret: which one, and until when the one it replaced stays valid."""

    kind = AuditKind.WEBHOOK_SECRET_SET
    secret_id: int
    previous_valid_until: dt.datetime | None


class ReasonEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    rule: str
    clause: str
    effect: Outcome
    overridden: bool


class DecisionMade(AuditRecord):
    """The policy's answer to a proposal, with the figures it was given."""

    kind = AuditKind.DECISION
    worker: str
    case: str
    role: str
    on: dt.date
    source: Source
    outcome: Outcome
    overridden: bool
    policy: str
    policy_version: str
    month_of_practice: float
    children_after: int
    children_cap: float | None
    points_after: float
    points_cap: float | None
    reasons: tuple[ReasonEntry, ...]


class OverrideApproved(AuditRecord):
    """Rules set aside: by whom (`approver` is a person's ref when a person is known, as in
    chat; the API names only the role), in which role, and why."""

    kind = AuditKind.OVERRIDE
    worker: str
    case: str
    rules: tuple[str, ...]
    approver: str | None
    approver_role: str
    justification: str


class AllocationStarted(AuditRecord):
    """`policy_outcome` is what the policy said of the allocation when it started (None for a
    worker not on the ASYE); `blocking_rules` the rules that did not allow it; `overrides`
    the rules an approval set aside (which then allowed it)."""

    kind = AuditKind.ALLOCATION_STARTED
    worker: str
    case: str
    role: str
    from_: dt.date = Field(alias="from")
    source: Source
    policy_outcome: Outcome | None
    blocking_rules: tuple[str, ...]
    overrides: tuple[str, ...]


class AllocationEnded(AuditRecord):
    kind = AuditKind.ALLOCATION_ENDED
    worker: str
    case: str
    role: str
    to: dt.date
    source: Source
    reason: Literal["ended", "role_changed"]


class _BreachChange(AuditRecord):
    """A breach found or no longer found on `on`: the rule, its clause, the cases."""

    worker: str
    rule: str
    clause: str
    cases: tuple[str, ...]
    on: dt.date


class BreachOpened(_BreachChange):
    kind = AuditKind.BREACH_OPENED


class BreachResolved(_BreachChange):
    """`by` and `reason` when a person resolved it; both null when the caseload came back
    within policy."""

    kind = AuditKind.BREACH_RESOLVED
    by: str | None = None
    reason: str | None = None


class BreachAcknowledged(AuditRecord):
    """Someone said they are on it; the ladder goes on until it is resolved."""

    kind = AuditKind.BREACH_ACKNOWLEDGED
    worker: str
    rule: str
    cases: tuple[str, ...]
    by: str
    plan: str | None


class BreachEscalated(AuditRecord):
    """A step of the policy's ladder fired: the roles it told and the clause it follows."""

    kind = AuditKind.BREACH_ESCALATED
    worker: str
    rule: str
    cases: tuple[str, ...]
    step: int
    notify: tuple[str, ...]
    clause: str


class SupervisionRecorded(AuditRecord):
    kind = AuditKind.SUPERVISION_RECORDED
    worker: str
    on: dt.date
    source: Source


class DeliveryParked(AuditRecord):
    """A message that could not be delivered after its last attempt: ids, never its words."""

    kind = AuditKind.DELIVERY_PARKED
    message: int
    topic: str
    platform: str
    target: str
    attempts: int
    error: str


class ChannelLinked(AuditRecord):
    """A team's alerts now go to a chat channel: which team, where, and who said so."""

    kind = AuditKind.CHANNEL_LINKED
    team: str
    platform: str
    channel: str


class EqualityViewSet(AuditRecord):
    """The equality view switched on, changed or off (`attributes` empty): the attribute
    keys recorded, never a person's value, and how many stored values were erased."""

    kind = AuditKind.EQUALITY_VIEW_SET
    attributes: tuple[str, ...]
    values_erased: int


RECORDS: dict[AuditKind, type[AuditRecord]] = {
    record.kind: record
    for record in (
        OrganisationCreated,
        TokenCreated,
        TokenRevoked,
        WebhookSecretSet,
        DecisionMade,
        OverrideApproved,
        AllocationStarted,
        AllocationEnded,
        BreachOpened,
        BreachResolved,
        BreachAcknowledged,
        BreachEscalated,
        SupervisionRecorded,
        DeliveryParked,
        ChannelLinked,
        EqualityViewSet,
    )
}


def parse_record(kind: str, data: str | Mapping[str, Any]) -> AuditRecord:
    """A stored row's record again (`data` as stored: canonical JSON, or already parsed)."""
    model = RECORDS[AuditKind(kind)]
    return model.model_validate(json.loads(data) if isinstance(data, str) else data)


def field_names(kind: AuditKind) -> tuple[str, ...]:
    """The keys every row of this kind carries, in the record's order."""
    return tuple(f.alias or name for name, f in RECORDS[kind].model_fields.items())


# --- built from the use cases' values ----------------------------------------------------


def decision_made(
    person: PersonRecord, proposal: Case, on: dt.date, source: Source, decision: Decision
) -> DecisionMade:
    figures = decision.caseload
    return DecisionMade(
        worker=person.ref,
        case=proposal.case_id,
        role=proposal.role.value,
        on=on,
        source=source,
        outcome=decision.outcome,
        overridden=decision.overridden,
        policy=decision.policy_id,
        policy_version=decision.policy_version,
        month_of_practice=decision.month_of_practice,
        children_after=figures.children_after,
        children_cap=figures.children_cap,
        points_after=figures.points_after,
        points_cap=figures.points_cap,
        reasons=tuple(
            ReasonEntry(rule=r.rule, clause=r.clause, effect=r.effect, overridden=r.overridden)
            for r in decision.reasons
        ),
    )


def override_approved(
    person: PersonRecord,
    proposal: Case,
    decision: Decision,
    override: Override,
    approver: str | None,
) -> OverrideApproved:
    return OverrideApproved(
        worker=person.ref,
        case=proposal.case_id,
        rules=tuple(r.rule for r in decision.reasons if r.overridden),
        approver=approver,
        approver_role=override.approver_role.value,
        justification=override.justification,
    )


def blocking_rules(decision: Decision | None) -> tuple[str, ...]:
    """The rules that did not allow the decision (a rule an approval set aside allowed it:
    the allocation names it among its `overrides`)."""
    if decision is None:
        return ()
    return tuple(r.rule for r in decision.reasons if r.effect is not Outcome.ALLOW)
