"""The weekly report's day per organisation (or none: switched off).

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_schedules",
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_report_schedules_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_report_schedules")),
    )


def downgrade() -> None:
    """Every organisation's weekly report goes back to Monday."""
    op.drop_table("report_schedules")
