"""Breaches can be acknowledged, resolved by a person with a reason, and escalated step by
step; alerts wait in an outbox until the transaction that wrote them commits; supervision
dates, and jobs that must run once between replicas.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status = 'open'"
UNRESOLVED = "status IN ('open', 'acknowledged')"


def _one_per_rule(name: str, where: str) -> None:
    """At most one breach per (person, rule) matching `where` (the index is partial)."""
    op.create_index(
        name,
        "breaches",
        ["person_id", "rule_id"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    # Dropped first: SQLite's batch mode rebuilds the table and would copy the index
    # without its WHERE clause.
    op.drop_index("uq_breaches_open", table_name="breaches")
    with op.batch_alter_table("breaches") as batch:
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("acknowledged_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("plan", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("resolved_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("resolution", sa.String(length=500), nullable=True))
        batch.add_column(
            sa.Column("escalated_step", sa.Integer(), server_default="0", nullable=False)
        )
        batch.create_foreign_key(
            op.f("fk_breaches_acknowledged_by_people"), "people", ["acknowledged_by"], ["id"]
        )
        batch.create_foreign_key(
            op.f("fk_breaches_resolved_by_people"), "people", ["resolved_by"], ["id"]
        )
    _one_per_rule("uq_breaches_unresolved", UNRESOLVED)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.String(length=80), nullable=False),
        sa.Column("breach_id", sa.Integer(), nullable=True),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("tenant", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=200), nullable=True),
        sa.Column("edits", sa.String(length=200), nullable=True),
        sa.Column("posted_conversation", sa.String(length=200), nullable=True),
        sa.Column("posted_message", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_outbox_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["breach_id"], ["breaches.id"], name=op.f("fk_outbox_breach_id_breaches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("org_id", "key", name=op.f("uq_outbox_org_id_key")),
    )
    op.create_index("ix_outbox_status_due_at", "outbox", ["status", "due_at"])
    op.create_index("ix_outbox_breach_id", "outbox", ["breach_id"])

    op.create_table(
        "supervisions",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_supervisions_person_id_people")
        ),
        sa.PrimaryKeyConstraint("person_id", "on", name=op.f("pk_supervisions")),
    )
    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", "key", name=op.f("pk_job_runs")),
    )


def downgrade() -> None:
    """Acknowledged breaches become open again (still unresolved); who resolved a breach
    and why, plans and escalation steps are lost with their columns."""
    op.drop_table("job_runs")
    op.drop_table("supervisions")
    op.drop_index("ix_outbox_breach_id", table_name="outbox")
    op.drop_index("ix_outbox_status_due_at", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("uq_breaches_unresolved", table_name="breaches")
    op.execute("UPDATE breaches SET status = 'open' WHERE status = 'acknowledged'")
    with op.batch_alter_table("breaches") as batch:
        batch.drop_constraint(op.f("fk_breaches_resolved_by_people"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_breaches_acknowledged_by_people"), type_="foreignkey")
        batch.drop_column("escalated_step")
        batch.drop_column("resolution")
        batch.drop_column("resolved_by")
        batch.drop_column("plan")
        batch.drop_column("acknowledged_by")
        batch.drop_column("acknowledged_at")
    _one_per_rule("uq_breaches_open", OPEN)
