"""Per-organisation webhook secrets and delivery ids, token last use; no time zone per
organisation (every date is a Europe/London calendar date).

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Never a batch (copy-and-rename) of `organisations`: with SQLite's foreign keys on, dropping
    # the table every other table refers to fails once any row refers to it. SQLite 3.35 and
    # later drop a column in place.
    op.drop_column("organisations", "time_zone")
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("webhook_receipts", recreate="always") as batch:
        batch.drop_constraint("pk_webhook_receipts", type_="primary")
        batch.create_primary_key("pk_webhook_receipts", ["org_id", "webhook_id"])
    op.create_table(
        "webhook_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organisations.id"], name=op.f("fk_webhook_secrets_org_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_secrets")),
    )
    op.create_index(op.f("ix_webhook_secrets_org_id"), "webhook_secrets", ["org_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_secrets_org_id"), table_name="webhook_secrets")
    op.drop_table("webhook_secrets")
    with op.batch_alter_table("webhook_receipts", recreate="always") as batch:
        batch.drop_constraint("pk_webhook_receipts", type_="primary")
        batch.create_primary_key("pk_webhook_receipts", ["webhook_id"])
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_at")
    op.add_column(
        "organisations",
        sa.Column(
            "time_zone", sa.String(length=64), nullable=False, server_default="Europe/London"
        ),
    )
