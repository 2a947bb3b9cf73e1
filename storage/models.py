"""The tables. Facts about a case are limited to what the policy needs: a reference, a work
type, a count of children, flags and whether it is external. There is no column for a
child's name, address, date of birth or any free text from a case.

Every entity fed by events keeps `occurred_at`, the time of the event that last changed it,
so an older event arriving late never overwrites newer state.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from policy import Breach

Ref = String(64)
Code = String(80)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite keeps no zone itself)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


UNRESOLVED = "status IN ('open', 'acknowledged')"
"""The breaches still to act on: at most one of them per (person, rule)."""


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[str] = mapped_column(Ref, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    policy_id: Mapped[str] = mapped_column(Code)
    policy_version: Mapped[str] = mapped_column(Code)
    policy_source: Mapped[str] = mapped_column(String(300))
    """The preset or file name the policy came from (used to resolve `extends:`)."""
    policy_yaml: Mapped[str] = mapped_column(Text)
    """The policy text in force, so every decision can be reproduced and audited."""
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("org_id", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    ref: Mapped[str] = mapped_column(Ref)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(Code)
    slack_channel_id: Mapped[str | None] = mapped_column(Ref)
    teams_channel_id: Mapped[str | None] = mapped_column(String(200))
    web_channel_id: Mapped[str | None] = mapped_column(Ref)
    """The try-out page's channel (demo mode only)."""
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Person(Base):
    """A member of staff (never a child): their name may be kept."""

    __tablename__ = "people"
    __table_args__ = (UniqueConstraint("org_id", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    ref: Mapped[str] = mapped_column(Ref)
    display_name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    caseload_version: Mapped[int] = mapped_column(Integer, server_default="0")
    """Moved on by the database's own triggers whenever the person's caseload may have
    changed (migration 0008): a caseload kept in memory is good while this stands still."""


class PersonRole(Base):
    __tablename__ = "person_roles"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)


class AsyeRecord(Base):
    __tablename__ = "asye_records"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    fte: Mapped[float] = mapped_column(Float, default=1.0)
    assessor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AsyePause(Base):
    __tablename__ = "asye_pauses"
    __table_args__ = (UniqueConstraint("person_id", "from_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    from_date: Mapped[dt.date] = mapped_column(Date)
    to_date: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Code)
    """A reason code (e.g. `sickness`), never free text."""
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AsyeReview(Base):
    __tablename__ = "asye_reviews"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    on: Mapped[dt.date] = mapped_column(Date)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AsyeAgreement(Base):
    __tablename__ = "asye_agreements"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    agreement: Mapped[str] = mapped_column(Code, primary_key=True)
    on: Mapped[dt.date] = mapped_column(Date)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ChatIdentity(Base):
    """Slack: tenant = workspace (team) id; Teams: tenant id and the AAD object id."""

    __tablename__ = "chat_identities"
    __table_args__ = (UniqueConstraint("platform", "tenant", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    platform: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(Ref)
    user_id: Mapped[str] = mapped_column(Ref)


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("org_id", "ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    ref: Mapped[str] = mapped_column(Ref)
    work_type: Mapped[str] = mapped_column(Code)
    children: Mapped[int] = mapped_column(Integer)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Allocation(Base):
    """A worker holds a case from `from_date` until the day before `to_date` (None: still)."""

    __tablename__ = "allocations"
    __table_args__ = (
        Index(
            "uq_allocations_open",
            "case_id",
            "person_id",
            unique=True,
            sqlite_where=text("to_date IS NULL"),
            postgresql_where=text("to_date IS NULL"),
        ),
        Index("ix_allocations_person_id", "person_id"),
        Index("ix_allocations_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    role: Mapped[str] = mapped_column(String(16))
    from_date: Mapped[dt.date] = mapped_column(Date)
    to_date: Mapped[dt.date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(16))
    overrides: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Rule ids set aside when the allocation was made, so breaches respect them."""
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class BreachRow(Base):
    """A breach and its lifecycle: open, acknowledged (someone is on it), resolved (by the
    caseload coming back within policy, or by a person with a reason)."""

    __tablename__ = "breaches"
    __table_args__ = (
        Index(
            "uq_breaches_unresolved",
            "person_id",
            "rule_id",
            unique=True,
            sqlite_where=text(UNRESOLVED),
            postgresql_where=text(UNRESOLVED),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    rule_id: Mapped[str] = mapped_column(Code)
    clause: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(String(500))
    detail: Mapped[str] = mapped_column(String(500))
    remedy: Mapped[str] = mapped_column(String(500))
    case_refs: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    plan: Mapped[str | None] = mapped_column(String(500))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    """None when the caseload came back within policy; a person when they resolved it."""
    resolution: Mapped[str | None] = mapped_column(String(500))
    escalated_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @classmethod
    def opened(cls, org_id: str, person_id: int, breach: Breach, at: dt.datetime) -> BreachRow:
        return cls(**opened_breach(org_id, person_id, breach, at))


def opened_breach(org_id: str, person_id: int, breach: Breach, at: dt.datetime) -> dict[str, Any]:
    """A breach just found, as its row's values: open, not yet escalated."""
    return {
        "org_id": org_id,
        "person_id": person_id,
        "rule_id": breach.rule,
        "clause": breach.clause,
        "summary": breach.summary,
        "detail": breach.detail,
        "remedy": breach.remedy,
        "case_refs": list(breach.case_ids),
        "status": "open",
        "opened_at": at,
        "escalated_step": 0,
    }


class WebhookReceipt(Base):
    """Each `webhook-id` an organisation's case system sent, so a redelivery is acknowledged
    and changes nothing; ids are the sender's, so they are unique only within one sender."""

    __tablename__ = "webhook_receipts"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    event_type: Mapped[str] = mapped_column(Code)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """Only the SHA-256 of a token is kept; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class WebhookSecret(Base):
    """An organisation's own Standard Webhooks secret. It must be kept as it is (a receiver
    computes the HMAC with it), so the database is as sensitive as the environment."""

    __tablename__ = "webhook_secrets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), index=True)
    secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    """None while it is the current secret; set when a newer one replaces it."""


class AuditEntry(Base):
    """One row of an organisation's hash chain; `data` is the canonical JSON that was hashed."""

    __tablename__ = "audit_log"
    __table_args__ = (UniqueConstraint("org_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The last row of each chain: detects removal at the end and serialises appends."""

    __tablename__ = "audit_heads"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class ChatChannel(Base):
    """A channel the bot is installed in, with the platform's conversation reference (where
    and how to post unasked). Teams: tenant id and channel id; the team is Teams' own id."""

    __tablename__ = "chat_channels"
    __table_args__ = (UniqueConstraint("platform", "tenant", "channel_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(Ref)
    channel_id: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class OutboxRow(Base):
    """A message written in the transaction that caused it and delivered after it commits
    (see `storage.outbox`). `lease_until`/`leased_by`: the delivery worker sending it now;
    a lease that ran out is free to take again."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("org_id", "key"),
        Index("ix_outbox_status_due_at", "status", "due_at"),
        Index("ix_outbox_breach_id", "breach_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"))
    key: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(Code)
    breach_id: Mapped[int | None] = mapped_column(ForeignKey("breaches.id"))
    platform: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str] = mapped_column(Ref)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    leased_by: Mapped[str | None] = mapped_column(String(200))
    edits: Mapped[str | None] = mapped_column(String(200))
    posted_conversation: Mapped[str | None] = mapped_column(String(200))
    posted_message: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Supervision(Base):
    """A supervision session a worker had (the date only: what was said is not kept)."""

    __tablename__ = "supervisions"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    on: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class JobRun(Base):
    """A job that ran once between all replicas: the first insert of (job, key) wins."""

    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(Code, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ReportSchedule(Base):
    """The weekday the organisation's weekly report is posted on (0 Monday … 6 Sunday), or
    none when switched off. No row: Monday. Kept apart from `organisations`, whose rows
    are never changed once created (their reads are cached)."""

    __tablename__ = "report_schedules"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    weekday: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class EqualityView(Base):
    """The cohort attributes the organisation records for the equality view. No row: the
    view is off, and no cohort value of its people may be stored."""

    __tablename__ = "equality_views"

    org_id: Mapped[str] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    attributes: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class PersonCohort(Base):
    """One cohort attribute of a person (special-category data: shown only in aggregate).
    A row without a value records when the value was removed, so that an older event
    arriving late does not bring it back."""

    __tablename__ = "person_cohorts"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), primary_key=True)
    attribute: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(80))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
