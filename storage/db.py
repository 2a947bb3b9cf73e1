"""Engine and sessions for SQLite (embedded default) and PostgreSQL (scaled out).

The same code runs on both. Writers are serialised where it matters: within a process
they take turns in its write queue (urgent ones first); between processes, on SQLite every
write transaction starts with `BEGIN IMMEDIATE` (the database write lock, waited for up
to the busy timeout), and on PostgreSQL the repositories lock the rows they depend on. A
SQLite file's transactions run sqlite3 on the event loop's thread (see
`storage.inline_sqlite`). Transactions run the repositories' hot statements as
`Plain` ones (`storage.plain`), past the ORM session, on the session's own connection.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import asyncpg
import orjson
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

from handlers.errors import Busy, SchemaMissing, Unreachable
from storage import inline_sqlite
from storage.plain import PLAIN, AsyncpgPlain, CorePlain, Plain

log = logging.getLogger("caseload_bot.storage")

_WRITE = "caseload_write"
"""Execution option marking connections of write transactions (SQLite takes the lock)."""
WRITING = {_WRITE: True}
"""The execution options of a connection that writes (`engine.execution_options(**WRITING)`)."""


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


CHECKPOINT_EVERY = 200
"""Write transactions between two WAL checkpoints (SQLite's own automatic checkpoint, about
every 1,000 pages, would run on the event loop, fsyncs included)."""


class Checkpoints:
    """A SQLite file's WAL checkpoints, every `CHECKPOINT_EVERY` commits of this process's
    writers, each PASSIVE (it copies what no reader still needs, waiting for no one) on a
    connection of its own in a worker thread, never on the loop; one at a time."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._commits = 0
        self._running: asyncio.Future[None] | None = None

    def committed(self) -> None:
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and self._running is None:
            self._running = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))
            self._running.add_done_callback(self._done)

    def _checkpoint(self) -> None:
        conn = inline_sqlite.writer_connection(self._path)  # PASSIVE never waits
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def _done(self, done: asyncio.Future[None]) -> None:
        self._running = None
        if not done.cancelled() and done.exception() is not None:
            log.warning("sqlite: WAL checkpoint failed (retried later)", exc_info=done.exception())

    async def close(self) -> None:
        if self._running is not None:
            await asyncio.wait({self._running})


class SqliteWriter:
    """A SQLite file's write transactions made in one synchronous call each, for a group
    commit: on the event loop, as the inline readers are (no thread hand-off, no contention
    for the GIL with a writer thread). Used in the write queue's turn only, so never by two
    transactions at once."""

    def __init__(self, path: Path, writes: inline_sqlite.Writes) -> None:
        self._path = path
        self._writes = writes
        self._conn: sqlite3.Connection | None = None

    async def run[T](self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work` inside `BEGIN IMMEDIATE` ... `COMMIT` (rolled back if it raises)."""
        if self._conn is None:
            self._conn = inline_sqlite.writer_connection(self._path)
        conn, writes = self._conn, self._writes
        with inline_sqlite.as_sqlalchemy("BEGIN IMMEDIATE"):
            await inline_sqlite.begin_immediate(conn, writes.busy_timeout_ms, writes.turnstile)
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        writes.committed()
        return result

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


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
    """This process's writers wait their turn here: on SQLite instead of polling its file
    lock (which starves a lone request during a bulk load); on PostgreSQL so that two of
    its transactions of many events never deadlock on each other's rows. Either way an
    answer someone waits for goes first."""
    read_engine: AsyncEngine | None = None
    """SQLite file only: the readers' own engine, over `storage.inline_sqlite`."""
    prepared: dict[Any, Any] = field(default_factory=dict)
    """`Plain`'s compiled statements, by statement (one dialect per database)."""
    sqlite_writer: SqliteWriter | None = None
    """SQLite file only: for `write_sqlite`."""
    idle_readers: list[InlineReader] = field(default_factory=list)
    """SQLite file only: readers kept between read transactions, each with its session."""
    checkpoints: Checkpoints | None = None
    """SQLite file only: the WAL's checkpoints, off the loop."""

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session that never takes the write lock; rolled back at the end. It is bound
        to a connection whose transaction has begun, and carries that connection's
        `PlainReads` in its `info` (one snapshot for both)."""
        if self.read_engine is None:
            async with self.engine.connect() as conn:
                await conn.begin()
                async with self._reading(conn, await self._plain(conn)) as session:
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
        session.info[PLAIN] = inline_sqlite.InlinePlain(
            inline, self.prepared, self.read_engine.dialect
        )
        return InlineReader(conn, inline, session)

    @asynccontextmanager
    async def _reading(self, conn: AsyncConnection, plain: Plain) -> AsyncIterator[AsyncSession]:
        session = self.readers(bind=conn)
        session.info[PLAIN] = plain
        try:
            yield session
        finally:
            await session.close()

    @asynccontextmanager
    async def write(self, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """One transaction that commits once at the end, or rolls back on any error. The
        session carries its connection's `Plain` in its `info`."""
        async with self._turn(urgent), self.writers() as session, session.begin():
            session.info[PLAIN] = await self._plain(await session.connection())
            yield session

    async def _plain(self, conn: AsyncConnection) -> Plain:
        """The fastest way to run a statement on this connection."""
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        if isinstance(driver, inline_sqlite.InlineConnection):
            return inline_sqlite.InlinePlain(driver, self.prepared, conn.dialect)
        if isinstance(driver, asyncpg.Connection):
            await _asyncpg_begun(raw.dbapi_connection, conn)
            return AsyncpgPlain(driver, self.prepared, conn.dialect)
        return CorePlain(conn)

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
        if self.checkpoints is not None:
            await self.checkpoints.close()


async def _asyncpg_begun(adapted: Any, conn: AsyncConnection) -> None:
    """SQLAlchemy's asyncpg adapter begins its transaction at its first statement: begin it
    now, or statements sent to asyncpg itself would each commit on their own."""
    if getattr(adapted, "_transaction", None) is not None:
        return
    start = getattr(adapted, "_start_transaction", None)
    if start is not None:
        await start()
    else:  # another release of the adapter: a statement of its own begins it
        await conn.exec_driver_sql("SELECT 1")


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _json_text(value: object) -> str:
    """A JSON column's text. orjson writes a breach's 1,500 case references several times
    faster than `json`, and a worker that holds them has that breach rewritten at each
    allocation."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def connect(url: str, busy_timeout_ms: int = 5000, **engine_args: Any) -> Database:
    """Create the engine for `url` (creating the SQLite file's directory when needed)."""
    engine_args = {"json_serializer": _json_text, "json_deserializer": orjson.loads, **engine_args}
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    read_engine = checkpoints = writes = None
    if path is not None:
        checkpoints = Checkpoints(path)
        turnstile = inline_sqlite.Turnstile(path)
        writes = inline_sqlite.Writes(busy_timeout_ms, checkpoints.committed, turnstile)
        args = {key: value for key, value in engine_args.items() if key != "connect_args"}
        engine = create_async_engine(
            url, async_creator=lambda: inline_sqlite.connect_writer(path, writes), **args
        )
        _sqlite_begin(engine)
        read_engine = _inline_readers(url, path, args)
    else:
        engine = create_async_engine(url, **engine_args)
        if engine.dialect.name == "sqlite":
            _configure_sqlite(engine, busy_timeout_ms)
            _sqlite_begin(engine)
    writer_engine = engine.execution_options(**WRITING)
    return Database(
        engine=engine,
        readers=async_sessionmaker(read_engine or engine, expire_on_commit=False),
        writers=async_sessionmaker(writer_engine, expire_on_commit=False),
        write_queue=WriteQueue(),
        read_engine=read_engine,
        sqlite_writer=None if writes is None or path is None else SqliteWriter(path, writes),
        checkpoints=checkpoints,
    )


def _inline_readers(url: str, path: Path, args: dict[str, Any]) -> AsyncEngine:
    """The readers' engine: SQLAlchemy's aiosqlite dialect over an inline sqlite3
    connection (the creator makes its own connections, so `connect_args` do not apply)."""
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
    """In-memory SQLite, over aiosqlite."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see `_on_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        for pragma in inline_sqlite.DURABLE:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()


def _sqlite_begin(engine: AsyncEngine) -> None:
    """Write transactions take the write lock at once: a transaction that read first and
    then found the lock taken could only fail."""

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
