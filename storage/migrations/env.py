"""Alembic environment: runs on the connection `storage.migrate` hands in.

`storage.migrate` configures Alembic in code (no alembic.ini), so `caseload-bot db upgrade`,
the server's `--migrate` and the tests all apply migrations the same way.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from storage.models import Base

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


_run(config.attributes["connection"])
