"""SQLite read transactions run on the event loop's own thread, without aiosqlite.

aiosqlite sends every call (cursor, execute, fetch, close) to its own thread and wakes the
loop when it is done: a few thread hand-offs per SELECT, which cost far more than a small
indexed SELECT does. In WAL mode a reader never waits for a writer, so `InlineConnection`
runs sqlite3 directly and each of its coroutines completes without suspending. It offers
what SQLAlchemy's aiosqlite adapter calls on an aiosqlite connection and cursor, and is only
ever used for reads: the connection is `query_only`, so a write raises instead of writing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

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
