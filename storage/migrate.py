"""Applies the Alembic migrations shipped in `storage/migrations`, configured in code."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from storage.db import WRITING, Database, storage_errors

SCRIPTS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
"""Alembic's default, which `env.py` keeps."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts, bound to `connection`."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


async def upgrade_database(db: Database, revision: str = "head") -> None:
    with storage_errors():
        async with db.engine.execution_options(**WRITING).begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def current(db: Database) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with storage_errors():
        async with db.engine.connect() as conn:
            return await conn.run_sync(_current)


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """This release's newest revision: what the database must be at to serve it."""
    revision = _scripts().get_current_head()
    assert revision is not None, "the release ships its migrations"
    return revision


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where the database's migrations stand against this release's (readiness)."""

    current: str | None
    head: str
    ahead: bool
    """The database is at a revision this release does not know: a newer release migrated it."""

    @property
    def ready(self) -> bool:
        return self.current == self.head


async def schema_state(db: Database) -> SchemaState:
    """Raises `StorageError` when the database cannot be reached."""
    at = await current(db)
    return SchemaState(at, head(), ahead=at is not None and at not in _known())


@cache
def _known() -> frozenset[str]:
    return frozenset(script.revision for script in _scripts().walk_revisions())


def _current(connection: Connection) -> str | None:
    """Alembic's version table read as it is: its `MigrationContext` would log two INFO
    lines each time, and readiness probes ask every few seconds."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    found = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    return None if found is None else str(found)
