"""Each person's caseload version: moved on by the database itself whenever an allocation
of theirs or a case they hold (or held) changes, so that a caseload read once can be
trusted until it moves, whichever process or replica made the change.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOVE = "UPDATE people SET caseload_version = caseload_version + 1 WHERE id"
_HOLDERS = "SELECT person_id FROM allocations WHERE case_id = NEW.id"

_SQLITE = [
    f"CREATE TRIGGER caseload_allocation_added AFTER INSERT ON allocations"
    f" BEGIN {_MOVE} = NEW.person_id; END",
    f"CREATE TRIGGER caseload_allocation_changed AFTER UPDATE ON allocations"
    f" BEGIN {_MOVE} IN (OLD.person_id, NEW.person_id); END",
    f"CREATE TRIGGER caseload_allocation_removed AFTER DELETE ON allocations"
    f" BEGIN {_MOVE} = OLD.person_id; END",
    f"CREATE TRIGGER caseload_case_changed AFTER UPDATE ON cases BEGIN {_MOVE} IN ({_HOLDERS}); END",
]
_POSTGRESQL = [
    f"""CREATE FUNCTION caseload_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'cases' THEN
    {_MOVE} IN ({_HOLDERS});
  ELSIF TG_OP = 'INSERT' THEN
    {_MOVE} = NEW.person_id;
  ELSIF TG_OP = 'DELETE' THEN
    {_MOVE} = OLD.person_id;
  ELSE
    {_MOVE} IN (OLD.person_id, NEW.person_id);
  END IF;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER caseload_allocation_moved AFTER INSERT OR UPDATE OR DELETE ON allocations"
    " FOR EACH ROW EXECUTE FUNCTION caseload_moved()",
    "CREATE TRIGGER caseload_case_changed AFTER UPDATE ON cases"
    " FOR EACH ROW EXECUTE FUNCTION caseload_moved()",
]


def upgrade() -> None:
    op.add_column(
        "people",
        sa.Column("caseload_version", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_index("ix_allocations_case_id", "allocations", ["case_id"])
    dialect = op.get_bind().dialect.name
    for statement in _POSTGRESQL if dialect == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER caseload_case_changed ON cases")
        op.execute("DROP TRIGGER caseload_allocation_moved ON allocations")
        op.execute("DROP FUNCTION caseload_moved()")
    else:
        for name in ("added", "changed", "removed"):
            op.execute(f"DROP TRIGGER caseload_allocation_{name}")
        op.execute("DROP TRIGGER caseload_case_changed")
    op.drop_index("ix_allocations_case_id", "allocations")
    op.drop_column("people", "caseload_version")  # SQLite 3.35+ drops it in place
