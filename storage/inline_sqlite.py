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
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, Select
from sqlalchemy.sql.compiler import SQLCompiler

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


class Statement:
    """A Core statement compiled once for sqlite3: its SQL and its parameters in order with
    their bind processors (dates, timestamps, JSON go in as a session would send them).
    `column_keys`: the columns an INSERT or UPDATE sets."""

    __slots__ = ("_binds", "sql")

    def __init__(
        self, query: ClauseElement, dialect: Dialect, column_keys: list[str] | None = None
    ) -> None:
        compiled = cast(SQLCompiler, query.compile(dialect=dialect, column_keys=column_keys))
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

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        args = []
        for name, process, default in self._binds:
            value = params.get(name, default)
            args.append(value if process is None else process(value))
        return args

    def run(self, conn: sqlite3.Connection, params: Sequence[Mapping[str, Any]]) -> None:
        """Once per mapping in `params`, in one `executemany`."""
        args = [self.args(p) for p in params]
        with as_sqlalchemy(self.sql):
            conn.executemany(self.sql, args)


class Prepared(Statement):
    """A SELECT, whose rows come back as a session's `execute` gives them (its columns'
    result processors applied) in a named tuple with the same field names."""

    __slots__ = ("_results", "_row")

    def __init__(self, query: Select[Any], dialect: Dialect) -> None:
        super().__init__(query, dialect)
        columns = query.selected_columns
        processors = (c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        self._results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        self._row: Any = namedtuple("_row", columns.keys())  # type: ignore[misc]

    def rows(self, conn: sqlite3.Connection, params: Mapping[str, Any]) -> list[Any]:
        with as_sqlalchemy(self.sql):
            found = conn.execute(self.sql, self.args(params)).fetchall()
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


@contextmanager
def as_sqlalchemy(sql: str) -> Iterator[None]:
    """sqlite3's errors as SQLAlchemy raises them, for `storage.db.storage_errors`."""
    try:
        yield
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


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
