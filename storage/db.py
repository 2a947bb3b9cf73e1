"""Engine and sessions for SQLite (embedded default) and PostgreSQL (scaled out).

The same code runs on both. Writers are serialised where it matters: on SQLite every
write transaction starts with `BEGIN IMMEDIATE` (the database write lock, waited for up
to the busy timeout); on PostgreSQL the repositories lock the rows they depend on. A
SQLite file's read transactions run sqlite3 on the event loop's thread (see
`storage.inline_sqlite`); its writers go through aiosqlite's thread, except the audit's
group commit (`SqliteWriter`). Read transactions run the repositories' hot queries as
`PlainReads`, past the ORM session, on the session's own connection.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql import Select

from handlers.errors import Busy, SchemaMissing, Unreachable
from storage import inline_sqlite

log = logging.getLogger("caseload_bot.storage")

_WRITE = "caseload_write"
"""Execution option marking connections of write transactions (SQLite takes the lock)."""


class Turns(Protocol):
    def turn(self, urgent: bool = False) -> AbstractAsyncContextManager[None]: ...


class WriteQueue:
    """This process's SQLite writers, served one at a time in arrival order, except that an
    urgent writer (an answer someone is waiting for in chat) goes ahead of the queue: behind
    a bulk load it would otherwise wait for every webhook queued before it."""

    def __init__(self) -> None:
        self._busy = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._others: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def turn(self, urgent: bool = False) -> AsyncIterator[None]:
        if self._busy:
            ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            (self._urgent if urgent else self._others).append(ready)
            try:
                await ready
            except asyncio.CancelledError:
                if ready.done() and not ready.cancelled():  # the turn came as it was cancelled
                    self._next()
                raise
        self._busy = True
        try:
            yield
        finally:
            self._next()

    def _next(self) -> None:
        """Hand the turn to the first waiter still waiting, urgent ones first."""
        for waiting in (self._urgent, self._others):
            while waiting:
                ready = waiting.popleft()
                if not ready.done():
                    ready.set_result(None)
                    return
        self._busy = False


PLAIN_READS = "caseload_plain_reads"
"""Key in a read session's `info` of its `PlainReads`, on the session's own connection."""


class PlainReads(Protocol):
    """The rows of a Core SELECT, without the ORM session's execution machinery."""

    async def rows(self, query: Select[Any], params: Mapping[str, Any]) -> Sequence[Any]: ...


class CoreReads:
    """On a Core connection (PostgreSQL, in-memory SQLite)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def rows(self, query: Select[Any], params: Mapping[str, Any]) -> Sequence[Any]:
        found: Sequence[Any] = (await self._conn.execute(query, params)).all()
        return found


CHECKPOINT_EVERY = 200
"""Write transactions between two WAL checkpoints of a `SqliteWriter` (SQLite's own automatic
checkpoint, about every 1,000 pages, would run on the event loop, fsync included)."""


class SqliteWriter:
    """A SQLite file's write transactions made in one synchronous call each, for a group
    commit: on the event loop, as the inline readers are (no thread hand-off, no contention
    for the GIL with a writer thread), when the write lock is free at once; in a worker
    thread, waiting up to the busy timeout, when another process holds it. Used in the
    write queue's turn only, so never by two transactions at once. The WAL is checkpointed
    in a worker thread, never on the loop."""

    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._inline: sqlite3.Connection | None = None
        self._waiting: sqlite3.Connection | None = None
        self._commits = 0
        self._checkpoint: asyncio.Future[None] | None = None

    async def run[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` inside `BEGIN IMMEDIATE` ... `COMMIT` (rolled back if it raises)."""
        if self._inline is None:
            self._inline = self._connect(busy_timeout_ms=0, autocheckpoint=False)
        with inline_sqlite.as_sqlalchemy("BEGIN IMMEDIATE"):
            try:
                self._inline.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                    raise
                return await self._in_thread(work)  # another process holds the lock
            result = self._finish(self._inline, work)
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and self._checkpoint is None:
            self._checkpoint = asyncio.ensure_future(asyncio.to_thread(self._checkpoint_wal))
            self._checkpoint.add_done_callback(self._checkpointed)
        return result

    async def _in_thread[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        done = asyncio.get_running_loop().run_in_executor(None, self._waited, work)
        try:
            return await asyncio.shield(done)
        finally:  # cancelled: the turn is kept until the thread is done with the connection
            if not done.done():
                await asyncio.wait({done})

    def _waited[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._waiting is None:
            self._waiting = self._connect(self._busy_timeout_ms, autocheckpoint=True)
        with inline_sqlite.as_sqlalchemy("BEGIN IMMEDIATE"):
            self._waiting.execute("BEGIN IMMEDIATE")
            return self._finish(self._waiting, work)

    @staticmethod
    def _finish[T](conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return result

    def _checkpoint_wal(self) -> None:
        """PASSIVE: copies what no reader still needs, waiting for no one; a connection of
        its own, as the others may be in use meanwhile."""
        conn = self._connect(self._busy_timeout_ms, autocheckpoint=True)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpoint = None
        if not done.cancelled() and done.exception() is not None:
            log.warning("sqlite: WAL checkpoint failed (retried later)", exc_info=done.exception())

    def _connect(self, busy_timeout_ms: int, autocheckpoint: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        for pragma in (
            f"busy_timeout = {int(busy_timeout_ms)}",
            "journal_mode = WAL",
            "synchronous = NORMAL",
            "foreign_keys = ON",
            *(() if autocheckpoint else ("wal_autocheckpoint = 0",)),
        ):
            conn.execute(f"PRAGMA {pragma}")
        return conn

    async def close(self) -> None:
        if self._checkpoint is not None:
            await asyncio.wait({self._checkpoint})
        for conn in (self._inline, self._waiting):
            if conn is not None:
                conn.close()
        self._inline = self._waiting = None


IDLE_READERS = 4
"""Inline readers kept open between read transactions (more are opened when needed)."""


@dataclass(frozen=True, slots=True)
class InlineReader:
    """A read connection kept out of the pool with its session: a read transaction is then
    a sqlite3 BEGIN and ROLLBACK, without a checkout, a `Connection` and a session each."""

    conn: AsyncConnection
    inline: inline_sqlite.InlineConnection
    session: AsyncSession


@dataclass(frozen=True, slots=True)
class Database:
    """An engine plus session factories: `read()` for queries, `write()` for changes."""

    engine: AsyncEngine
    readers: async_sessionmaker[AsyncSession]
    writers: async_sessionmaker[AsyncSession]
    write_queue: Turns | None = None
    """SQLite only: this process's writers wait their turn here instead of polling SQLite's
    file lock (which starves a lone request during a bulk load)."""
    read_engine: AsyncEngine | None = None
    """SQLite file only: the readers' own engine, over `storage.inline_sqlite`."""
    prepared: dict[Any, inline_sqlite.Prepared] = field(default_factory=dict)
    """The inline readers' compiled queries, by query."""
    sqlite_writer: SqliteWriter | None = None
    """SQLite file only: for `write_sqlite`."""
    idle_readers: list[InlineReader] = field(default_factory=list)
    """SQLite file only: readers kept between read transactions, each with its session."""

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session that never takes the write lock; rolled back at the end. It is bound
        to a connection whose transaction has begun, and carries that connection's
        `PlainReads` in its `info` (one snapshot for both)."""
        if self.read_engine is None:
            async with self.engine.connect() as conn:
                await conn.begin()
                async with self._reading(conn, CoreReads(conn)) as session:
                    yield session
            return
        # An inline reader closes without suspending, so no cancellation can interrupt it:
        # it needs no task of its own to close in, as `async with` would give it (a loop
        # turn per read, holding the connection meanwhile).
        reader = self.idle_readers.pop() if self.idle_readers else await self._inline_reader()
        sqlite = reader.inline.sqlite
        sqlite.execute("BEGIN")  # the session joins it, if it is used at all
        try:
            yield reader.session
        finally:
            kept = False
            try:
                await reader.session.close()  # rolls back what the session began
                if sqlite.in_transaction:
                    sqlite.execute("ROLLBACK")
                kept = len(self.idle_readers) < IDLE_READERS and not reader.conn.invalidated
            finally:
                if kept:
                    self.idle_readers.append(reader)
                else:
                    await reader.conn.close()

    async def _inline_reader(self) -> InlineReader:
        assert self.read_engine is not None
        conn = await self.read_engine.connect()
        raw = conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]
        inline = cast(inline_sqlite.InlineConnection, raw)
        session = self.readers(bind=conn)
        session.info[PLAIN_READS] = inline_sqlite.InlineReads(
            inline, self.prepared, self.read_engine.dialect
        )
        return InlineReader(conn, inline, session)

    @asynccontextmanager
    async def _reading(
        self, conn: AsyncConnection, reads: PlainReads
    ) -> AsyncIterator[AsyncSession]:
        session = self.readers(bind=conn)
        session.info[PLAIN_READS] = reads
        try:
            yield session
        finally:
            await session.close()

    @asynccontextmanager
    async def write(self, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """One transaction that commits once at the end, or rolls back on any error."""
        async with self._turn(urgent), self.writers() as session, session.begin():
            yield session

    async def write_sqlite[T](
        self, work: Callable[[sqlite3.Connection], T], urgent: bool = False
    ) -> T:
        """SQLite file only: `work` in a write transaction of the `SqliteWriter`, in this
        process's write queue like any other writer."""
        assert self.sqlite_writer is not None, "a SQLite file only"
        async with self._turn(urgent):
            return await self.sqlite_writer.run(work)

    @asynccontextmanager
    async def _turn(self, urgent: bool) -> AsyncIterator[None]:
        if self.write_queue is None:
            yield
        else:
            async with self.write_queue.turn(urgent):
                yield

    async def dispose(self) -> None:
        while self.idle_readers:
            await self.idle_readers.pop().conn.close()
        await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()
        if self.sqlite_writer is not None:
            await self.sqlite_writer.close()


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def connect(url: str, busy_timeout_ms: int = 5000, **engine_args: Any) -> Database:
    """Create the engine for `url` (creating the SQLite file's directory when needed)."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **engine_args)
    read_engine = None
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms)
        if path is not None:
            read_engine = _inline_readers(url, path, engine_args)
    writer_engine = engine.execution_options(**{_WRITE: True})
    return Database(
        engine=engine,
        readers=async_sessionmaker(read_engine or engine, expire_on_commit=False),
        writers=async_sessionmaker(writer_engine, expire_on_commit=False),
        write_queue=WriteQueue() if engine.dialect.name == "sqlite" else None,
        read_engine=read_engine,
        sqlite_writer=None if path is None else SqliteWriter(path, busy_timeout_ms),
    )


def _inline_readers(url: str, path: Path, engine_args: dict[str, Any]) -> AsyncEngine:
    """The readers' engine: SQLAlchemy's aiosqlite dialect over an inline sqlite3
    connection (the creator makes its own connections, so `connect_args` do not apply)."""
    args = {key: value for key, value in engine_args.items() if key != "connect_args"}
    engine = create_async_engine(url, async_creator=lambda: inline_sqlite.connect(path), **args)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Straight to sqlite3 (a statement execution around it costs more than the BEGIN),
        # unless `Database.read` has begun it already.
        sqlite = cast(inline_sqlite.InlineConnection, conn.connection.driver_connection).sqlite
        if not sqlite.in_transaction:
            sqlite.execute("BEGIN")

    return engine


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see `_on_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Conflicted(Busy):
    """Two transactions raced to insert the same key first (PostgreSQL; SQLite serialises
    writers): the loser's retry finds the winner's row."""


_MISSING_TABLE = ("no such table", "does not exist")


@contextmanager
def storage_errors() -> Iterator[None]:
    """Turn the database library's failures into the ports' `StorageError`s."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflicted() from exc
    except (OperationalError, ProgrammingError) as exc:
        message = str(exc.orig or exc)
        if any(words in message for words in _MISSING_TABLE):
            raise SchemaMissing(detail=type(exc.orig or exc).__name__) from exc
        if isinstance(exc, ProgrammingError):
            raise
        raise Busy() from exc
    except (InterfaceError, OSError) as exc:
        raise Unreachable(detail=type(exc).__name__) from exc
