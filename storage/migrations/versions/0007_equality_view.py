"""The equality view: which cohort attributes an organisation records (no row: off), and
each person's values.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "equality_views",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_equality_views_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_equality_views")),
    )
    op.create_table(
        "person_cohorts",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=80), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_person_cohorts_person_id_people")
        ),
        sa.PrimaryKeyConstraint("person_id", "attribute", name=op.f("pk_person_cohorts")),
    )


def downgrade() -> None:
    """Every organisation's equality view is off, and every cohort value is gone."""
    op.drop_table("person_cohorts")
    op.drop_table("equality_views")
