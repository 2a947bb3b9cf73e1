"""SQLite read transactions run on the event loop's own thread, without aiosqlite.

aiosqlite sends every call (cursor, execute, fetch, close) to its own thread and wakes the
loop when it is done: a few thread hand-offs per SELECT, which cost far more than a small
indexed SELECT does. In WAL mode a reader never waits for a writer, so `InlineConnection`
runs sqlite3 directly and each of its coroutines completes without suspending. It offers
what SQLAlchemy's aiosqlite adapter calls on an aiosqlite connection and cursor, and is only
ever used for reads: the connection is `query_only`, so a write raises instead of writing.

`InlineReads` goes one step further for the repositories' hot queries: each Core SELECT is
compiled once into SQL for sqlite3, and its rows are converted by the same SQLAlchemy type
processors a session would apply, without a statement execution around each.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select

READ_BUSY_TIMEOUT_MS = 100
"""Short on purpose: a reader waiting for SQLite's lock blocks the whole event loop. A WAL
reader only waits in rare moments (recovery after a crash, a journal mode change)."""


async def connect(path: Path) -> InlineConnection:
    """A read-only sqlite3 connection on `path`, configured as the writers' are."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in (
        f"busy_timeout = {READ_BUSY_TIMEOUT_MS}",
        "journal_mode = WAL",
        "foreign_keys = ON",
        "query_only = ON",
    ):
        conn.execute(f"PRAGMA {pragma}")
    return InlineConnection(conn)


class InlineCursor:
    """An aiosqlite-shaped cursor whose coroutines finish at once."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Self:
        return self

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, operation: str, parameters: Any = ()) -> Self:
        self._cursor.execute(operation, parameters)
        return self

    async def executemany(self, operation: str, parameters: Any) -> Self:
        self._cursor.executemany(operation, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """An aiosqlite-shaped connection whose coroutines finish at once."""

    __slots__ = ("_connection",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = conn
        """None once closed: the adapter then skips commit and rollback, as for aiosqlite."""

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for `InlineReads`."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    async def create_function(
        self, name: str, narg: int, func: Callable[..., Any], *, deterministic: bool = False
    ) -> None:
        self._conn.create_function(name, narg, func, deterministic=deterministic)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """What SQLAlchemy calls to terminate a connection it cannot close gracefully."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Prepared:
    """A Core SELECT compiled once for sqlite3: its SQL, its parameters in order with their
    bind processors, and its columns' result processors (dates, JSON, booleans come back as
    a session's `execute` gives them, in a named tuple with the same field names)."""

    __slots__ = ("_binds", "_results", "_row", "sql")

    def __init__(self, query: Select[Any], dialect: Dialect) -> None:
        compiled = query.compile(dialect=dialect)
        assert compiled.positiontup is not None, "sqlite3 takes positional parameters"
        self.sql = compiled.string
        binds = compiled.binds
        self._binds = tuple(
            (
                name,
                binds[name].type.dialect_impl(dialect).bind_processor(dialect),
                binds[name].effective_value,
            )
            for name in compiled.positiontup
        )
        columns = query.selected_columns
        processors = (c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        self._results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        self._row: Any = namedtuple("_row", columns.keys())  # type: ignore[misc]

    def rows(self, conn: sqlite3.Connection, params: Mapping[str, Any]) -> list[Any]:
        args = []
        for name, process, default in self._binds:
            value = params.get(name, default)
            args.append(value if process is None else process(value))
        try:
            found = conn.execute(self.sql, args).fetchall()
        except sqlite3.Error as exc:  # as SQLAlchemy would raise it, for `storage_errors`
            raise DBAPIError.instance(self.sql, args, exc, sqlite3.Error) from exc
        make, results = self._row._make, self._results
        if not results:
            return [make(r) for r in found]
        out = []
        for r in found:
            values = list(r)
            for i, process in results:
                values[i] = process(values[i])
            out.append(make(values))
        return out


class InlineReads:
    """Plain rows of prepared queries on one inline connection (see `storage.db.PlainReads`)."""

    __slots__ = ("_conn", "_dialect", "_prepared")

    def __init__(
        self, conn: InlineConnection, prepared: dict[Any, Prepared], dialect: Dialect
    ) -> None:
        self._conn = conn.sqlite
        self._prepared = prepared
        self._dialect = dialect

    async def rows(self, query: Select[Any], params: Mapping[str, Any]) -> list[Any]:
        prepared = self._prepared.get(query)
        if prepared is None:
            prepared = self._prepared[query] = Prepared(query, self._dialect)
        return prepared.rows(self._conn, params)
