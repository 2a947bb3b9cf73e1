"""The repositories' hot statements, past the ORM session's execution machinery.

A session's statement costs a few hundred microseconds of Python before the database sees
it; an event's dozen statements made that most of an event's cost. `Plain` runs a Core
statement compiled once (per database) straight on the session's own driver connection,
in the session's transaction: sqlite3 on the loop's thread (`storage.inline_sqlite`), or
asyncpg's own prepared statements. Values go in and come out through the same SQLAlchemy
type processors a session would apply.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import Row
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.inline_sqlite import compiled, prepared

PLAIN = "caseload_plain"
"""Key in a session's `info` of its `Plain`, on the session's own connection."""


class Plain(Protocol):
    async def rows(self, query: Any, params: Mapping[str, Any]) -> Sequence[Any]:
        """The rows of a SELECT, or of a statement RETURNING rows."""
        ...

    async def run(self, statement: Any, params: Mapping[str, Any]) -> int:
        """An INSERT, UPDATE or DELETE (the columns it sets, and the bind parameters of its
        WHERE); the rows it changed."""
        ...

    async def run_many(self, statement: Any, params: Sequence[Mapping[str, Any]]) -> None:
        """`run` once per mapping (all with the same keys), sent together where the driver
        can (one round trip for a transaction's audit rows on PostgreSQL)."""
        ...


class CorePlain:
    """On a Core connection (in-memory SQLite, other drivers)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def rows(self, query: Any, params: Mapping[str, Any]) -> Sequence[Any]:
        found: Sequence[Any] = (await self._conn.execute(query, params)).all()
        return found

    async def run(self, statement: Any, params: Mapping[str, Any]) -> int:
        return cast(CursorResult[Any], await self._conn.execute(statement, params)).rowcount

    async def run_many(self, statement: Any, params: Sequence[Mapping[str, Any]]) -> None:
        for one in params:
            await self._conn.execute(statement, one)


class AsyncpgPlain:
    """On the session's asyncpg connection, as prepared statements (asyncpg keeps them)."""

    __slots__ = ("_conn", "_dialect", "_prepared")

    def __init__(self, conn: Any, prepared: dict[Any, Any], dialect: Dialect) -> None:
        self._conn = conn
        self._prepared = prepared
        self._dialect = dialect

    async def rows(self, query: Any, params: Mapping[str, Any]) -> Sequence[Any]:
        statement = prepared(self._prepared, query, params, self._dialect)
        with _asyncpg_errors(statement.sql):
            found = await self._conn.fetch(statement.sql, *statement.args(params))
        return statement.made(found)

    async def run(self, statement: Any, params: Mapping[str, Any]) -> int:
        found = compiled(self._prepared, statement, params, self._dialect)
        with _asyncpg_errors(found.sql):
            status: str = await self._conn.execute(found.sql, *found.args(params))
        return int(status.rsplit(" ", 1)[-1])

    async def run_many(self, statement: Any, params: Sequence[Mapping[str, Any]]) -> None:
        found = compiled(self._prepared, statement, params[0], self._dialect)
        with _asyncpg_errors(found.sql):
            await self._conn.executemany(found.sql, [found.args(one) for one in params])


_BUSY_STATES = {"40001", "40P01", "55P03", "57014"}
"""Serialization failure, deadlock, lock not available, statement timeout: try again."""


@contextmanager
def _asyncpg_errors(sql: str) -> Iterator[None]:
    """asyncpg's failures as SQLAlchemy raises them through its own adapter, for
    `storage.db.storage_errors` (a unique key two transactions raced to insert, a deadlock,
    a missing table, a lost connection)."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(sql, None, exc) from exc
    except asyncpg.UndefinedTableError as exc:
        raise ProgrammingError(sql, None, exc) from exc
    except asyncpg.PostgresError as exc:
        if exc.sqlstate in _BUSY_STATES:
            raise OperationalError(sql, None, exc) from exc
        raise
    except (asyncpg.InterfaceError, OSError) as exc:
        raise InterfaceError(sql, None, exc) from exc


async def plain_rows(session: AsyncSession, query: Any, **params: Any) -> Sequence[Row[Any]]:
    """Plain rows of a Core query (or of a statement RETURNING rows): no entities, no
    identity map, run on the session's `Plain`, past the session. Core statements skip the
    ORM's autoflush, so changes still pending in this session are flushed first. Build the
    query once, with bind parameters: it is compiled once."""
    await _flushed(session)
    plain: Plain | None = session.info.get(PLAIN)
    if plain is not None:
        return await plain.rows(query, params)
    return (await session.execute(query, params)).all()


async def plain_run(session: AsyncSession, statement: Any, params: Mapping[str, Any]) -> int:
    """An INSERT, UPDATE or DELETE built once, on the session's `Plain`; the rows it changed."""
    await _flushed(session)
    plain: Plain | None = session.info.get(PLAIN)
    if plain is not None:
        return await plain.run(statement, params)
    return cast(CursorResult[Any], await session.execute(statement, params)).rowcount


async def plain_run_many(
    session: AsyncSession, statement: Any, params: Sequence[Mapping[str, Any]]
) -> None:
    """`plain_run` once per mapping (each with the same keys), sent together where the
    driver can."""
    await _flushed(session)
    plain: Plain | None = session.info.get(PLAIN)
    if plain is not None:
        await plain.run_many(statement, params)
        return
    for one in params:
        await session.execute(statement, one)


async def _flushed(session: AsyncSession) -> None:
    if session.new or session.dirty or session.deleted:
        await session.flush()
