"""A SQLite file's statements run on the event loop's own thread, without aiosqlite.

aiosqlite sends every call (cursor, execute, fetch, close) to its own thread and wakes the
loop when it is done: a few thread hand-offs per statement, which cost far more than a small
indexed statement does. In WAL mode a reader never waits for a writer, and this process's
writers take turns in its write queue, so `InlineConnection` runs sqlite3 directly and each
of its coroutines completes without suspending, except a writer's `BEGIN IMMEDIATE` while
another process holds the write lock (it waits on the loop's timers). A writer's COMMIT
syncs the disk on the loop's thread: a fraction of a millisecond on an SSD, where a worker
thread would wait for the GIL (5 ms turns) while the loop is busy. It offers what
SQLAlchemy's aiosqlite adapter calls on an aiosqlite connection and cursor. Readers'
connections are `query_only`, so a write there raises instead of writing.

`InlinePlain` goes one step further for the repositories' hot statements: each is
compiled once into SQL for sqlite3, and its rows are converted by the same SQLAlchemy type
processors a session would apply, without a statement execution around each.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.sql import ClauseElement
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


class Turnstile:
    """Turns at a SQLite file's write lock between processes. SQLite's lock is not fair: a
    process writing transaction after transaction (an import) leaves another process's
    writer (the server's answer to someone in chat) only the instants between them. So a
    writer refused the lock says it is waiting, in a file beside the database, and the
    writers of other processes let it in before they begin again (for `YIELD_S` at most).
    A waiting writer refreshes the file as it polls: one left by a process that died is
    ignored once `STALE_S` old."""

    POLL_S = 0.002
    YIELD_S = 0.2
    STALE_S = 1.0

    def __init__(self, database: Path) -> None:
        self._flag = database.with_name(database.name + "-waiting")

    def someone_waits(self) -> bool:
        try:
            return self._flag.stat().st_mtime > time.time() - self.STALE_S
        except OSError:
            return False

    def wait(self) -> None:
        self._flag.touch()

    def done(self) -> None:
        self._flag.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class Writes:
    """What a writer's connection does beyond a reader's."""

    busy_timeout_ms: int
    """How long `BEGIN IMMEDIATE` waits for another process's write lock, on the loop's
    timers (sqlite3's own busy timeout would sleep on the loop's thread)."""
    committed: Callable[[], None]
    """Called after each commit, on the loop (to schedule WAL checkpoints off it)."""
    turnstile: Turnstile


DURABLE = ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON")
"""Every writer's pragmas: a commit reaches the disk (the WAL is synced) before it returns,
so what was answered as accepted survives a power cut, not only a crash of the process."""


async def connect_writer(path: Path, writes: Writes) -> InlineConnection:
    """A writable sqlite3 connection on `path` whose statements run on the loop's thread
    (the write queue lets one transaction at a time use it). It never checkpoints the WAL
    itself: a checkpoint's many writes and syncs would run on the loop; `writes.committed`
    schedules them in a thread."""
    return InlineConnection(writer_connection(path), writes)


def writer_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("busy_timeout = 0", *DURABLE, "wal_autocheckpoint = 0"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


async def begin_immediate(
    conn: sqlite3.Connection | sqlite3.Cursor, busy_timeout_ms: int, turnstile: Turnstile
) -> None:
    """`BEGIN IMMEDIATE` without blocking the loop: after a writer of another process that
    waits (`Turnstile`), then tried every `Turnstile.POLL_S` until `busy_timeout_ms` have
    passed while another process holds the lock."""
    started = time.monotonic()
    while turnstile.someone_waits() and time.monotonic() - started < turnstile.YIELD_S:
        await asyncio.sleep(turnstile.POLL_S)
    deadline = time.monotonic() + busy_timeout_ms / 1000
    waiting = False
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
            turnstile.wait()
            waiting = True
            await asyncio.sleep(turnstile.POLL_S)
    finally:
        if waiting:
            turnstile.done()


class InlineCursor:
    """An aiosqlite-shaped cursor whose coroutines finish at once (but a writer's `BEGIN
    IMMEDIATE` while another process writes)."""

    __slots__ = ("_cursor", "_writes")

    def __init__(self, cursor: sqlite3.Cursor, writes: Writes | None = None) -> None:
        self._cursor = cursor
        self._writes = writes

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
        if self._writes is not None and operation == "BEGIN IMMEDIATE":
            await begin_immediate(
                self._cursor, self._writes.busy_timeout_ms, self._writes.turnstile
            )
        else:
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
    """An aiosqlite-shaped connection whose coroutines finish at once (see
    `connect_writer` for a writer's)."""

    __slots__ = ("_connection", "_writes")

    def __init__(self, conn: sqlite3.Connection, writes: Writes | None = None) -> None:
        self._connection: sqlite3.Connection | None = conn
        """None once closed: the adapter then skips commit and rollback, as for aiosqlite."""
        self._writes = writes

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for `InlinePlain`."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor(), self._writes)

    async def create_function(
        self, name: str, narg: int, func: Callable[..., Any], *, deterministic: bool = False
    ) -> None:
        self._conn.create_function(name, narg, func, deterministic=deterministic)

    async def commit(self) -> None:
        committing = self._writes is not None and self._conn.in_transaction
        self._conn.commit()
        if committing:
            assert self._writes is not None
            self._writes.committed()

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

    def run(self, conn: sqlite3.Connection, params: Sequence[Mapping[str, Any]]) -> int:
        """Once per mapping in `params`, in one `executemany`; the rows it changed."""
        args = [self.args(p) for p in params]
        with as_sqlalchemy(self.sql):
            return conn.executemany(self.sql, args).rowcount


class Prepared(Statement):
    """A SELECT (or a statement RETURNING rows), whose rows come back as a session's
    `execute` gives them (its columns' result processors applied) in a named tuple with
    the same field names."""

    __slots__ = ("_results", "_row")

    def __init__(self, query: Any, dialect: Dialect, column_keys: list[str] | None = None) -> None:
        super().__init__(query, dialect, column_keys)
        columns = query.exported_columns
        processors = (_result_processor(c.type, dialect) for c in columns)
        self._results = tuple((i, p) for i, p in enumerate(processors) if p is not None)
        self._row: Any = namedtuple("_row", columns.keys())  # type: ignore[misc]

    def rows(self, conn: sqlite3.Connection, params: Mapping[str, Any]) -> list[Any]:
        with as_sqlalchemy(self.sql):
            found = conn.execute(self.sql, self.args(params)).fetchall()
        return self.made(found)

    def made(self, found: Sequence[Sequence[Any]]) -> list[Any]:
        """The driver's rows as named tuples of processed values."""
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


def _result_processor(kind: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The type's result processor, when it has one without knowing the driver's type code.
    Those that need it (asyncpg's numbers) have nothing to do: asyncpg returns Python's."""
    try:
        processor: Callable[[Any], Any] | None = kind.dialect_impl(dialect).result_processor(
            dialect, None
        )
    except (TypeError, InvalidRequestError):
        return None
    return processor


def compiled(
    cache: dict[Any, Any], statement: Any, params: Mapping[str, Any], dialect: Dialect
) -> Statement:
    """An INSERT, UPDATE or DELETE compiled once for the columns and parameters it is given."""
    key = (statement, tuple(params))
    found = cache.get(key)
    if found is None:
        found = cache[key] = Statement(statement, dialect, list(params))
    return cast(Statement, found)


def prepared(
    cache: dict[Any, Any], query: Any, params: Mapping[str, Any], dialect: Dialect
) -> Prepared:
    """`query` compiled once: a SELECT for any parameters, an INSERT (or UPDATE) RETURNING
    rows for the columns it is given."""
    key = (query, tuple(params)) if query.is_dml else query
    found = cache.get(key)
    if found is None:
        found = cache[key] = Prepared(query, dialect, list(params) if query.is_dml else None)
    return cast(Prepared, found)


@contextmanager
def as_sqlalchemy(sql: str) -> Iterator[None]:
    """sqlite3's errors as SQLAlchemy raises them, for `storage.db.storage_errors`."""
    try:
        yield
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


class InlinePlain:
    """Prepared statements on one inline connection (see `storage.plain.Plain`)."""

    __slots__ = ("_conn", "_dialect", "_prepared")

    def __init__(self, conn: InlineConnection, prepared: dict[Any, Any], dialect: Dialect) -> None:
        self._conn = conn.sqlite
        self._prepared = prepared
        self._dialect = dialect

    async def rows(self, query: Any, params: Mapping[str, Any]) -> list[Any]:
        return prepared(self._prepared, query, params, self._dialect).rows(self._conn, params)

    async def run(self, statement: Any, params: Mapping[str, Any]) -> int:
        return compiled(self._prepared, statement, params, self._dialect).run(self._conn, [params])

    async def run_many(self, statement: Any, params: Sequence[Mapping[str, Any]]) -> None:
        compiled(self._prepared, statement, params[0], self._dialect).run(self._conn, params)
